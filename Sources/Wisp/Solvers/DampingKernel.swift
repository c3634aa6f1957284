import Foundation

/// The damping factors g_n that turn a truncated Chebyshev series into a positive, smooth
/// approximation of a density (Weiße, Wellein, Alvermann & Fehske, Rev. Mod. Phys. 78, 275
/// (2006), §II.C): a truncated series of a δ-peak oscillates (Gibbs), the damped one is a
/// positive bump.
public enum DampingKernel: String, Codable, Sendable, CaseIterable {
    /// g_n = [(M − n + 1) cos(π n/(M + 1)) + sin(π n/(M + 1)) cot(π/(M + 1))] / (M + 1)
    /// (Weiße et al. eq. 71): the optimal positive kernel for densities; a δ-peak becomes a
    /// near-Gaussian of width σ ≈ π/M in x at the centre (σ² = (π/M)²(1 − x² + (4x² − 3)/M),
    /// eq. 73), narrower at the ends of [−1, 1].
    case jackson
    /// g_n = sinh(λ(1 − n/M)) / sinh λ with λ = 4 (Weiße et al. eq. 76, λ ∈ [3, 5]): a
    /// Lorentzian of width λ/M in the angle; the kernel for Green's functions, with heavier
    /// tails than Jackson's.
    case lorentz

    /// λ of the Lorentz kernel.
    public static let lorentzParameter = 4.0

    /// g_0 … g_(M−1) for M moments (g_0 = 1 for both kernels: the total mass is kept).
    public func factors(count M: Int) -> [Double] {
        switch self {
        case .jackson:
            let q = Double.pi / Double(M + 1)
            let cot = Foundation.cos(q) / Foundation.sin(q)
            return (0..<M).map { n in
                let a = q * Double(n)
                return (Double(M - n + 1) * Foundation.cos(a) + Foundation.sin(a) * cot) / Double(M + 1)
            }
        case .lorentz:
            let l = Self.lorentzParameter
            return (0..<M).map { n in Foundation.sinh(l * (1 - Double(n) / Double(M))) / Foundation.sinh(l) }
        }
    }
}
