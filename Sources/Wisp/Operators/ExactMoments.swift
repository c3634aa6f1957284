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

    /// The rows of the NTK Gram matrix K = (1/T) J Jᵀ for this process's samples (all of K on
    /// one process): row-major (T_block·C) × (T·C), index t·C + k. Formed from the kernel's
    /// Hadamard structure (``BatchedJacobian/tangentKernelRows(layers:gather:)``); with several
    /// processes each layer's backward and forward factors are gathered from all of them
    /// (TC·M_l + T·M_(l−1) doubles per layer).
    public static func gramRows<S>(_ jacobian: BatchedJacobian<S>, totalSamples: Int,
                                   communicator: any Communicator = SerialCommunicator()) -> [Double] {
        let scale = 1 / Double(totalSamples)
        return jacobian.tangentKernelRows { local, rowsPerSample, columns in
            let counts = (0..<communicator.size).map {
                communicator.block(of: totalSamples, rank: $0).count * rowsPerSample * columns
            }
            return communicator.allgather(local, counts: counts)
        }.map { $0 * scale }
    }

    /// tr(F²) = ‖K‖²_F from the rows of K each process holds.
    public static func secondTrace(gramRows rows: [Double], communicator: any Communicator = SerialCommunicator()) -> Double {
        communicator.sum(rows.reduce(0) { $0 + $1 * $1 })
    }

    /// The whole NTK Gram matrix K = (1/T) J Jᵀ on one process.
    public static func gramMatrix<S>(_ jacobian: BatchedJacobian<S>, totalSamples: Int) -> [Double] {
        gramRows(jacobian, totalSamples: totalSamples)
    }

}
