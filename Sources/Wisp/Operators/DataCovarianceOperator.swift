/// The d × d second-moment matrix of the inputs, (1/T) XᵀX, or their covariance
/// (1/T)(X − 1μᵀ)ᵀ(X − 1μᵀ) with μ = (1/T) Xᵀ1, applied without forming either.
///
/// X (T × d) is sharded by samples: each process holds its rows X_b, and
///     A v = (1/T) Σ_b X_bᵀ (X_b v − 1 μᵀv) = (1/T) [Σ_b X_bᵀ u_b − μ Σ_b 1ᵀu_b],  u_b = X_b v − 1 μᵀv
/// (μ = 0 for the second-moment matrix): two local GEMVs (2·2·T_b·d flops) and one allreduce of
/// d + 1 doubles per product. Vectors are replicated (every process holds all d entries).
/// The nonzero eigenvalues of (1/T) XᵀX are those of the T × T Gram matrix (1/T) X Xᵀ.
public final class DataCovarianceOperator: LinearOperator {
    public let space: VectorSpace
    private let x: [Double]
    private let rows: Int
    private let columns: Int
    private let totalSamples: Int
    /// μ, or nil for the uncentered second-moment matrix.
    private let mean: [Double]?
    private let communicator: any Communicator
    private var u: [Double]
    private var reduced: [Double]

    /// `dataset`'s local rows; `mean` (the global feature means) centers the matrix.
    public init(dataset: Dataset, mean: [Double]?, communicator: any Communicator) {
        precondition(mean == nil || mean!.count == dataset.dimension)
        x = dataset.values
        rows = dataset.samples.count
        columns = dataset.dimension
        totalSamples = dataset.totalSamples
        self.mean = mean
        self.communicator = communicator
        space = .replicated(dataset.dimension)
        u = [Double](repeating: 0, count: max(rows, 1))
        reduced = [Double](repeating: 0, count: dataset.dimension + 1)
    }

    public func apply(_ v: UnsafePointer<Double>, into y: UnsafeMutablePointer<Double>) {
        let d = columns
        for j in 0...d { reduced[j] = 0 }
        if rows > 0 {
            x.withUnsafeBufferPointer { xp in
                u.withUnsafeMutableBufferPointer { up in
                    Double.gemv(trans: false, m: rows, n: d, alpha: 1, a: xp.baseAddress!, lda: d, x: v, beta: 0, y: up.baseAddress!)
                    if let mean {
                        let shift = mean.withUnsafeBufferPointer { Double.dot(n: d, x: $0.baseAddress!, y: v) }
                        var sum = 0.0
                        for t in 0..<rows { up[t] -= shift; sum += up[t] }
                        reduced[d] = sum
                    }
                    reduced.withUnsafeMutableBufferPointer { rp in
                        Double.gemv(trans: true, m: rows, n: d, alpha: 1, a: xp.baseAddress!, lda: d, x: up.baseAddress!,
                                    beta: 0, y: rp.baseAddress!)
                    }
                }
            }
        }
        reduced.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
        let scale = 1 / Double(totalSamples)
        if let mean {
            for j in 0..<d { y[j] = scale * (reduced[j] - mean[j] * reduced[d]) }
        } else {
            for j in 0..<d { y[j] = scale * reduced[j] }
        }
    }
}
