/// The NTK Gram matrix, the dual of the Fisher matrix (Karakida et al. eq. S.5; Jacot et al.):
///
///     K = (1/T) J Jᵀ,   TC × TC,   K[(t,k),(s,k')] = (1/T) ⟨∇θ f_k(x_t), ∇θ f_k'(x_s)⟩,
///
/// which has the same nonzero eigenvalues as F = (1/T) Jᵀ J. Vectors are sample-space vectors
/// (index t·C + k) distributed in the processes' sample blocks. Two ways to apply it (``Path``):
///
/// - ``Path/sampleSpace`` (the default): ``SampleSpaceProduct``, the VJP's backward signals
///   Δ_l(u) kept and each layer's gradient block consumed by the tangent pass without forming
///   Jᵀ u: through the forward Gram (c_l² H_(l−1) H_(l−1)ᵀ + c_b² 11ᵀ) Δ_l when T ≤ M_(l−1),
///   else through one M_l × M_(l−1) scratch. No P-sized buffer in any precision; flops
///   ``flopsPerApplication``, never
///   more than the other path's (about 4·T·M² + 4·T²·M against 12·T·M² at L = 3, d = M, C = 1);
///   communication Σ_l T·M_l gathered (Gram layers) or P_l allreduced (block layers).
/// - ``Path/parameterSpace``: K u = (1/T) J (Jᵀ u), a VJP into a P-vector, one allreduce of P
///   doubles, then a JVP: ``BatchedJacobian/flopsPerProduct`` flops, memory P doubles (plus P
///   Float32 for Float32 passes). Kept as the reference the lean path is tested against.
public final class NTKGramOperator<S: BLASScalar>: LinearOperator {
    /// How K u is formed (see the type's documentation).
    public enum Path: String, Sendable { case sampleSpace = "sample-space", parameterSpace = "parameter-space" }

    public let jacobian: BatchedJacobian<S>
    public let totalSamples: Int
    public let communicator: any Communicator
    public let space: VectorSpace
    public let path: Path
    private let lean: SampleSpaceProduct<S>?
    private var gradient: [Double]
    private var input: ParameterBuffer<S>
    private var output: ParameterBuffer<S>
    private var parameterDirection: ParameterBuffer<S>

    /// `samples`: the global indices of the samples `jacobian` holds; `layerRoutes` overrides the
    /// sample-space path's choice per layer (tests, benchmarks). Collective with several
    /// processes (the sample-space path gathers the forward activations once).
    public init(jacobian: BatchedJacobian<S>, samples: Range<Int>, totalSamples: Int,
                communicator: any Communicator = SerialCommunicator(), path: Path = .sampleSpace,
                layerRoutes: [GramLayerRoute]? = nil) {
        precondition(samples.count == jacobian.sampleCount)
        let c = jacobian.outputCount
        self.jacobian = jacobian
        self.totalSamples = totalSamples
        self.communicator = communicator
        self.path = path
        self.space = VectorSpace(dimension: totalSamples * c, local: (samples.lowerBound * c)..<(samples.upperBound * c),
                                 communicator: communicator.size > 1 ? communicator : nil)
        let P = path == .parameterSpace ? jacobian.parameterCount : 0
        lean = path == .sampleSpace ? SampleSpaceProduct(jacobian: jacobian, totalSamples: totalSamples, communicator: communicator,
                                                                   routes: layerRoutes) : nil
        gradient = [Double](repeating: 0, count: P)
        input = ParameterBuffer(count: samples.count * c)
        output = ParameterBuffer(count: samples.count * c)
        parameterDirection = ParameterBuffer(count: P)
    }

    public var unitRoundoff: Double { Double(S.ulpOfOne) }

    /// GEMM flops of one application on this process's block.
    public var flopsPerApplication: Double {
        lean?.flopsPerApplication ?? jacobian.flopsPerProduct
    }

    /// The route of each layer l (index l − 1) on the sample-space path (by the rule of
    /// ``SampleSpaceProduct`` unless `layerRoutes` was given); empty on the parameter-space path.
    public var layerRoutes: [GramLayerRoute] { lean?.routes ?? [] }

    public func apply(_ x: UnsafePointer<Double>, into y: UnsafeMutablePointer<Double>) {
        let n = space.localDimension
        if let lean {
            // One buffer serves u and then K u: the product reads u only in its backward pass.
            input.withInput(x, count: n) { u in
                output.withOutput(y, count: n) { lean.apply(u, into: $0) }
            }
        } else {
            let p = jacobian.parameterCount
            gradient.withUnsafeMutableBufferPointer { g in
                input.withInput(x, count: n) { u in
                    parameterDirection.withOutput(g.baseAddress!, count: p) { jacobian.vjp(u, alpha: 1, into: $0) }
                }
                communicator.allreduceSum(g)
                parameterDirection.withInput(g.baseAddress!, count: p) { v in
                    output.withOutput(y, count: n) { jacobian.jvp(v, into: $0) }
                }
            }
        }
        Double.scal(n: n, alpha: 1 / Double(totalSamples), x: y)
    }
}
