/// B = H_ℓ^(1/2), the symmetric square root of the loss's output Hessian, block-diagonal over
/// samples (one C × C block B_t per sample, index t·C + k like every sample-space vector).
///
/// It turns the Gauss–Newton matrix into a sample-space matrix of the same nonzero spectrum
/// (Jacot et al. §3.1; the duality F ↔ K of Karakida et al. eq. S.5 with a weight):
///
///     G = (1/T) Jᵀ H_ℓ J = (1/T) (B J)ᵀ (B J)   has the nonzero eigenvalues of   B K B,
///
/// K = (1/T) J Jᵀ; an eigenpair (λ, u) of B K B gives G's eigenvector v = Jᵀ B u / √(T λ).
/// For mse H_ℓ = I and B = I. Each block comes from the C × C matrix H_ℓ(f_t) (C applications
/// of ``OutputHessian/apply(_:rows:scale:)`` to unit vectors) by LAPACK `dsyevd`, with the
/// eigenvalues' rounding-level negatives (softmax's H_ℓ is singular: H_ℓ 1 = 0) clamped to 0.
/// Cost O(T C³); memory T·C² doubles.
public struct OutputHessianRoot: Sendable {
    /// C.
    public let columns: Int
    /// T_block blocks, each C × C row-major (symmetric).
    public let blocks: [Double]

    /// The roots of this process's samples' output Hessians (`rows` = T_block).
    public init(_ hessian: OutputHessian, rows: Int) throws {
        let C = hessian.columns
        columns = C
        var blocks = [Double](repeating: 0, count: rows * C * C)
        var h = [Double](repeating: 0, count: rows * C * C)
        // Column j of every sample's H_ℓ: H_ℓ applied to e_j in every row.
        var e = [Double](repeating: 0, count: rows * C)
        for j in 0..<C {
            for t in 0..<rows { for k in 0..<C { e[t * C + k] = k == j ? 1 : 0 } }
            e.withUnsafeMutableBufferPointer { hessian.apply($0.baseAddress!, rows: rows) }
            for t in 0..<rows { for k in 0..<C { h[t * C * C + k * C + j] = e[t * C + k] } }
        }
        for t in 0..<rows {
            var a = Array(h[(t * C * C)..<((t + 1) * C * C)])
            // Symmetrize against the rounding of the closed forms before the solve.
            for i in 0..<C { for j in 0..<i { let m = 0.5 * (a[i * C + j] + a[j * C + i]); a[i * C + j] = m; a[j * C + i] = m } }
            let (values, vectors) = try LAPACK.symmetricEigen(a, n: C, vectors: true)
            for i in 0..<C {
                for j in 0..<C {
                    var s = 0.0
                    for m in 0..<C { s += vectors[i * C + m] * max(values[m], 0).squareRoot() * vectors[j * C + m] }
                    blocks[t * C * C + i * C + j] = s
                }
            }
        }
        self.blocks = blocks
    }

    public init(columns: Int, blocks: [Double]) {
        self.columns = columns
        self.blocks = blocks
    }

    /// The number of samples (blocks).
    public var rows: Int { blocks.count / max(columns * columns, 1) }

    /// w ← B w for a sample-space vector w of these samples (rows × C).
    public func apply(_ w: UnsafeMutablePointer<Double>) {
        let C = columns
        var tmp = [Double](repeating: 0, count: C)
        for t in 0..<rows {
            let o = t * C
            for i in 0..<C {
                var s = 0.0
                for j in 0..<C { s += blocks[t * C * C + i * C + j] * w[o + j] }
                tmp[i] = s
            }
            for i in 0..<C { w[o + i] = tmp[i] }
        }
    }

    /// rows ← B_local · rows · B_all for this process's rows (n_local × n) of a sample-space
    /// matrix, `all` holding every sample's blocks in global order. Cost O(n_local · n · C).
    public func sandwich(_ rows: inout [Double], localRows: Int, all: OutputHessianRoot) {
        let C = columns, n = all.rows * C
        precondition(rows.count == localRows * n && localRows == self.rows * C)
        // Columns: each row r ← r · B_all (B symmetric: the same as B_all applied to r as a vector).
        rows.withUnsafeMutableBufferPointer { p in
            for r in 0..<localRows { all.apply(p.baseAddress! + r * n) }
        }
        // Rows: for each column j, the local column ← B_local · column.
        var column = [Double](repeating: 0, count: max(localRows, 1))
        for j in 0..<n {
            for r in 0..<localRows { column[r] = rows[r * n + j] }
            column.withUnsafeMutableBufferPointer { apply($0.baseAddress!) }
            for r in 0..<localRows { rows[r * n + j] = column[r] }
        }
    }
}

/// B A B for a sample-space operator A and the block-diagonal ``OutputHessianRoot`` B of this
/// process's samples: the Gauss–Newton matrix's sample-space dual (B K B), applied matrix-free.
/// Cost: one application of A plus O(TC·C).
public final class SandwichedOperator: LinearOperator {
    public let base: any LinearOperator
    public let root: OutputHessianRoot
    private var scratch: [Double]

    public init(_ base: any LinearOperator, root: OutputHessianRoot) {
        precondition(base.space.localDimension == root.rows * root.columns)
        self.base = base
        self.root = root
        scratch = [Double](repeating: 0, count: max(base.space.localDimension, 1))
    }

    public var space: VectorSpace { base.space }
    public var unitRoundoff: Double { base.unitRoundoff }

    public func apply(_ x: UnsafePointer<Double>, into y: UnsafeMutablePointer<Double>) {
        let n = space.localDimension
        scratch.withUnsafeMutableBufferPointer { s in
            s.baseAddress!.update(from: x, count: n)
            root.apply(s.baseAddress!)
            base.apply(s.baseAddress!, into: y)
        }
        root.apply(y)
    }
}
