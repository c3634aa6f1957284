import CLAPACK
import RealModule

/// A floating-point type the engine can run its passes in: `Double` (the default) or `Float`
/// (`--precision float32`). Each requirement is one row-major CBLAS call (`d*` or `s*`).
///
/// `Real` (swift-numerics) supplies the elementary functions the activations need (`exp`,
/// `tanh`, `erf`, `log(onePlus:)`) generically, so one activation kernel serves both types.
public protocol BLASScalar: Real, BinaryFloatingPoint, Sendable {
    /// C ← α op(A) op(B) + β C with A: m×k, B: k×n, C: m×n, all row-major. Cost 2mnk flops.
    static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Self, a: UnsafePointer<Self>, lda: Int,
        b: UnsafePointer<Self>, ldb: Int,
        beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
    /// y ← α op(A) x + β y with A: m×n row-major.
    static func gemv(
        trans: Bool, m: Int, n: Int, alpha: Self, a: UnsafePointer<Self>, lda: Int,
        x: UnsafePointer<Self>, beta: Self, y: UnsafeMutablePointer<Self>)
    /// A ← A + α x yᵀ with A: m×n row-major.
    static func ger(
        m: Int, n: Int, alpha: Self, x: UnsafePointer<Self>, y: UnsafePointer<Self>,
        a: UnsafeMutablePointer<Self>, lda: Int)
    /// y ← α x + y.
    static func axpy(n: Int, alpha: Self, x: UnsafePointer<Self>, y: UnsafeMutablePointer<Self>)
    /// Σ xᵢ yᵢ.
    static func dot(n: Int, x: UnsafePointer<Self>, y: UnsafePointer<Self>) -> Self
    /// x ← α x.
    static func scal(n: Int, alpha: Self, x: UnsafeMutablePointer<Self>)
    /// The name used in output records: "float64" or "float32".
    static var precisionName: String { get }

    // Elementwise kernels. They are requirements (not generic helpers) so that each runs as a
    // loop compiled for the concrete type: called from generic code, a plain `x[i] *= d[i]`
    // would make a witness-table call per element (measured at ~4–11 ns/element, against
    // ~0.3 ns vectorized; bench/README.md finding 3).

    /// y[i] = Self(x[i]) for i < count.
    static func convert(_ x: UnsafePointer<Double>, to y: UnsafeMutablePointer<Self>, count: Int)
    /// y[i] = Double(x[i]) for i < count.
    static func convert(_ x: UnsafePointer<Self>, to y: UnsafeMutablePointer<Double>, count: Int)
    /// x[i] *= d[i] for i < count.
    static func multiply(_ x: UnsafeMutablePointer<Self>, by d: UnsafePointer<Self>, count: Int)
}

@inline(__always) private func op(_ t: Bool) -> CBLAS_TRANSPOSE { t ? CblasTrans : CblasNoTrans }
@inline(__always) private func i32(_ n: Int) -> Int32 {
    precondition(n <= Int(Int32.max), "dimension \(n) exceeds the 32-bit BLAS interface")
    return Int32(n)
}

extension Double: BLASScalar {
    public static var precisionName: String { "float64" }
    public static func convert(_ x: UnsafePointer<Double>, to y: UnsafeMutablePointer<Double>, count: Int) {
        if count > 0 && x != UnsafePointer(y) { y.update(from: x, count: count) }
    }
    public static func multiply(_ x: UnsafeMutablePointer<Double>, by d: UnsafePointer<Double>, count: Int) {
        for i in 0..<count { x[i] *= d[i] }
    }
    @inline(__always)
    public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double,
        a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
        beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        cblas_dgemm(CblasRowMajor, op(transA), op(transB), i32(m), i32(n), i32(k), alpha,
                    a, i32(lda), b, i32(ldb), beta, c, i32(ldc))
    }
    @inline(__always)
    public static func gemv(
        trans: Bool, m: Int, n: Int, alpha: Double, a: UnsafePointer<Double>, lda: Int,
        x: UnsafePointer<Double>, beta: Double, y: UnsafeMutablePointer<Double>
    ) {
        if m == 0 || n == 0 {
            let len = trans ? n : m
            if len > 0 { scal(n: len, alpha: beta, x: y) }
            return
        }
        cblas_dgemv(CblasRowMajor, op(trans), i32(m), i32(n), alpha, a, i32(lda), x, 1, beta, y, 1)
    }
    @inline(__always)
    public static func ger(
        m: Int, n: Int, alpha: Double, x: UnsafePointer<Double>, y: UnsafePointer<Double>,
        a: UnsafeMutablePointer<Double>, lda: Int
    ) {
        if m == 0 || n == 0 { return }
        cblas_dger(CblasRowMajor, i32(m), i32(n), alpha, x, 1, y, 1, a, i32(lda))
    }
    @inline(__always)
    public static func axpy(n: Int, alpha: Double, x: UnsafePointer<Double>, y: UnsafeMutablePointer<Double>) {
        if n > 0 { cblas_daxpy(i32(n), alpha, x, 1, y, 1) }
    }
    @inline(__always)
    public static func dot(n: Int, x: UnsafePointer<Double>, y: UnsafePointer<Double>) -> Double {
        n > 0 ? cblas_ddot(i32(n), x, 1, y, 1) : 0
    }
    @inline(__always)
    public static func scal(n: Int, alpha: Double, x: UnsafeMutablePointer<Double>) {
        if n > 0 { cblas_dscal(i32(n), alpha, x, 1) }
    }
}

extension Float: BLASScalar {
    public static var precisionName: String { "float32" }
    public static func convert(_ x: UnsafePointer<Double>, to y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] = Float(x[i]) }
    }
    public static func convert(_ x: UnsafePointer<Float>, to y: UnsafeMutablePointer<Double>, count: Int) {
        for i in 0..<count { y[i] = Double(x[i]) }
    }
    public static func multiply(_ x: UnsafeMutablePointer<Float>, by d: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { x[i] *= d[i] }
    }
    @inline(__always)
    public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        cblas_sgemm(CblasRowMajor, op(transA), op(transB), i32(m), i32(n), i32(k), alpha,
                    a, i32(lda), b, i32(ldb), beta, c, i32(ldc))
    }
    @inline(__always)
    public static func gemv(
        trans: Bool, m: Int, n: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
        x: UnsafePointer<Float>, beta: Float, y: UnsafeMutablePointer<Float>
    ) {
        if m == 0 || n == 0 {
            let len = trans ? n : m
            if len > 0 { scal(n: len, alpha: beta, x: y) }
            return
        }
        cblas_sgemv(CblasRowMajor, op(trans), i32(m), i32(n), alpha, a, i32(lda), x, 1, beta, y, 1)
    }
    @inline(__always)
    public static func ger(
        m: Int, n: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafePointer<Float>,
        a: UnsafeMutablePointer<Float>, lda: Int
    ) {
        if m == 0 || n == 0 { return }
        cblas_sger(CblasRowMajor, i32(m), i32(n), alpha, x, 1, y, 1, a, i32(lda))
    }
    @inline(__always)
    public static func axpy(n: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        if n > 0 { cblas_saxpy(i32(n), alpha, x, 1, y, 1) }
    }
    @inline(__always)
    public static func dot(n: Int, x: UnsafePointer<Float>, y: UnsafePointer<Float>) -> Float {
        n > 0 ? cblas_sdot(i32(n), x, 1, y, 1) : 0
    }
    @inline(__always)
    public static func scal(n: Int, alpha: Float, x: UnsafeMutablePointer<Float>) {
        if n > 0 { cblas_sscal(i32(n), alpha, x, 1) }
    }
}
