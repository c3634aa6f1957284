import Foundation

/// Jacot et al.'s prediction for the Gauss–Newton part I of the Hessian (Proposition 1, and
/// §3.4.1 for mse, where I = F): in the infinite-width limit, with the NTK fixed during
/// training,
///     tr(Iᵏ)/P → C tr((Θᴸ/T)ᵏ)/P,   λ_max(I) → λ_max(Θᴸ/T),
/// Θᴸ the limiting NTK Gram matrix of the T inputs (``LimitingNTK``). Covered for the NTK
/// parametrization without normalization layers, where the limit exists.
///
/// Cost: the T × T kernel (``LimitingNTK``) and one symmetric eigensolve (LAPACK dsyevd);
/// every process gathers all inputs.
public struct NTKLimitPrediction: Codable, Sendable {
    public var covered: Bool
    public var reason: String?
    public var reference = "Jacot, Gabriel & Hongler (2019), Proposition 1; the limiting NTK of Jacot, Gabriel & Hongler (2018)"
    /// C tr((Θᴸ/T)ᵏ)/P for k = 1…4.
    public var moments: [Double]?
    public var largestEigenvalue: Double?

    private enum CodingKeys: String, CodingKey {
        case covered, reason, reference, moments, largestEigenvalue = "largest_eigenvalue"
    }

    /// The prediction for `problem`'s architecture and inputs (collective: gathers the inputs).
    public static func make(for problem: Problem) throws -> NTKLimitPrediction {
        let a = problem.architecture, T = problem.totalSamples, c = problem.communicator
        let counts = (0..<c.size).map { c.block(of: T, rank: $0).count * a.inputDimension }
        let x = c.allgather(problem.dataset.values, counts: counts)
        guard a.parametrization == .ntk else {
            return NTKLimitPrediction(covered: false, reason: "the NTK limit needs \(Setting.parametrization) ntk (or \(Setting.beta))")
        }
        guard a.normalization == .none else {
            return NTKLimitPrediction(covered: false, reason: "the limiting NTK is implemented without normalization layers")
        }
        let theta = try LimitingNTK.gram(architecture: a, inputs: x, samples: T).map { $0 / Double(T) }
        let values = try LAPACK.symmetricEigen(theta, n: T).values
        let P = Double(problem.parameterCount), C = Double(a.outputs)
        return NTKLimitPrediction(covered: true, moments: (1...4).map { k in C * values.reduce(0) { $0 + Foundation.pow($1, Double(k)) } / P },
                                  largestEigenvalue: values.max())
    }
}
