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
        let exactTrace = problem.configuration.loss == .mse && problem.exactMomentsCost == 0 ? problem.exactTrace() / P : nil
        let matrices = [CurvatureMatrix.ggn, .residual, .hessian].map { m in
            Moments(matrix: m, moments: (1...4).map { k in
                let e = Estimate(perProbe(m, k))
                return MomentRecord(order: k, estimate: e.mean, standardError: e.standardError, exact: k == 1 && m == .ggn ? exactTrace : nil)
            })
        }
        let gap = (1...4).map { k -> Estimate in
            let (h, g, s) = (perProbe(.hessian, k), perProbe(.ggn, k), perProbe(.residual, k))
            return Estimate((0..<h.count).map { h[$0] - g[$0] - s[$0] })
        }
        return HessianMoments(probes: settings.probes, steps: settings.steps, matrices: matrices, additivityGap: gap,
                              operatorApplications: applications)
    }
}
