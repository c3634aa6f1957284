import Foundation

/// What `--save-eigenvectors` wrote, and how good the vectors are as eigenvectors of F.
public struct EigenvectorReport: Encodable, Sendable {
    public var file: String
    /// "parameter" (Lanczos on F) or "sample" (Lanczos on K, mapped v = Jᵀ u / √(T λ)).
    public var space: String
    public var method: String
    /// Why that space was chosen.
    public var rule: String
    public var tensorLayout = "eigenvector.<i>.<name> shaped as the model file's tensor <name> (its state-dict name: for an MLP <n>.weight [M_l, M_(l-1)] and <n>.bias [M_l], n = 2(l-1) as in PyTorch nn.Sequential; for a network given as layers the names of its model file, e.g. 3.body.0.weight): eigenvector i (0 = largest eigenvalue) restricted to that tensor; eigenvalues [count]; each vector unit-norm over all tensors, sign fixed so its largest-magnitude entry is positive"
    /// Indices i (0-based, descending eigenvalues) of the vectors written.
    public var written: [Int]
    public var eigenvalues: [Double]
    /// Pairs not written: eigenvalues at or below `zero_threshold` (K's null vectors have no image
    /// under Jᵀ, and F's null space has no preferred basis).
    public var unmapped: [Int]
    public var zeroThreshold: Double
    /// ‖A v − λ v‖ for each written vector: A = F recomputed with the Fisher operator when mapped
    /// from sample space, else the solver's residual for its matrix.
    public var residuals: [Double]
    /// ‖A v − λ v‖ / λ.
    public var relativeResiduals: [Double]
    /// max_ij |(VᵀV − I)_ij| over the written vectors.
    public var orthogonality: Double
    /// Wall-clock seconds of the map, the checks and the write (not in the solver's timings).
    public var seconds = 0.0

    private enum CodingKeys: String, CodingKey {
        case file, space, method, rule, tensorLayout = "tensor_layout", written, eigenvalues, unmapped, zeroThreshold = "zero_threshold",
             residuals, relativeResiduals = "relative_residuals", orthogonality, seconds
    }
}

/// The top eigenvectors of F = (1/T) Jᵀ J as tensors shaped like the network's parameters.
///
/// In parameter space they are Lanczos's Ritz vectors of F. In sample space, an eigenpair
/// (λ, u) of K = (1/T) J Jᵀ with λ > 0 gives F's eigenvector v = Jᵀ u / √(T λ):
/// F v = (1/T) Jᵀ J Jᵀ u / √(Tλ) = Jᵀ K u / √(Tλ) = λ v and ‖v‖² = uᵀ J Jᵀ u / (T λ) = 1.
/// Cost of the map: one backward pass and one allreduce of P doubles per vector, plus one
/// Fisher product per vector for its residual and k²·P flops (one GEMM) for VᵀV.
public enum EigenvectorExport {
    /// Lanczos in sample space when `--matrix ntk` was asked for, or when k ≥ 32 and TC ≤ P/2 (and
    /// k ≤ TC): the parameter-space basis would hold ≥ 2k + 21 ≥ 85 vectors of length P, the
    /// sample-space one the same number of length TC ≤ P/2, and every eigenvector of F with
    /// λ > 0 lies in range(Jᵀ), so nothing is lost.
    public static let rule = "sample space if \(Setting.matrix) ntk, or if k >= 32 and TC <= P/2 (and k <= TC); else parameter space"

    public static func usesSampleSpace(matrix: CurvatureMatrix, k: Int, problem: some ExactSampleSpaceProblem) -> Bool {
        if matrix == .ntk { return true }
        guard matrix == .fisher else { return false }
        let n = problem.sampleSpaceDimension
        return k >= 32 && 2 * n <= problem.parameterCount && k <= n
    }

    /// Refuses, before any solve, k vectors of length P (plus their k × k Gram matrix) that do not
    /// fit in 80 % of the available memory.
    public static func ensureFits(_ problem: some ExactSampleSpaceProblem, k: Int) throws {
        let bytes = (Double(k) * Double(problem.parameterCount) + Double(k) * Double(k)) * 8
        if let available = ResourceUsage.availableBytes(), bytes > 0.8 * Double(available) {
            throw WispError.invalidConfiguration(String(
                format: "\(Setting.saveEigenvectors): %d eigenvectors of length P = %d need %.1f GB but only %.1f GB are available; ask for fewer (\(Setting.lanczosCount))",
                k, problem.parameterCount, bytes / 1e9, Double(available) / 1e9))
        }
    }

    /// The unit eigenvectors of F from `top` (all P entries each, on every process), in one
    /// array k_written × P. Collective.
    public static func parameterVectors(_ problem: some ReducibleProblem, top: TopResult) throws -> (vectors: [Double], written: [Int], unmapped: [Int], threshold: Double) {
        let P = problem.parameterCount, T = Double(problem.totalSamples)
        let unit = problem.passPrecision == .float32 ? Double(Float.ulpOfOne) : Double.ulpOfOne
        let lambda1 = top.eigenvalues.map(abs).max() ?? 0
        let threshold = 100 * unit * lambda1
        var written = [Int](), unmapped = [Int]()
        var flat = [Double]()
        for (i, lambda) in top.eigenvalues.enumerated() {
            var v: [Double]
            if top.space == "parameter" {
                v = top.vectors[i]
            } else {
                guard lambda > threshold else { unmapped.append(i); continue }
                v = try problem.jacobianTransposeProduct(top.vectors[i])
                let scale = 1 / (T * lambda).squareRoot()
                v.withUnsafeMutableBufferPointer { Double.scal(n: P, alpha: scale, x: $0.baseAddress!) }
            }
            flat.append(contentsOf: v)
            written.append(i)
        }
        normalizeSigns(&flat, rows: written.count, P: P)
        return (flat, written, unmapped, threshold)
    }

    /// Flips each row of `v` (rows × P) so that its largest-magnitude entry is positive: the
    /// deterministic sign of every eigenvector Wisp writes.
    static func normalizeSigns(_ v: inout [Double], rows: Int, P: Int) {
        v.withUnsafeMutableBufferPointer { p in
            for r in 0..<rows {
                let row = p.baseAddress! + r * P
                var big = 0
                for i in 0..<P where abs(row[i]) > abs(row[big]) { big = i }
                if row[big] < 0 { Double.scal(n: P, alpha: -1, x: row) }
            }
        }
    }

    /// ‖A v_j − λ_j v_j‖ for the rows v_j of `flat` (k × P), one operator application each.
    static func residuals(_ op: any LinearOperator, vectors flat: [Double], values: [Double], P: Int) -> [Double] {
        var y = [Double](repeating: 0, count: P)
        return values.indices.map { j in
            flat.withUnsafeBufferPointer { f in
                y.withUnsafeMutableBufferPointer { yp in
                    let v = f.baseAddress! + j * P
                    op.apply(v, into: yp.baseAddress!)
                    Double.axpy(n: P, alpha: -values[j], x: v, y: yp.baseAddress!)
                }
            }
            return Double.dot(n: P, x: y, y: y).squareRoot()
        }
    }

    /// Maps, checks and (on rank 0) writes the eigenvectors in `top` to `path`. Collective.
    public static func run(_ problem: some ReducibleProblem, top: TopResult, path: String, rule: String) throws -> EigenvectorReport {
        let start = DispatchTime.now().uptimeNanoseconds
        let P = problem.parameterCount
        let (flat, written, unmapped, threshold) = try parameterVectors(problem, top: top)
        let k = written.count
        let values = written.map { top.eigenvalues[$0] }
        let residuals = top.space == "parameter" ? written.map { top.residuals[$0] }
                                                 : residuals(try problem.makeOperator(.fisher), vectors: flat, values: values, P: P)
        var gram = [Double](repeating: 0, count: max(k * k, 1))
        if k > 0 {
            Double.gemm(transA: false, transB: true, m: k, n: k, k: P, alpha: 1, a: flat, lda: P, b: flat, ldb: P,
                        beta: 0, c: &gram, ldc: k)
        }
        var orthogonality = 0.0
        for i in 0..<k { for j in 0..<k { orthogonality = max(orthogonality, abs(gram[i * k + j] - (i == j ? 1 : 0))) } }
        let sample = top.space == "sample"
        var report = EigenvectorReport(
            file: path, space: top.space,
            method: sample ? "thick-restart Lanczos on K = (1/T) J Jᵀ in sample space, eigenvectors mapped v = Jᵀ u / √(T λ); residuals ‖F v − λ v‖ recomputed with the Fisher operator"
                           : "thick-restart Lanczos on \(top.matrix.rawValue) in parameter space (Ritz vectors; residuals ‖A v − λ v‖ from the solver)",
            rule: rule, written: written, eigenvalues: values, unmapped: unmapped, zeroThreshold: threshold, residuals: residuals,
            relativeResiduals: zip(residuals, values).map { $0 / max(abs($1), .leastNormalMagnitude) }, orthogonality: orthogonality)
        if problem.communicator.rank == 0 {
            try write(flat, values: values, layout: problem.parameterLayout, P: P, to: path,
                      content: sample ? "eigenvectors of the Fisher matrix F = (1/T) J^T J, mapped from K = (1/T) J J^T" : "eigenvectors of \(top.matrix.rawValue)")
        }
        report.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        return report
    }

    /// Writes k × P vectors as `eigenvector.<i>.<name>` for each tensor of θ's `layout` (the
    /// model file's state-dict names and shapes), plus `eigenvalues` (f64).
    public static func write(_ flat: [Double], values: [Double], layout: [ParameterSlot], P: Int, to path: String, content: String) throws {
        precondition(flat.count == values.count * P && layout.reduce(0) { $0 + $1.count } == P)
        var tensors = [String: SafeTensor]()
        for i in values.indices {
            for slot in layout {
                let o = i * P + slot.offset
                tensors["eigenvector.\(i).\(slot.name)"] = SafeTensor(dtype: .f64, shape: slot.shape, values: Array(flat[o..<(o + slot.count)]))
            }
        }
        tensors["eigenvalues"] = SafeTensor(dtype: .f64, shape: [values.count], values: values)
        let metadata = ["wisp_version": wispVersion, "content": content,
                        "eigenvalues": values.map { "\($0)" }.joined(separator: ",")]
        try AtomicFile.createDirectory(forFile: path)
        try SafeTensorsFile(tensors: tensors, metadata: metadata).write(to: path)
    }
}
