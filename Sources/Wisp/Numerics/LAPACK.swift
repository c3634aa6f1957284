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
}
