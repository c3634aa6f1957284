/// The Hessian of the training loss L(θ) = (1/T) Σ_t ℓ(f(x_t; θ), y_t) of a network given as
/// layers (``LayerSequence``), or its residual part (Jacot et al. §3.1):
///
///     H = G + S,   G = (1/T) Jᵀ H_ℓ J,   S = (1/T) Σ_(t,k) r_tk ∇²_θ f_k(x_t),   r = ∂ℓ/∂f,
///
/// P × P, applied matrix-free by the layers' R-operator (Pearlmutter 1994;
/// ``LayerSequence/hessianVectorProduct(_:signal:topTangent:into:)``) with Δ = r/T and, for H,
/// dΔ = (1/T) H_ℓ J v, over this process's samples, then one sum of the P-vector over
/// processes (samples sharded as for ``LayerFisherOperator``; θ and v replicated). H and S are
/// indefinite. ℓ is any ``Loss`` (mse: r = f − y, H_ℓ = I).
///
/// Cost per application: one JVP keeping every layer's tangent and every layer's R-op (about
/// 2.5 × ``LayerSequence/flopsPerProduct`` for dense and convolutional layers) plus one
/// allreduce of P doubles. Memory: every layer's tangent and the R-op scratch over the batch.
public final class LayerHessianOperator<S: BLASScalar>: LinearOperator {
    /// Which matrix: H = G + S (`.full`) or S (`.residual`).
    public typealias Part = HessianOperator<S>.Part

    public let network: LayerSequence<S>
    public let part: Part
    public let loss: Loss
    /// T over all processes.
    public let totalSamples: Int
    public let communicator: any Communicator
    public let space: VectorSpace
    /// Σ_t ℓ over this process's samples (not divided by T).
    public let localLossSum: Double
    private let outputHessian: OutputHessian
    /// Δ = r/T in precision S (n × C).
    private let signal: [S]
    private var input: ParameterBuffer<S>
    private var output: ParameterBuffer<S>

    /// `network` must have run its forward pass over this process's samples; `targets` are
    /// their targets (n × C, row-major, like ``LayerSequence/outputs``). Throws when the
    /// targets' count is not n·C or one is not finite, or when they do not suit `loss`.
    public init(network: LayerSequence<S>, targets: [Double], loss: Loss = .mse, part: Part = .full, totalSamples: Int,
                communicator: any Communicator = SerialCommunicator()) throws {
        let (n, C) = (network.sampleCount, network.outputCount)
        guard targets.count == n * C else {
            throw WispError.badInput("the Hessian needs \(n) × \(C) targets for the network's \(n) samples and \(C) outputs, got \(targets.count) values")
        }
        if let bad = targets.firstIndex(where: { !$0.isFinite }) {
            throw WispError.nonFinite("target \(bad) (sample \(bad / max(C, 1)), output \(bad % max(C, 1))) is \(targets[bad])")
        }
        guard totalSamples >= max(n, 1) else {
            throw WispError.invalidConfiguration("the Hessian's total sample count \(totalSamples) is below this process's \(n) samples")
        }
        if loss == .crossEntropy, C < 2 {
            throw WispError.invalidConfiguration("the cross-entropy loss needs at least 2 outputs (a softmax of one output is constant)")
        }
        let evaluation = loss.evaluate(outputs: network.outputs.map { Double($0) }, targets: targets, columns: C)
        self.network = network
        self.part = part
        self.loss = loss
        self.totalSamples = totalSamples
        self.communicator = communicator
        space = .replicated(network.parameterCount)
        localLossSum = evaluation.sum
        outputHessian = evaluation.outputHessian
        let scale = 1 / Double(totalSamples)
        signal = evaluation.gradient.map { S($0 * scale) } + [0]
        input = ParameterBuffer(count: network.parameterCount)
        output = ParameterBuffer(count: network.parameterCount)
    }

    public var unitRoundoff: Double { Double(S.ulpOfOne) }

    public func apply(_ x: UnsafePointer<Double>, into y: UnsafeMutablePointer<Double>) {
        let p = network.parameterCount, rows = network.sampleCount
        let (hessian, scale) = (outputHessian, 1 / Double(totalSamples))
        let top: ((UnsafeMutablePointer<S>) -> Void)? = part == .full ? { hessian.apply($0, rows: rows, scale: scale) } : nil
        signal.withUnsafeBufferPointer { r in
            input.withInput(x, count: p) { v in
                output.withOutput(y, count: p) { g in
                    network.hessianVectorProduct(v, signal: r.baseAddress!, topTangent: top, into: g)
                }
            }
        }
        communicator.allreduceSum(UnsafeMutableBufferPointer(start: y, count: p))
    }
}
