import Wisp

/// A dense symmetric matrix as a ``LinearOperator`` (tests only), applied with BLAS GEMV.
public final class MatrixOperator: LinearOperator {
    public let matrix: [Double]
    public let space: VectorSpace
    public private(set) var applications = 0

    public init(_ matrix: [Double], dimension n: Int) {
        precondition(matrix.count == n * n)
        self.matrix = matrix
        self.space = .replicated(n)
    }

    /// diag(values).
    public convenience init(diagonal values: [Double]) {
        let n = values.count
        var m = [Double](repeating: 0, count: n * n)
        for i in 0..<n { m[i * n + i] = values[i] }
        self.init(m, dimension: n)
    }

    public func apply(_ x: UnsafePointer<Double>, into y: UnsafeMutablePointer<Double>) {
        applications += 1
        let n = space.dimension
        Double.gemv(trans: false, m: n, n: n, alpha: 1, a: matrix, lda: n, x: x, beta: 0, y: y)
    }
}

extension DenseReference {
    /// (1/T) Aᵀ A or (1/T) A Aᵀ for A: rows × cols, with BLAS (a reference independent of the
    /// engine's passes).
    public static func gramBLAS(_ a: [Double], rows: Int, cols: Int, transposeFirst: Bool, scale: Double) -> [Double] {
        let n = transposeFirst ? cols : rows
        var c = [Double](repeating: 0, count: n * n)
        Double.gemm(transA: transposeFirst, transB: !transposeFirst, m: n, n: n, k: transposeFirst ? rows : cols,
                    alpha: scale, a: a, lda: cols, b: a, ldb: cols, beta: 0, c: &c, ldc: n)
        return c
    }
}
