import Foundation

/// The first four normalized moments tr(Aᵏ)/P of the Gauss–Newton part G (Jacot et al.'s I),
/// the residual part S and the Hessian H = G + S, by stochastic Lanczos quadrature on the same
/// Rademacher probes (Jacot et al. Fig. 1, Theorem 1).
///
/// Because G, S and H see the same probes, the additivity gap
///     δ_k = (tr Hᵏ − tr Gᵏ − tr Sᵏ)/P
/// is estimated probe by probe (r_pᵀ(Hᵏ − Gᵏ − Sᵏ)r_p/P), with a standard error much smaller
/// than the moments' own: Jacot et al.'s mutual orthogonality of G and S (Proposition 5) says
/// δ_k → 0 with the width (δ_1 = 0 exactly, δ_2 = 2 tr(GS)/P).
///
/// Cost: 3·probes·steps operator applications (an S or H application ≈ 1.75 Fisher products).
public struct HessianMoments: Codable, Sendable {
    /// The moments of one matrix.
    public struct Moments: Codable, Sendable {
        public var matrix: CurvatureMatrix
        /// tr(Aᵏ)/P for k = 1…4 (exact where known: tr F/P for mse's G).
        public var moments: [MomentRecord]
    }

    public var method = "stochastic Lanczos quadrature on shared Rademacher probes"
    public var probes: Int
    public var steps: Int
    public var matrices: [Moments]
    /// δ_k for k = 1…4 with standard errors over the shared probes.
    public var additivityGap: [Estimate]
    public var operatorApplications: Int

    private enum CodingKeys: String, CodingKey {
        case method, probes, steps, matrices, additivityGap = "additivity_gap", operatorApplications = "operator_applications"
    }

    /// Measures G, S and H of `problem` at its current parameters (collective).
    public static func measure(_ problem: Problem, settings: SLQSettings) throws -> HessianMoments {
        let P = Double(problem.parameterCount)
        var results = [CurvatureMatrix: SLQResult]()
        var applications = 0
        for matrix in [CurvatureMatrix.ggn, .residual, .hessian] {
            let r = try StochasticLanczosQuadrature.run(try problem.makeOperator(matrix), settings: settings)
            results[matrix] = r
            applications += r.operatorApplications
        }
        func perProbe(_ m: CurvatureMatrix, _ k: Int) -> [Double] {
            results[m]!.rules.map { rule in rule.integrate { Foundation.pow($0, Double(k)) } * Double(results[m]!.dimension) / P }
        }
        let exactG = try exactGaussNewtonMoments(problem)
        let matrices = [CurvatureMatrix.ggn, .residual, .hessian].map { m in
            Moments(matrix: m, moments: (1...4).map { k in
                let e = Estimate(perProbe(m, k))
                return MomentRecord(order: k, estimate: e.mean, standardError: e.standardError, exact: m == .ggn ? exactG?[k - 1] : nil)
            })
        }
        let gap = (1...4).map { k -> Estimate in
            let (h, g, s) = (perProbe(.hessian, k), perProbe(.ggn, k), perProbe(.residual, k))
            return Estimate((0..<h.count).map { h[$0] - g[$0] - s[$0] })
        }
        return HessianMoments(probes: settings.probes, steps: settings.steps, matrices: matrices, additivityGap: gap,
                              operatorApplications: applications)
    }

    /// The largest TC for which ``measure(_:settings:)`` forms K for the exact moments of G.
    public static let exactLimit = 4096

    /// tr(Gᵏ)/P exactly for k = 1…4, from sample space: G = (1/T) Jᵀ H_ℓ J has the nonzero
    /// spectrum of H_ℓ^(1/2) K H_ℓ^(1/2), so tr(Gᵏ) = tr((H_ℓ K)ᵏ) with K = (1/T) J Jᵀ from its
    /// per-layer Gram factors and H_ℓ block-diagonal over samples. Nil when batch statistics
    /// couple the samples or TC > `limit`. Cost: K, and one TC × TC GEMM (A² for k = 3, 4);
    /// every process gathers A = H_ℓ K (TC² doubles).
    public static func exactGaussNewtonMoments(_ problem: Problem, limit: Int = exactLimit) throws -> [Double]? {
        let n = problem.sampleSpaceDimension, C = problem.architecture.outputs
        guard !problem.architecture.normalization.couplesSamples, n <= limit else { return nil }
        let c = problem.communicator
        let local = c.block(of: problem.totalSamples)
        var rows = problem.gramRows()
        let hessian = try problem.lossEvaluation().outputHessian
        var column = [Double](repeating: 0, count: max(local.count * C, 1))
        for j in 0..<n {
            for r in 0..<(local.count * C) { column[r] = rows[r * n + j] }
            hessian.apply(&column, rows: local.count)
            for r in 0..<(local.count * C) { rows[r * n + j] = column[r] }
        }
        let counts = (0..<c.size).map { c.block(of: problem.totalSamples, rank: $0).count * C * n }
        let a = c.allgather(rows, counts: counts)
        var a2 = [Double](repeating: 0, count: n * n)
        Double.gemm(transA: false, transB: false, m: n, n: n, k: n, alpha: 1, a: a, lda: n, b: a, ldb: n, beta: 0, c: &a2, ldc: n)
        var t = [0.0, 0.0, 0.0, 0.0]
        for i in 0..<n {
            t[0] += a[i * n + i]
            t[1] += a2[i * n + i]
            for j in 0..<n {
                t[2] += a2[i * n + j] * a[j * n + i]
                t[3] += a2[i * n + j] * a2[j * n + i]
            }
        }
        let P = Double(problem.parameterCount)
        return t.map { $0 / P }
    }
}
