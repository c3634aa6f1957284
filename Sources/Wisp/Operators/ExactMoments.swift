/// Moments of the Fisher spectrum computed exactly, without an eigensolver.
public struct ExactMoments: Codable, Sendable {
    /// P.
    public var parameters: Int
    /// tr F = (1/T) Σ_t Σ_k ‖∇θ f_k(x_t)‖².
    public var trace: Double
    /// m_λ = tr F / P (Karakida et al. Theorem 2.2).
    public var meanEigenvalue: Double
    /// tr(F²)/P = ‖K‖²_F / P, present when the NTK Gram matrix was formed.
    public var secondMoment: Double?

    private enum CodingKeys: String, CodingKey {
        case parameters, trace, meanEigenvalue = "mean_eigenvalue", secondMoment = "second_moment"
    }
}

/// Exact traces of F and F² from the network's Jacobian structure.
public enum FisherMoments {
    /// tr F = tr K = (1/T) Σ_t Σ_k ‖∇θ f_k(x_t)‖², from per-sample gradient norms
    /// (``BatchedJacobian/squaredGradientNorms()``) summed over processes. Cost: C backward
    /// passes, no P-sized memory.
    public static func trace<S>(_ jacobian: BatchedJacobian<S>, totalSamples: Int,
                                communicator: any Communicator = SerialCommunicator()) -> Double {
        let local = jacobian.squaredGradientNorms().reduce(0, +)
        return communicator.sum(local) / Double(totalSamples)
    }

    /// The NTK Gram matrix K = (1/T) J Jᵀ, TC × TC row-major (index t·C + k), formed from the
    /// kernel's Hadamard structure (``BatchedJacobian/tangentKernel(layers:)``). Single process
    /// only: every entry couples two samples.
    public static func gramMatrix<S>(_ jacobian: BatchedJacobian<S>, totalSamples: Int) -> [Double] {
        let scale = 1 / Double(totalSamples)
        return jacobian.tangentKernel().map { $0 * scale }
    }

    /// tr(F²) = tr(K²) = ‖K‖²_F for symmetric K.
    public static func secondTrace(gram: [Double]) -> Double {
        gram.reduce(0) { $0 + $1 * $1 }
    }
}
