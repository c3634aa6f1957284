import Foundation

/// tanh for the activation kernels: within 2 ulp of the C library's `tanh` for every Double
/// (checked on 4·10⁶ points in the tests), branch-free, about 6× faster (no call per element).
///
/// - |x| < 0.625: tanh x = x + x·s·P(s)/Q(s), s = x², the rational minimax approximation of
///   Cephes (`tanh.c`, S. L. Moshier), relative error 2.5e-16.
/// - 0.625 ≤ |x| < 22: tanh |x| = 1 − 2/(e^(2|x|) + 1) with e^y = 2ⁿ e^r, n = round(y/ln 2),
///   r = y − n ln 2 (Cody–Waite, two-part ln 2), |r| ≤ ln 2 / 2, and e^r by its Taylor
///   polynomial of degree 14 (truncation < 4e-18). Here tanh ≥ 0.55, so the absolute rounding
///   of 1 − 2/(e+1) stays below 2 ulp relative.
/// - |x| ≥ 22: ±1 (1 − tanh 22 = 1.6e-19 is below half an ulp of 1); NaN stays NaN.
/// Cost: about 30 flops and one division per element.
public enum HyperbolicTangent {
    @inline(__always)
    public static func value(_ x: Double) -> Double {
        let s = x * x
        let p = (-9.64399179425052238628E-1 * s - 9.92877231001918586564E1) * s - 1.61468768441708447952E3
        let q = ((s + 1.12811678491632931402E2) * s + 2.23548839060100448583E3) * s + 4.84406305325125486048E3
        let small = x + x * s * (p / q)
        // 2|x| clamped to 44; n = round(y / ln 2) through the 1.5·2⁵² shift, whose low bits are n.
        let y = 2 * Swift.min(abs(x), 22)
        let shifted = y * 1.4426950408889634 + 6755399441055744.0
        let n = shifted - 6755399441055744.0
        let r = (y - n * 6.93147180369123816490e-01) - n * 1.90821492927058770002e-10
        var e = 1.0 / 87178291200
        e = e * r + 1.0 / 6227020800
        e = e * r + 1.0 / 479001600
        e = e * r + 1.0 / 39916800
        e = e * r + 1.0 / 3628800
        e = e * r + 1.0 / 362880
        e = e * r + 1.0 / 40320
        e = e * r + 1.0 / 5040
        e = e * r + 1.0 / 720
        e = e * r + 1.0 / 120
        e = e * r + 1.0 / 24
        e = e * r + 1.0 / 6
        e = e * r + 0.5
        e = e * r + 1
        e = e * r + 1
        e *= Double(bitPattern: (shifted.bitPattern &+ 1023) << 52)   // × 2ⁿ, 0 ≤ n ≤ 64
        let t = 1 - 2 / (e + 1)
        let large = x < 0 ? -t : t
        if x.isNaN { return x }
        return abs(x) < 0.625 ? (x == 0 ? x : small) : large
    }
}
