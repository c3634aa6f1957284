/// The NTK Gram matrix of a network given as layers (``LayerSequence``), the dual of
/// ``LayerFisherOperator``:
///
///     K = (1/T) J Jᵀ,   TC × TC,   K[(t,k),(s,k')] = (1/T) ⟨∇θ f_k(x_t), ∇θ f_k'(x_s)⟩,
///
/// with the same nonzero eigenvalues as F = (1/T) Jᵀ J. Applied matrix-free as
/// K u = (1/T) J (Jᵀ u): a VJP of this process's block of u into a P-vector, one allreduce of
/// P doubles (Jᵀ u sums over all samples), then a JVP of the local samples. Vectors are
/// sample-space vectors (index t·C + k) distributed in the processes' sample blocks, as for
/// ``NTKGramOperator``'s parameter-space path.
///
/// Cost per application: ``LayerSequence/flopsPerProduct`` flops per process plus one
/// allreduce of P doubles. Memory: P doubles (plus P scalars in Float32).
public final class LayerGramOperator<S: BLASScalar>: LinearOperator {
    public let network: LayerSequence<S>
    public let totalSamples: Int
    public let communicator: any Communicator
    public let space: VectorSpace
    private var gradient: [Double]
    private var input: ParameterBuffer<S>
    private var output: ParameterBuffer<S>
    private var parameterDirection: ParameterBuffer<S>

    /// `samples`: the global indices of the samples `network` ran forward on.
    public init(network: LayerSequence<S>, samples: Range<Int>, totalSamples: Int,
                communicator: any Communicator = SerialCommunicator()) {
        precondition(samples.count == network.sampleCount)
        let c = network.outputCount
        self.network = network
        self.totalSamples = totalSamples
        self.communicator = communicator
        space = VectorSpace(dimension: totalSamples * c, local: (samples.lowerBound * c)..<(samples.upperBound * c),
                            communicator: communicator.size > 1 ? communicator : nil)
        gradient = [Double](repeating: 0, count: network.parameterCount)
        input = ParameterBuffer(count: samples.count * c)
        output = ParameterBuffer(count: samples.count * c)
        parameterDirection = ParameterBuffer(count: network.parameterCount)
    }

    public var unitRoundoff: Double { Double(S.ulpOfOne) }

    public func apply(_ x: UnsafePointer<Double>, into y: UnsafeMutablePointer<Double>) {
        let n = space.localDimension, p = network.parameterCount
        gradient.withUnsafeMutableBufferPointer { g in
            input.withInput(x, count: n) { u in
                parameterDirection.withOutput(g.baseAddress!, count: p) { network.vjp(u, alpha: 1, into: $0) }
            }
            communicator.allreduceSum(g)
            let scale = 1 / Double(totalSamples)
            for i in 0..<p { g[i] *= scale }
            parameterDirection.withInput(g.baseAddress!, count: p) { v in
                output.withOutput(y, count: n) { network.jvp(v, into: $0) }
            }
        }
    }
}
