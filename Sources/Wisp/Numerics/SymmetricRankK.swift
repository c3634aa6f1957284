import CLAPACK

/// C ← α AᵀA + β C on the upper triangle of the n × n row-major C, for A: k × n row-major
/// (BLAS `dsyrk`): the Gram matrix of A's columns at half a GEMM's cost, n²k flops. The strict
/// lower triangle of C is not touched; LAPACK's `symmetricEigen` reads the upper one.
public func symmetricRankK(n: Int, k: Int, alpha: Double, a: UnsafePointer<Double>, beta: Double, c: UnsafeMutablePointer<Double>) {
    if n == 0 || k == 0 { return }
    precondition(n <= Int(Int32.max) && k <= Int(Int32.max))
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(n), Int32(k), alpha, a, Int32(n), beta, c, Int32(n))
}

/// C ← α A Aᵀ + β C for A: n × k row-major (the Gram matrix of A's rows) on the whole n × n
/// row-major C: `dsyrk` on the upper triangle (n²k flops, half a GEMM's), then the strict lower
/// triangle mirrored from it (n²/2 copies), so C is exactly symmetric.
public func gramOfRows(n: Int, k: Int, alpha: Double, a: UnsafePointer<Double>, beta: Double, c: UnsafeMutablePointer<Double>) {
    if n == 0 { return }
    precondition(n <= Int(Int32.max) && k <= Int(Int32.max))
    if k > 0 {
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, Int32(n), Int32(k), alpha, a, Int32(max(k, 1)), beta, c, Int32(n))
    } else if beta != 1 {
        for i in 0..<(n * n) { c[i] *= beta }
    }
    for i in 1..<max(n, 1) { for j in 0..<i { c[i * n + j] = c[j * n + i] } }
}
