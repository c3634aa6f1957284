/// The floating-point precision of the network passes. Solvers, reductions and results are
/// always Float64.
public enum Precision: String, Codable, Sendable, CaseIterable {
    case float64
    case float32
}

/// Which curvature matrix an operator applies.
public enum CurvatureMatrix: String, Codable, Sendable, CaseIterable {
    /// F = (1/T) Jᵀ J in parameter space (P × P).
    case fisher
    /// K = (1/T) J Jᵀ in sample space (TC × TC): the same nonzero eigenvalues as F.
    case ntk
}
