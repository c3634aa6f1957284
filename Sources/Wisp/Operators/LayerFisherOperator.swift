/// The Fisher (Gauss–Newton for mse) matrix of a network given as layers (``LayerSequence``):
///
///     F = (1/T) Σ_(t=1…T) Σ_(k=1…C) ∇θ f_k(x_t) ∇θ f_k(x_t)ᵀ = (1/T) Jᵀ J,   P × P,
///
/// applied matrix-free as F v = (1/T) Jᵀ (J v): one JVP and one VJP through the layers over
/// this process's samples, then one sum of the P-vector over processes (the samples are
/// sharded as for ``FisherOperator``: each process runs the network's forward pass on its own
/// block and holds the whole of θ and v). Vectors are P-dimensional and replicated.
///
/// With an output Hessian H_ℓ of a ``Loss`` (``OutputHessian``, from ``Loss/evaluate(outputs:targets:columns:)``)
/// it is the generalized Gauss–Newton matrix G = (1/T) Jᵀ H_ℓ J (Jacot et al. §3.1; Schraudolph
/// 2002): H_ℓ applied row by row to J v between the two passes (O(n·C) more; mse: H_ℓ = I, G = F).
///
/// Cost per application: ``LayerSequence/flopsPerProduct`` flops per process plus one
/// allreduce of P doubles. Memory: n·C tangents, P scalars of staging in Float32.
public final class LayerFisherOperator<S: BLASScalar>: LinearOperator {
    public let network: LayerSequence<S>
    /// T over all processes.
    public let totalSamples: Int
    public let communicator: any Communicator
    public let space: VectorSpace
    /// H_ℓ between the passes (G), or nil (F).
    public let outputHessian: OutputHessian?
    private var tangents: [S]
    private var staging: ParameterBuffer<S>

    /// `network` must have run its forward pass over this process's samples; `outputHessian`
    /// (G) must be evaluated at its outputs.
    public init(network: LayerSequence<S>, totalSamples: Int, communicator: any Communicator = SerialCommunicator(),
                outputHessian: OutputHessian? = nil) {
        self.network = network
        self.outputHessian = outputHessian
        self.totalSamples = totalSamples
        self.communicator = communicator
        space = .replicated(network.parameterCount)
        tangents = [S](repeating: 0, count: max(network.sampleCount * network.outputCount, 1))
        staging = ParameterBuffer(count: network.parameterCount)
    }

    public var unitRoundoff: Double { Double(S.ulpOfOne) }

    public func apply(_ x: UnsafePointer<Double>, into y: UnsafeMutablePointer<Double>) {
        let p = network.parameterCount
        let scale = S(1 / Double(totalSamples))
        tangents.withUnsafeMutableBufferPointer { jv in
            staging.withInput(x, count: p) { network.jvp($0, into: jv.baseAddress!) }
            outputHessian?.apply(jv.baseAddress!, rows: network.sampleCount)
            staging.withOutput(y, count: p) { network.vjp(jv.baseAddress!, alpha: scale, into: $0) }
        }
        communicator.allreduceSum(UnsafeMutableBufferPointer(start: y, count: p))
    }
}
