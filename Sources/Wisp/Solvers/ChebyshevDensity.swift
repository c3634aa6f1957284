import Foundation

/// A damped Chebyshev expansion of a spectral density on [lower, upper] (the kernel polynomial
/// method's reconstruction; Weiße et al., Rev. Mod. Phys. 78, 275 (2006), §II.C–D):
///
///     ρ̃(x) = [a_0 + 2 Σ_(n=1)^(M−1) a_n T_n(x)] / (π √(1 − x²)),   a_n = g_n μ_n,
///     ρ(λ) = ρ̃((λ − c)/h) / h.
///
/// Evaluated on the K Chebyshev points x_k = cos(π(k + ½)/K) by one type-III DCT (FFTW),
/// then resampled onto a user's grid; masses of intervals come from the closed-form integral
/// (x = cos φ):
///
///     ∫_(−1)^x ρ̃ = (1/π) [a_0 (π − φ) − 2 Σ_(n≥1) a_n sin(nφ)/n].
public struct ChebyshevDensity: Sendable {
    public var bounds: SpectralBounds
    /// μ_0 … μ_(M−1).
    public var moments: [Double]
    /// g_0 … g_(M−1).
    public var damping: [Double]

    public init(moments: [Double], kernel: DampingKernel, bounds: SpectralBounds) {
        self.bounds = bounds
        self.moments = moments
        self.damping = kernel.factors(count: moments.count)
    }

    var coefficients: [Double] { zip(damping, moments).map { $0 * $1 } }

    /// ρ(λ) at the K Chebyshev points, ascending in λ (K ≥ M, so no moment is dropped).
    /// Cost: one DCT-III of length K, O(K log K).
    public func onChebyshevGrid(points K: Int) -> (lambda: [Double], density: [Double]) {
        var x = coefficients
        precondition(K >= x.count, "the Chebyshev grid needs at least as many points as moments")
        x += [Double](repeating: 0, count: K - x.count)
        let y = CosineTransform.typeIII(x)
        let c = bounds.center, h = bounds.halfWidth
        var lambda = [Double](repeating: 0, count: K), density = [Double](repeating: 0, count: K)
        for k in 0..<K {
            // x_k decreases with k: store ascending.
            let angle = Double.pi * (Double(k) + 0.5) / Double(K)
            let i = K - 1 - k
            lambda[i] = c + h * Foundation.cos(angle)
            density[i] = y[k] / (Double.pi * Foundation.sin(angle) * h)
        }
        return (lambda, density)
    }

    /// ∫ ρ over [lower, λ] (0 below the interval, μ_0 above it). Cost O(M).
    public func cumulative(_ lambda: Double) -> Double {
        let x = (lambda - bounds.center) / bounds.halfWidth
        if x <= -1 { return 0 }
        let phi = Foundation.acos(min(x, 1))
        let a = coefficients
        var s = a[0] * (Double.pi - phi)
        for n in 1..<a.count { s -= 2 * a[n] * Foundation.sin(Double(n) * phi) / Double(n) }
        return s / Double.pi
    }

    /// ∫ ρ over [from, to].
    public func mass(from: Double, to: Double) -> Double { cumulative(to) - cumulative(from) }

    /// The standard deviation in λ of the damped image of a δ-peak at λ₀: from the damped
    /// series of δ(x − x₀) (coefficients g_n T_n(x₀)), E[x] = g_1 x₀ and
    /// E[x²] = (g_0 + g_2 T_2(x₀))/2, exactly. The resolution of the expansion at λ₀.
    public func resolution(at lambda0: Double) -> Double {
        let x0 = min(max((lambda0 - bounds.center) / bounds.halfWidth, -1), 1)
        let g = damping
        let mean = g[1] * x0
        let second = (g[0] + g[2] * (2 * x0 * x0 - 1)) / 2
        return bounds.halfWidth * max(second - mean * mean, 0).squareRoot()
    }
}

extension SpectralDensity {
    /// The density of `scale` · ρ (a KPM expansion) on the grid of `settings`, plus
    /// `extraZeroMass` at λ = 0 known analytically (the null space 1 − TC/P of F when measured
    /// in sample space).
    ///
    /// - Log grid: the expansion cannot resolve λ below w = 3 × its resolution at λ = 0, so
    ///   the mass of [−w, w] is reported as zero mass (the damped image of F's null space and
    ///   of anything closer to 0 than the kernel width), the mass below −w as negative mass, and
    ///   the grid runs from w (snapped down to 0.1 decade) to the upper bound (snapped up).
    ///   ρ per unit log₁₀ λ is ρ(λ) λ ln 10.
    /// - Linear grid: from the lower to the upper bound, everything drawn; only the analytic
    ///   zero mass is kept apart.
    ///
    /// ρ between Chebyshev points is linearly interpolated from a DCT on K = max(4M, 4096)
    /// points; ``broadening`` records w (log) or the resolution at the centre (linear), in λ.
    public init(expansion e: ChebyshevDensity, scale s: Double = 1, extraZeroMass: Double = 0, settings: DensitySettings) throws {
        guard settings.points >= 2 else { throw WispError.invalidConfiguration("\(Setting.densityPoints) must be at least 2 (got \(settings.points))") }
        let K = max(4 * e.moments.count, 4096)
        let (lambda, rho) = e.onChebyshevGrid(points: K)
        let a = e.bounds.lower, b = e.bounds.upper
        let n = settings.points
        var zero = extraZeroMass, negative = 0.0
        var xs: [Double]
        let width: Double
        switch settings.scale {
        case .linear:
            width = e.resolution(at: e.bounds.center)
            xs = (0..<n).map { $0 == n - 1 ? b : a + (b - a) * Double($0) / Double(n - 1) }
        case .log:
            guard b > 0 else { throw WispError.numerical("a log grid needs positive eigenvalues, but the spectral upper bound is \(b)") }
            let w = max(3 * e.resolution(at: 0), 1e-12 * b)
            width = w
            if a < w {
                let below = e.cumulative(-w)
                negative = s * below
                zero += s * (e.cumulative(w) - below)
            }
            let lo = Foundation.floor(Foundation.log10(max(w, a)) * 10) / 10, hi = Foundation.ceil(Foundation.log10(b) * 10) / 10
            xs = (0..<n).map { Foundation.pow(10, lo + (hi - lo) * Double($0) / Double(n - 1)) }
        }
        // Merge walk: xs and lambda are both ascending.
        var values = [Double](repeating: 0, count: n)
        var j = 0
        for (i, t) in xs.enumerated() {
            guard t >= a, t <= b else { continue }
            while j + 1 < K && lambda[j + 1] < t { j += 1 }
            let v: Double
            if t <= lambda[0] { v = rho[0] } else if t >= lambda[K - 1] { v = rho[K - 1] } else {
                let f = (t - lambda[j]) / (lambda[j + 1] - lambda[j])
                v = rho[j] + f * (rho[j + 1] - rho[j])
            }
            values[i] = s * (settings.scale == .log ? v * t * Foundation.log(10) : v)
        }
        self.init(scale: settings.scale, grid: xs, density: values, broadening: width, zeroMass: max(zero, 0), negativeMass: negative)
    }

    /// A density given point by point.
    public init(scale: GridScale, grid: [Double], density: [Double], broadening: Double, zeroMass: Double, negativeMass: Double) {
        self.scale = scale
        self.grid = grid
        self.density = density
        self.broadening = broadening
        self.zeroMass = zeroMass
        self.negativeMass = negativeMass
    }
}
