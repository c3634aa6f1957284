/// A symmetric operator with some of its eigenvectors projected out:
///
///     A' = Q A Q,   Q = I − Y Yᵀ,
///
/// Y the k orthonormal vectors given (eigenvectors of A from Lanczos). A' has A's eigenvalues
/// on the complement of span Y and k zeros on span Y, so
///
///     tr g(A) = tr g(A') − k g(0) + Σ_i g(θ_i).
///
/// Deflating the few outliers of a Fisher spectrum (λ_max ~ M while the bulk is O(1)) shrinks
/// the interval a Chebyshev expansion has to cover by the ratio λ_max/λ_(k+1), and the
/// resolution of the kernel polynomial method improves by the same factor. Projecting on both
/// sides (instead of subtracting Y Θ Yᵀ) keeps A' exactly symmetric and tolerates Ritz vectors
/// converged only to a tolerance: the error is O(residual²) in the eigenvalues.
///
/// Cost per application: one application of A plus 4·k·n flops and two reductions of k
/// partial inner products (distributed vectors).
public final class DeflatedOperator: LinearOperator {
    public let base: any LinearOperator
    public var space: VectorSpace { base.space }
    public var unitRoundoff: Double { base.unitRoundoff }
    /// The local parts of Y, one vector per row (k × n).
    private let vectors: [Double]
    public let count: Int
    private var projected: [Double]
    private var coefficients: [Double]

    public init(_ base: any LinearOperator, vectors: [[Double]]) {
        self.base = base
        count = vectors.count
        self.vectors = vectors.flatMap { $0 }
        projected = [Double](repeating: 0, count: base.space.localDimension)
        coefficients = [Double](repeating: 0, count: max(vectors.count, 1))
    }

    /// x ← Q x = x − Y (Yᵀ x).
    private func project(_ x: UnsafeMutablePointer<Double>) {
        let n = space.localDimension
        guard count > 0 else { return }
        guard n > 0 else {
            // No local entries: contribute zero partials to the collective reduction.
            coefficients.withUnsafeMutableBufferPointer { c in
                for i in 0..<count { c[i] = 0 }
                space.reduce(UnsafeMutableBufferPointer(rebasing: c[0..<count]))
            }
            return
        }
        vectors.withUnsafeBufferPointer { y in
            coefficients.withUnsafeMutableBufferPointer { c in
                // c = Y x (local partials, then one reduction), x −= Yᵀ c.
                Double.gemv(trans: false, m: count, n: n, alpha: 1, a: y.baseAddress!, lda: n, x: UnsafePointer(x), beta: 0, y: c.baseAddress!)
                space.reduce(UnsafeMutableBufferPointer(rebasing: c[0..<count]))
                Double.gemv(trans: true, m: count, n: n, alpha: -1, a: y.baseAddress!, lda: n, x: UnsafePointer(c.baseAddress!), beta: 1, y: x)
            }
        }
    }

    public func apply(_ x: UnsafePointer<Double>, into y: UnsafeMutablePointer<Double>) {
        let n = space.localDimension
        projected.withUnsafeMutableBufferPointer { q in
            guard let qp = q.baseAddress else { base.apply(x, into: y); return }
            qp.update(from: x, count: n)
            project(qp)
            base.apply(UnsafePointer(qp), into: y)
        }
        project(y)
    }
}
