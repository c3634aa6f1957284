extension LinearOperator {
    /// This process's rows of the matrix A of a distributed operator, formed column by column:
    /// α A e_j for every unit vector e_j (j = 0 … N−1), each process keeping its block of every
    /// column (A symmetric, so its block of column j is row j's entries in its rows), as
    /// local × N row-major; with `diagonalOnly`, only α A_jj for its rows (local values). For an
    /// operator with no cheaper form (batch statistics couple the samples of K = (1/T) J Jᵀ).
    /// Collective: every process applies the operator N times (cost N applications).
    public func formedRows(scale alpha: Double = 1, diagonalOnly: Bool = false) -> [Double] {
        let N = dimension, local = space.local, m = local.count
        var result = [Double](repeating: 0, count: diagonalOnly ? m : m * N)
        var e = [Double](repeating: 0, count: max(m, 1)), y = e
        for j in 0..<N {
            if local.contains(j) { e[j - local.lowerBound] = 1 }
            e.withUnsafeBufferPointer { x in y.withUnsafeMutableBufferPointer { apply(x.baseAddress!, into: $0.baseAddress!) } }
            if local.contains(j) { e[j - local.lowerBound] = 0 }
            if diagonalOnly {
                if local.contains(j) { result[j - local.lowerBound] = alpha * y[j - local.lowerBound] }
            } else {
                for r in 0..<m { result[r * N + j] = alpha * y[r] }
            }
        }
        return result
    }
}
