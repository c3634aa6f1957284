/// Layer l's tangent kernel in sample space (Lou et al. §2.1–2.2; Baratin et al. 2021):
///
///     K_l = (1/T) J_l J_lᵀ,   TC × TC,   K_l[(t,k),(s,k')] = (1/T) ⟨∇θ_l f_k(x_t), ∇θ_l f_k'(x_s)⟩,
///
/// J_l the columns of J belonging to layer l's parameters θ_l (W^l, b^l), so Σ_l K_l = K, the
/// NTK Gram matrix of ``NTKGramOperator``. Applied matrix-free as K_l u = (1/T) J_l (J_lᵀ u): a
/// backward pass of the local samples that stops at layer l and writes only its gradient
/// (``BatchedJacobian/layerVJP(layer:_:alpha:into:)``), one sum of that P_l-vector over
/// processes, then a tangent pass starting at layer l
/// (``BatchedJacobian/layerJVP(layer:_:into:)``). Vectors are sample-space vectors (index
/// t·C + k) in the processes' sample blocks, as for ``NTKGramOperator``.
///
/// Cost per application: 4·T_block·(M_l M_(l−1) + Σ_(j>l) M_j M_(j−1)) flops per process (no
/// work below layer l) plus one allreduce of P_l doubles.
public final class LayerKernelOperator<S: BLASScalar>: LinearOperator {
    public let jacobian: BatchedJacobian<S>
    /// l, 1…L.
    public let layer: Int
    public let totalSamples: Int
    public let communicator: any Communicator
    public let space: VectorSpace
    private var gradient: [Double]
    private var input: ParameterBuffer<S>
    private var output: ParameterBuffer<S>
    private var parameterDirection: ParameterBuffer<S>

    /// `samples`: the global indices of the samples `jacobian` holds.
    public init(jacobian: BatchedJacobian<S>, layer: Int, samples: Range<Int>, totalSamples: Int,
                communicator: any Communicator = SerialCommunicator()) {
        precondition(samples.count == jacobian.sampleCount)
        precondition((1...jacobian.architecture.depth).contains(layer))
        let c = jacobian.outputCount
        let p = jacobian.architecture.layerParameterCount(layer)
        self.jacobian = jacobian
        self.layer = layer
        self.totalSamples = totalSamples
        self.communicator = communicator
        self.space = VectorSpace(dimension: totalSamples * c, local: (samples.lowerBound * c)..<(samples.upperBound * c),
                                 communicator: communicator.size > 1 ? communicator : nil)
        gradient = [Double](repeating: 0, count: p)
        input = ParameterBuffer(count: samples.count * c)
        output = ParameterBuffer(count: samples.count * c)
        parameterDirection = ParameterBuffer(count: p)
    }

    /// P_l.
    public var layerParameterCount: Int { gradient.count }

    public var unitRoundoff: Double { Double(S.ulpOfOne) }

    public func apply(_ x: UnsafePointer<Double>, into y: UnsafeMutablePointer<Double>) {
        let n = space.localDimension, p = gradient.count, l = layer
        gradient.withUnsafeMutableBufferPointer { g in
            input.withInput(x, count: n) { u in
                parameterDirection.withOutput(g.baseAddress!, count: p) { jacobian.layerVJP(layer: l, u, alpha: 1, into: $0) }
            }
            communicator.allreduceSum(g)
            parameterDirection.withInput(g.baseAddress!, count: p) { v in
                output.withOutput(y, count: n) { jacobian.layerJVP(layer: l, v, into: $0) }
            }
        }
        Double.scal(n: n, alpha: 1 / Double(totalSamples), x: y)
    }
}
