import CLAPACK

/// C ← α AᵀA + β C on the upper triangle of the n × n row-major C, for A: k × n row-major
/// (BLAS `dsyrk`): the Gram matrix of A's columns at half a GEMM's cost, n²k flops. The strict
/// lower triangle of C is not touched; LAPACK's `symmetricEigen` reads the upper one.
public func symmetricRankK(n: Int, k: Int, alpha: Double, a: UnsafePointer<Double>, beta: Double, c: UnsafeMutablePointer<Double>) {
    if n == 0 || k == 0 { return }
    precondition(n <= Int(Int32.max) && k <= Int(Int32.max))
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(n), Int32(k), alpha, a, Int32(n), beta, c, Int32(n))
}
