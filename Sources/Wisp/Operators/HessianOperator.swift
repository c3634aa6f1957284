/// The Hessian of the training loss L(θ) = (1/T) Σ_t ℓ(f(x_t), y_t), or its residual part,
/// in parameter space (Jacot et al. §3.1, "H = I + S"):
///
///     H = G + S,   G = (1/T) Jᵀ H_ℓ J,   S = (1/T) Σ_(t,k) r_tk ∇²_θ f_k(x_t),   r = ∂ℓ/∂f,
///
/// applied matrix-free by the R-operator (``HessianVectorProduct``) over the local samples and
/// one sum of the P-vector over processes. H and S are indefinite: solve for
/// ``SpectrumEnd/largestMagnitude`` or ``SpectrumEnd/smallest`` as well as the top.
/// (G alone is ``FisherOperator`` with the loss's ``OutputHessian``.)
///
/// Cost per application: about 1.75 Fisher products (``HessianVectorProduct``) plus one
/// allreduce of P doubles.
public final class HessianOperator<S: BLASScalar>: LinearOperator {
    /// Which matrix the operator applies.
    public enum Part: Sendable {
        /// H = G + S.
        case full
        /// S = H − G.
        case residual
    }

    public let part: Part
    public let product: HessianVectorProduct<S>
    public let totalSamples: Int
    public let communicator: any Communicator
    public let space: VectorSpace
    private let outputHessian: OutputHessian
    /// Δ^L = r/T in precision S (T_block × C).
    private let signal: [S]
    /// v in precision S (read through the whole pass), and H v (Float32 only).
    private var input: ParameterBuffer<S>
    private var output: ParameterBuffer<S>

    /// `loss` holds r and H_ℓ at this process's outputs (``Loss/evaluate(outputs:targets:columns:)``).
    public init(jacobian: BatchedJacobian<S>, loss: LossEvaluation, part: Part, totalSamples: Int,
                communicator: any Communicator = SerialCommunicator()) throws {
        precondition(loss.gradient.count == jacobian.sampleCount * jacobian.outputCount)
        self.product = try HessianVectorProduct(jacobian: jacobian)
        self.part = part
        self.totalSamples = totalSamples
        self.communicator = communicator
        self.space = .replicated(jacobian.parameterCount)
        self.outputHessian = loss.outputHessian
        let scale = 1 / Double(totalSamples)
        self.signal = loss.gradient.map { S($0 * scale) } + (loss.gradient.isEmpty ? [0] : [])
        input = ParameterBuffer(count: jacobian.parameterCount)
        output = ParameterBuffer(count: jacobian.parameterCount)
    }

    public var unitRoundoff: Double { Double(S.ulpOfOne) }

    public func apply(_ x: UnsafePointer<Double>, into y: UnsafeMutablePointer<Double>) {
        let p = product.jacobian.parameterCount
        let rows = product.jacobian.sampleCount
        let (hessian, scale) = (outputHessian, 1 / Double(totalSamples))
        let top: ((UnsafeMutablePointer<S>) -> Void)? = part == .full ? { hessian.apply($0, rows: rows, scale: scale) } : nil
        signal.withUnsafeBufferPointer { r in
            input.withInput(x, count: p) { v in
                output.withOutput(y, count: p) { g in
                    product.apply(v, signal: r.baseAddress!, topTangent: top, into: g)
                }
            }
        }
        communicator.allreduceSum(UnsafeMutableBufferPointer(start: y, count: p))
    }
}
