/// The NTK Gram matrix of a network given as layers (``LayerSequence``), the dual of
/// ``LayerFisherOperator``, or the tangent kernel of one block of θ:
///
///     K_B = (1/T) J_B J_Bᵀ,   TC × TC,   K_B[(t,k),(s,k')] = (1/T) ⟨∇θ_B f_k(x_t), ∇θ_B f_k'(x_s)⟩,
///
/// J_B the columns of J in B, a contiguous range of θ's indices. With B = all of θ (the default)
/// this is K = (1/T) J Jᵀ, with the same nonzero eigenvalues as F = (1/T) Jᵀ J; with B one
/// module's weight and bias it is that layer's tangent kernel K_l (Lou et al. §2.1–2.2), and
/// the K_B of a partition of θ sum to K.
///
/// Applied matrix-free as K_B u = (1/T) J_B (J_Bᵀ u): a VJP of this process's block of u into a
/// P-vector (the layers give the whole gradient; only B's entries are kept), one allreduce of |B|
/// doubles (Jᵀ u sums over all samples), then a JVP along the P-vector that is zero outside B.
/// Vectors are sample-space vectors (index t·C + k) distributed in the processes' sample blocks,
/// as for ``NTKGramOperator``'s parameter-space path.
///
/// Cost per application: ``LayerSequence/flopsPerProduct`` flops per process (the passes do not
/// skip the layers outside B), P − |B| to clear the direction outside B (nothing for the whole
/// K), one allreduce of |B| doubles. Memory: P doubles (plus P scalars in Float32).
public final class LayerGramOperator<S: BLASScalar>: LinearOperator {
    public let network: LayerSequence<S>
    /// B (0..<P for the whole K).
    public let block: Range<Int>
    public let totalSamples: Int
    public let communicator: any Communicator
    public let space: VectorSpace
    private var gradient: [Double]
    private var input: ParameterBuffer<S>
    private var output: ParameterBuffer<S>
    private var parameterDirection: ParameterBuffer<S>

    /// `samples`: the global indices of the samples `network` ran forward on; `block` within
    /// 0..<P (nil: all of θ, the whole K).
    public init(network: LayerSequence<S>, block: Range<Int>? = nil, samples: Range<Int>, totalSamples: Int,
                communicator: any Communicator = SerialCommunicator()) {
        precondition(samples.count == network.sampleCount)
        let block = block ?? 0..<network.parameterCount
        precondition(block.lowerBound >= 0 && block.upperBound <= network.parameterCount)
        let c = network.outputCount
        self.network = network
        self.block = block
        self.totalSamples = totalSamples
        self.communicator = communicator
        space = VectorSpace(dimension: totalSamples * c, local: (samples.lowerBound * c)..<(samples.upperBound * c),
                            communicator: communicator.size > 1 ? communicator : nil)
        gradient = [Double](repeating: 0, count: max(network.parameterCount, 1))
        input = ParameterBuffer(count: samples.count * c)
        output = ParameterBuffer(count: samples.count * c)
        parameterDirection = ParameterBuffer(count: network.parameterCount)
    }

    public var unitRoundoff: Double { Double(S.ulpOfOne) }

    public func apply(_ x: UnsafePointer<Double>, into y: UnsafeMutablePointer<Double>) {
        let n = space.localDimension, p = network.parameterCount, b = block
        gradient.withUnsafeMutableBufferPointer { g in
            input.withInput(x, count: n) { u in
                parameterDirection.withOutput(g.baseAddress!, count: p) { network.vjp(u, alpha: 1, into: $0) }
            }
            // Only B's entries: zero elsewhere (nothing to clear for the whole K), summed over the
            // processes over B alone.
            (g.baseAddress!).update(repeating: 0, count: b.lowerBound)
            (g.baseAddress! + b.upperBound).update(repeating: 0, count: p - b.upperBound)
            communicator.allreduceSum(UnsafeMutableBufferPointer(rebasing: g[b]))
            let scale = 1 / Double(totalSamples)
            for i in b { g[i] *= scale }
            parameterDirection.withInput(g.baseAddress!, count: p) { v in
                output.withOutput(y, count: n) { network.jvp(v, into: $0) }
            }
        }
    }
}
