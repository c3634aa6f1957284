/// The NTK Gram matrix, the dual of the Fisher matrix (Karakida et al. eq. S.5; Jacot et al.):
///
///     K = (1/T) J Jᵀ,   TC × TC,   K[(t,k),(s,k')] = (1/T) ⟨∇θ f_k(x_t), ∇θ f_k'(x_s)⟩,
///
/// which has the same nonzero eigenvalues as F = (1/T) Jᵀ J. Applied as K u = (1/T) J (Jᵀ u):
/// a VJP of the local samples, one sum of the P-vector Jᵀ u over processes, then a JVP.
/// Vectors are sample-space vectors (index t·C + k) distributed in the processes' sample
/// blocks. Cost per application as for ``FisherOperator``.
public final class NTKGramOperator<S: BLASScalar>: LinearOperator {
    public let jacobian: BatchedJacobian<S>
    public let totalSamples: Int
    public let communicator: any Communicator
    public let space: VectorSpace
    private var gradient: [Double]
    private var input: ParameterBuffer<S>
    private var output: ParameterBuffer<S>
    private var parameterDirection: ParameterBuffer<S>

    /// `samples`: the global indices of the samples `jacobian` holds.
    public init(jacobian: BatchedJacobian<S>, samples: Range<Int>, totalSamples: Int,
                communicator: any Communicator = SerialCommunicator()) {
        precondition(samples.count == jacobian.sampleCount)
        let c = jacobian.outputCount
        self.jacobian = jacobian
        self.totalSamples = totalSamples
        self.communicator = communicator
        self.space = VectorSpace(dimension: totalSamples * c, local: (samples.lowerBound * c)..<(samples.upperBound * c),
                                 communicator: communicator.size > 1 ? communicator : nil)
        gradient = [Double](repeating: 0, count: jacobian.parameterCount)
        input = ParameterBuffer(count: samples.count * c)
        output = ParameterBuffer(count: samples.count * c)
        parameterDirection = ParameterBuffer(count: jacobian.parameterCount)
    }

    public var unitRoundoff: Double { Double(S.ulpOfOne) }

    public func apply(_ x: UnsafePointer<Double>, into y: UnsafeMutablePointer<Double>) {
        let n = space.localDimension, p = jacobian.parameterCount
        gradient.withUnsafeMutableBufferPointer { g in
            input.withInput(x, count: n) { u in
                parameterDirection.withOutput(g.baseAddress!, count: p) { jacobian.vjp(u, alpha: 1, into: $0) }
            }
            communicator.allreduceSum(g)
            parameterDirection.withInput(g.baseAddress!, count: p) { v in
                output.withOutput(y, count: n) { jacobian.jvp(v, into: $0) }
            }
        }
        Double.scal(n: n, alpha: 1 / Double(totalSamples), x: y)
    }
}
