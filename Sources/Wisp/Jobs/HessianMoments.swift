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
    public static func measure(_ problem: some CurvatureProblem, settings: SLQSettings) throws -> HessianMoments {
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
        // Exact moments of G where the MLP gives them cheaply; a layer network's stand alone.
        let exactG = try (problem as? Problem).flatMap { try exactGaussNewtonMoments($0) }
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
    /// spectrum of B K B, B = H_ℓ^(1/2) block-diagonal over samples and K = (1/T) J Jᵀ from its
    /// per-layer Gram factors (``ExactSpectrumJob``, `--matrix ggn`), so tr(Gᵏ) = Σ λᵢᵏ over
    /// its eigenvalues. Nil when batch statistics couple the samples or TC > `limit`. Cost: K,
    /// and one dsyevd without vectors (≈ 4/3 (TC)³) on rank 0; memory checked by the job.
    public static func exactGaussNewtonMoments(_ problem: Problem, limit: Int = exactLimit) throws -> [Double]? {
        guard !problem.architecture.normalization.couplesSamples, problem.sampleSpaceDimension <= limit else { return nil }
        let spectrum = try ExactSpectrumJob.run(problem, matrix: .ggn, selection: .all, vectors: false,
                                                solver: ReplicatedLAPACKEigensolver(communicator: problem.communicator))
        let P = Double(problem.parameterCount)
        return (1...4).map { k in spectrum.values.reduce(0) { $0 + Foundation.pow($1, Double(k)) } / P }
    }
}
