/// The floating-point precision of the network passes. Solvers, reductions and results are
/// always Float64.
public enum Precision: String, Codable, Sendable, CaseIterable {
    case float64
    case float32

    /// ε, the unit roundoff of the passes (2⁻⁵² or 2⁻²³).
    public var unitRoundoff: Double { self == .float64 ? Double.ulpOfOne : Double(Float.ulpOfOne) }

}

/// Which curvature matrix an operator applies.
public enum CurvatureMatrix: String, Codable, Sendable, CaseIterable {
    /// F = (1/T) Jᵀ J in parameter space (P × P).
    case fisher
    /// K = (1/T) J Jᵀ in sample space (TC × TC): the same nonzero eigenvalues as F.
    case ntk
    /// G = (1/T) Jᵀ H_ℓ J, the Gauss–Newton matrix of the loss (P × P; F for mse).
    case ggn
    /// H = G + S, the Hessian of the loss (P × P, indefinite).
    case hessian
    /// S = H − G = (1/T) Σ r_tk ∇²f_k(x_t), the residual part of the Hessian (P × P, indefinite).
    case residual

    /// Whether the operator's vectors live in sample space (TC) rather than parameter space (P).
    public var isSampleSpace: Bool { self == .ntk }
    /// "parameter" or "sample", for the output record.
    public var space: String { isSampleSpace ? "sample" : "parameter" }
    /// Whether the matrix depends on the targets through the loss.
    public var needsLoss: Bool { self == .ggn || self == .hessian || self == .residual }
    /// Whether the matrix has F's nonzero spectrum under `loss` (F, K, and G for mse), so that
    /// F's exact trace and Karakida et al.'s theory apply to it.
    public func sharesSpectrumWithFisher(loss: Loss) -> Bool {
        self == .fisher || self == .ntk || (self == .ggn && loss == .mse)
    }
    /// Whether the matrix is positive semi-definite (F, K, G) or may have negative eigenvalues.
    public var isSemidefinite: Bool { self != .hessian && self != .residual }
}
