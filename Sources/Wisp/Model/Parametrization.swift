/// How weights are scaled (Karakida et al. eq. 2; Jacot et al. for the NTK form).
///
/// - `standard`: u = W h + b with W ~ N(0, σ_w²/fan_in), b ~ N(0, σ_b²).
/// - `ntk`: u = (σ_w/√fan_in) W h + σ_b b with W, b ~ N(0, 1).
///
/// Both give the same function at initialization; their Jacobians differ by the factors, so
/// the Fisher spectra differ (the NTK form keeps them O(1) per parameter as the width grows).
public enum Parametrization: String, CaseIterable, Codable, Sendable {
    case standard
    case ntk
}
