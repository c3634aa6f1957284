/// The Fisher information (Gauss–Newton) matrix of a network with C linear outputs
/// (Karakida et al. §2):
///
///     F = (1/T) Σ_(t=1…T) Σ_(k=1…C) ∇θ f_k(x_t) ∇θ f_k(x_t)ᵀ = (1/T) Jᵀ J,   P × P,
///
/// applied as F v = (1/T) Jᵀ (J v): one JVP and one VJP over the local samples, then one
/// sum of the P-vector over processes. F itself is never formed. Vectors are P-dimensional
/// and replicated on every process.
///
/// With a loss's output Hessian H_ℓ it is the generalized Gauss–Newton matrix
/// G = (1/T) Jᵀ H_ℓ J (Jacot et al.'s I; ``Loss``): H_ℓ(f_t) is applied to each sample's J v
/// between the two passes (O(TC) work). For mse H_ℓ = I and G = F; for softmax cross-entropy G
/// is the Fisher of the classifier.
///
/// Cost per application: ``BatchedJacobian/flopsPerProduct`` flops per process plus one
/// allreduce of P doubles.
public final class FisherOperator<S: BLASScalar>: LinearOperator {
    public let jacobian: BatchedJacobian<S>
    /// T over all processes.
    public let totalSamples: Int
    public let communicator: any Communicator
    public let space: VectorSpace
    /// H_ℓ at this process's outputs; nil for F (H_ℓ = I).
    public let outputHessian: OutputHessian?
    private var tangents: [S]
    /// Holds v in precision S during the JVP, then F v during the VJP (Float32 only).
    private var staging: ParameterBuffer<S>

    public init(jacobian: BatchedJacobian<S>, totalSamples: Int, communicator: any Communicator = SerialCommunicator(),
                outputHessian: OutputHessian? = nil) {
        self.jacobian = jacobian
        self.outputHessian = outputHessian
        self.totalSamples = totalSamples
        self.communicator = communicator
        self.space = .replicated(jacobian.parameterCount)
        tangents = [S](repeating: 0, count: max(jacobian.sampleCount * jacobian.outputCount, 1))
        staging = ParameterBuffer(count: jacobian.parameterCount)
    }

    public var unitRoundoff: Double { Double(S.ulpOfOne) }

    public func apply(_ x: UnsafePointer<Double>, into y: UnsafeMutablePointer<Double>) {
        let p = jacobian.parameterCount
        let scale = S(1 / Double(totalSamples))
        tangents.withUnsafeMutableBufferPointer { jv in
            staging.withInput(x, count: p) { jacobian.jvp($0, into: jv.baseAddress!) }
            outputHessian?.apply(jv.baseAddress!, rows: jacobian.sampleCount)
            staging.withOutput(y, count: p) { jacobian.vjp(jv.baseAddress!, alpha: scale, into: $0) }
        }
        communicator.allreduceSum(UnsafeMutableBufferPointer(start: y, count: p))
    }
}
