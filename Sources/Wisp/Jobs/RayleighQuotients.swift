/// Mutual orthogonality of the Gauss–Newton part G and the residual part S of the Hessian,
/// seen through Rayleigh quotients (Jacot et al. Fig. 2, Proposition 5): for the top
/// eigenvectors g_i of G (largest) and s_i of S (largest magnitude),
///     G-directions: (g_iᵀ G g_i = λ_i(G), g_iᵀ S g_i),   S-directions: (s_iᵀ G s_i, s_iᵀ S s_i = λ_i(S)).
/// Asymptotic orthogonality means g_iᵀ S g_i ≪ λ_i(G) and s_iᵀ G s_i ≪ |λ_i(S)|.
///
/// Cost: two Lanczos solves plus 2k applications for the cross quotients; memory k P-vectors
/// per solve (the eigenvectors, kept for ``LossGrid``).
public struct RayleighQuotients: Codable, Sendable {
    public struct Direction: Codable, Sendable {
        /// The eigenvalue of its own matrix and its residual ‖A y − θ y‖.
        public var eigenvalue: Double
        public var residual: Double
        public var converged: Bool
        /// yᵀ G y and yᵀ S y.
        public var quotientG: Double
        public var quotientS: Double

        private enum CodingKeys: String, CodingKey {
            case eigenvalue, residual, converged, quotientG = "rayleigh_g", quotientS = "rayleigh_s"
        }
    }

    public var method = "thick-restart Lanczos (G: largest, S: largest magnitude), cross quotients by one application each"
    /// Directions from the eigenvectors of G, then of S.
    public var gDirections: [Direction]
    public var sDirections: [Direction]
    public var operatorApplications: Int

    private enum CodingKeys: String, CodingKey {
        case method, gDirections = "g_eigenvectors", sDirections = "s_eigenvectors", operatorApplications = "operator_applications"
    }

    /// Measures the quotients for the top `k` eigenvectors of G and S (collective). Also
    /// returns G's unit eigenvectors (for the loss grid).
    public static func measure(_ problem: some CurvatureProblem, k: Int, tolerance: Double, seed: UInt64) throws -> (RayleighQuotients, gVectors: [[Double]]) {
        let g = try problem.makeOperator(.ggn), s = try problem.makeOperator(.residual)
        let gPairs = try Lanczos.solve(g, settings: LanczosSettings(count: k, which: .largest, tolerance: tolerance, seed: seed))
        let sPairs = try Lanczos.solve(s, settings: LanczosSettings(count: k, which: .largestMagnitude, tolerance: tolerance, seed: seed))
        func directions(_ pairs: Eigenpairs, own: any LinearOperator, other: any LinearOperator, ownIsG: Bool) -> [Direction] {
            (0..<pairs.values.count).map { i in
                let y = pairs.vectors[i]
                let cross = other.space.dot(y, other.apply(y))
                return Direction(eigenvalue: pairs.values[i], residual: pairs.residuals[i], converged: pairs.converged[i],
                                 quotientG: ownIsG ? pairs.values[i] : cross, quotientS: ownIsG ? cross : pairs.values[i])
            }
        }
        let result = RayleighQuotients(gDirections: directions(gPairs, own: g, other: s, ownIsG: true),
                                       sDirections: directions(sPairs, own: s, other: g, ownIsG: false),
                                       operatorApplications: gPairs.operatorApplications + sPairs.operatorApplications + 2 * k)
        return (result, gPairs.vectors)
    }
}
