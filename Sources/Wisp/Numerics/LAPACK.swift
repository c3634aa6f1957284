import CLAPACK

/// The LAPACK routines the solvers use. Every call checks its `info` code; C types stay here.
public enum LAPACK {
    /// Eigen-decomposition of the symmetric tridiagonal matrix with diagonal `diagonal` (n) and
    /// off-diagonal `offDiagonal` (n−1), by `dstev` (implicit QL/QR). Eigenvalues ascending;
    /// `vectors` is n×n row-major with eigenvector j in column j. Cost O(n³) with vectors.
    public static func tridiagonalEigen(diagonal: [Double], offDiagonal: [Double])
        throws -> (values: [Double], vectors: [Double])
    {
        let n = diagonal.count
        precondition(offDiagonal.count >= max(n - 1, 0))
        if n == 0 { return ([], []) }
        var d = diagonal
        var e = Array(offDiagonal.prefix(n - 1)) + [0]
        var z = [Double](repeating: 0, count: n * n)
        let info = LAPACKE_dstev(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "V")), Int32(n), &d, &e, &z, Int32(n))
        guard info == 0 else { throw WispError.numerical("LAPACK dstev failed (info \(info)) on a tridiagonal matrix of size \(n)") }
        return (d, z)
    }

    /// The eigenvalues (ascending) of the symmetric tridiagonal matrix with diagonal `diagonal`
    /// and off-diagonal `offDiagonal`, by `dsterf` (Pal–Walker–Kahan QR, no vectors):
    /// O(n²), where the vectors would cost O(n³).
    public static func tridiagonalEigenvalues(diagonal: [Double], offDiagonal: [Double]) throws -> [Double] {
        let n = diagonal.count
        precondition(offDiagonal.count >= max(n - 1, 0))
        if n == 0 { return [] }
        var d = diagonal
        var e = Array(offDiagonal.prefix(n - 1)) + [0]
        let info = LAPACKE_dsterf(Int32(n), &d, &e)
        guard info == 0 else { throw WispError.numerical("LAPACK dsterf failed (info \(info)) on a tridiagonal matrix of size \(n)") }
        return d.sorted()
    }

    /// All eigenvalues (ascending) and, if `vectors`, eigenvectors (columns of the returned
    /// row-major n×n matrix) of a dense symmetric matrix, by divide and conquer (`dsyevd`).
    public static func symmetricEigen(_ matrix: [Double], n: Int, vectors: Bool = false)
        throws -> (values: [Double], vectors: [Double])
    {
        precondition(matrix.count == n * n)
        if n == 0 { return ([], []) }
        var a = matrix
        var w = [Double](repeating: 0, count: n)
        let info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: vectors ? "V" : "N")),
                                  Int8(UInt8(ascii: "U")), Int32(n), &a, Int32(n), &w)
        guard info == 0 else { throw WispError.numerical("LAPACK dsyevd failed (info \(info)) on a symmetric matrix of size \(n)") }
        return (w, vectors ? a : [])
    }

    /// Selected eigenpairs of a dense symmetric matrix (row-major n × n, upper triangle read;
    /// `matrix` is overwritten). `.all`: every eigenvalue by divide and conquer (`dsyevd`,
    /// ≈ 4/3 n³ flops for the tridiagonal reduction, + ≈ 4 n³ with vectors); `.indices(r)`: the
    /// eigenvalues with ascending indices r by `dsyevr` (MRRR: the reduction plus O(n·|r|) for
    /// the selected pairs), so the top k of n cost little more than the reduction.
    /// Eigenvalues ascending; vectors n × |r| row-major, column j belonging to value j.
    public static func symmetricEigen(_ matrix: inout [Double], n: Int, selection: EigenSelection, vectors: Bool)
        throws -> (values: [Double], vectors: [Double])
    {
        precondition(matrix.count == n * n)
        if n == 0 { return ([], []) }
        switch selection {
        case .all:
            var w = [Double](repeating: 0, count: n)
            // Without vectors the row-major upper triangle is passed as the column-major lower one
            // (the same bytes): LAPACKE then skips its transposed copy of the matrix.
            let info = vectors
                ? LAPACKE_dsyevd(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "V")), Int8(UInt8(ascii: "U")), Int32(n), &matrix, Int32(n), &w)
                : LAPACKE_dsyevd(LAPACK_COL_MAJOR, Int8(UInt8(ascii: "N")), Int8(UInt8(ascii: "L")), Int32(n), &matrix, Int32(n), &w)
            guard info == 0 else { throw WispError.numerical("LAPACK dsyevd failed (info \(info)) on a symmetric matrix of size \(n)") }
            if !vectors { return (w, []) }
            return (w, matrix)
        case .indices(let range):
            precondition(range.lowerBound >= 0 && range.upperBound <= n)
            let m = range.count
            if m == 0 { return ([], []) }
            var w = [Double](repeating: 0, count: n)
            var z = [Double](repeating: 0, count: vectors ? n * m : 1)
            var found: Int32 = 0
            var support = [Int32](repeating: 0, count: 2 * max(m, 1))
            let info = LAPACKE_dsyevr(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: vectors ? "V" : "N")), Int8(UInt8(ascii: "I")),
                                      Int8(UInt8(ascii: "U")), Int32(n), &matrix, Int32(n), 0, 0,
                                      Int32(range.lowerBound + 1), Int32(range.upperBound), 0, &found, &w, &z,
                                      Int32(vectors ? m : 1), &support)
            guard info == 0 else { throw WispError.numerical("LAPACK dsyevr failed (info \(info)) on a symmetric matrix of size \(n)") }
            guard Int(found) == m else {
                throw WispError.numerical("LAPACK dsyevr returned \(found) of the \(m) eigenvalues asked for (matrix of size \(n))")
            }
            return (Array(w.prefix(m)), vectors ? z : [])
        }
    }
}
