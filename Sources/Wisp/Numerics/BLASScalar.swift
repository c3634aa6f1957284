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
    /// The first i < count with x[i] NaN or ±∞, or nil (a type-specific loop: no generic
    /// dispatch per element).
    static func firstNonFinite(_ x: UnsafePointer<Self>, count: Int) -> Int?
    /// x[i] *= d[i] for i < count.
    static func multiply(_ x: UnsafeMutablePointer<Self>, by d: UnsafePointer<Self>, count: Int)
    /// x[i] = x[i]·d[i] + a[i]·b[i] for i < count.
    static func multiplyAdd(_ x: UnsafeMutablePointer<Self>, by d: UnsafePointer<Self>, adding a: UnsafePointer<Self>,
                            times b: UnsafePointer<Self>, count: Int)
    /// For x (rows × columns, row-major): sums[j] = Σ x and, if `z` is given, zSums[j] = Σ z·x,
    /// taken down each column (`perColumn`, j < columns) or along each row (j < rows), in Float64.
    static func sums(_ x: UnsafePointer<Self>, weights z: UnsafePointer<Self>?, rows: Int, columns: Int, perColumn: Bool,
                     into sums: UnsafeMutablePointer<Double>, zSums: UnsafeMutablePointer<Double>?)
    /// x ← (x − a_j − z·b_j) · s_j with j the column (`perColumn`) or the row index; `z`/`b`
    /// and `s` may be absent (no projection, unit scale).
    static func standardize(_ x: UnsafeMutablePointer<Self>, z: UnsafePointer<Self>?, shift a: UnsafePointer<Double>,
                            projection b: UnsafePointer<Double>?, scale s: UnsafePointer<Double>?,
                            rows: Int, columns: Int, perColumn: Bool)
}

/// The bodies of ``BLASScalar/sums(_:weights:rows:columns:perColumn:into:zSums:)`` and
/// ``BLASScalar/standardize(_:z:shift:projection:scale:rows:columns:perColumn:)``, inlined into
/// each concrete type's implementation so they compile to plain loops.
@inline(__always)
func sumsKernel<S: BLASScalar>(_ x: UnsafePointer<S>, _ z: UnsafePointer<S>?, _ rows: Int, _ columns: Int, _ perColumn: Bool,
                               _ sums: UnsafeMutablePointer<Double>, _ zSums: UnsafeMutablePointer<Double>?) {
    let n = perColumn ? columns : rows
    sums.update(repeating: 0, count: n)
    zSums?.update(repeating: 0, count: n)
    for r in 0..<rows {
        let row = x + r * columns
        if perColumn {
            for c in 0..<columns { sums[c] += Double(row[c]) }
            if let z, let zSums { let zr = z + r * columns; for c in 0..<columns { zSums[c] += Double(zr[c] * row[c]) } }
        } else {
            var s = 0.0, zs = 0.0
            for c in 0..<columns { s += Double(row[c]) }
            if let z { let zr = z + r * columns; for c in 0..<columns { zs += Double(zr[c] * row[c]) } }
            sums[r] = s
            zSums?[r] = zs
        }
    }
}

@inline(__always)
func standardizeKernel<S: BLASScalar>(_ x: UnsafeMutablePointer<S>, _ z: UnsafePointer<S>?, _ a: UnsafePointer<Double>,
                                      _ b: UnsafePointer<Double>?, _ s: UnsafePointer<Double>?,
                                      _ rows: Int, _ columns: Int, _ perColumn: Bool) {
    for r in 0..<rows {
        let row = x + r * columns
        let zr = z.map { $0 + r * columns }
        for c in 0..<columns {
            let j = perColumn ? c : r
            var v = Double(row[c]) - a[j]
            if let zr, let b { v -= Double(zr[c]) * b[j] }
            if let s { v *= s[j] }
            row[c] = S(v)
        }
    }
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
    public static func firstNonFinite(_ x: UnsafePointer<Double>, count: Int) -> Int? {
        (0..<count).first { !x[$0].isFinite }
    }
    public static func multiply(_ x: UnsafeMutablePointer<Double>, by d: UnsafePointer<Double>, count: Int) {
        for i in 0..<count { x[i] *= d[i] }
    }
    public static func multiplyAdd(_ x: UnsafeMutablePointer<Double>, by d: UnsafePointer<Double>, adding a: UnsafePointer<Double>,
                                   times b: UnsafePointer<Double>, count: Int) {
        for i in 0..<count { x[i] = x[i] * d[i] + a[i] * b[i] }
    }
    public static func sums(_ x: UnsafePointer<Double>, weights z: UnsafePointer<Double>?, rows: Int, columns: Int, perColumn: Bool,
                            into sums: UnsafeMutablePointer<Double>, zSums: UnsafeMutablePointer<Double>?) {
        sumsKernel(x, z, rows, columns, perColumn, sums, zSums)
    }
    public static func standardize(_ x: UnsafeMutablePointer<Double>, z: UnsafePointer<Double>?, shift a: UnsafePointer<Double>,
                                   projection b: UnsafePointer<Double>?, scale s: UnsafePointer<Double>?,
                                   rows: Int, columns: Int, perColumn: Bool) {
        standardizeKernel(x, z, a, b, s, rows, columns, perColumn)
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
    public static func firstNonFinite(_ x: UnsafePointer<Float>, count: Int) -> Int? {
        (0..<count).first { !x[$0].isFinite }
    }
    public static func multiply(_ x: UnsafeMutablePointer<Float>, by d: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { x[i] *= d[i] }
    }
    public static func multiplyAdd(_ x: UnsafeMutablePointer<Float>, by d: UnsafePointer<Float>, adding a: UnsafePointer<Float>,
                                   times b: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { x[i] = x[i] * d[i] + a[i] * b[i] }
    }
    public static func sums(_ x: UnsafePointer<Float>, weights z: UnsafePointer<Float>?, rows: Int, columns: Int, perColumn: Bool,
                            into sums: UnsafeMutablePointer<Double>, zSums: UnsafeMutablePointer<Double>?) {
        sumsKernel(x, z, rows, columns, perColumn, sums, zSums)
    }
    public static func standardize(_ x: UnsafeMutablePointer<Float>, z: UnsafePointer<Float>?, shift a: UnsafePointer<Double>,
                                   projection b: UnsafePointer<Double>?, scale s: UnsafePointer<Double>?,
                                   rows: Int, columns: Int, perColumn: Bool) {
        standardizeKernel(x, z, a, b, s, rows, columns, perColumn)
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

extension BLASScalar {
    /// `x` in Float64 for the Float64 Gram and eigen paths: the array itself when Self is Double
    /// (no copy), else widened exactly (``convert(_:to:count:)``). Cost: one pass for Float.
    static func float64(_ x: [Self]) -> [Double] {
        if Self.self == Double.self { return unsafeBitCast(x, to: [Double].self) }
        return x.withUnsafeBufferPointer { float64($0.baseAddress, count: x.count) }
    }

    /// `count` values from `x` (nil: none) widened to a new Float64 array.
    static func float64(_ x: UnsafePointer<Self>?, count: Int) -> [Double] {
        var y = [Double](repeating: 0, count: count)
        if let x, count > 0 { y.withUnsafeMutableBufferPointer { convert(x, to: $0.baseAddress!, count: count) } }
        return y
    }
}
