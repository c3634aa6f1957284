/// The precision-specific half of ``LayerProblem``: one ``LayerSequence``<S> with this
/// process's inputs and the loss's targets, so the passes are specialized for S while callers
/// see Float64.
protocol LayerNetworkBox: AnyObject {
    var parameterCount: Int { get }
    var outputCount: Int { get }
    var parameterNames: [String] { get }
    /// The sizes of θ's tensors, in θ's order.
    var parameterTensorCounts: [Int] { get }
    var flopsPerSample: Double { get }
    var exactKernel: LayerExactKernel { get }
    var targets: Targets? { get }
    func parameters() -> [Double]
    func makeOperator(_ matrix: CurvatureMatrix) throws -> any LinearOperator
    /// ℓ, r = ∂ℓ/∂f and H_ℓ at this process's outputs and targets (kept until θ changes).
    func lossEvaluation() throws -> LossEvaluation
    /// K_B = (1/T) J_B J_Bᵀ of the slice `block` of θ (``LayerGramOperator`` restricted to the layer's block).
    func makeBlockOperator(_ block: Range<Int>) throws -> any LinearOperator
    func setParameters(_ theta: [Double]) throws
    /// Reruns the forward pass over this process's samples if the caches hold a minibatch (the
    /// exact kernel's walk and column fallback read the caches). Collective with batch statistics.
    func prepareSamples() throws
    func localLossAndGradient(gradient: Bool) throws -> (sums: [Double], classes: Bool)
    func localBatchGradient(parameters theta: [Double], local: [Int], batchSize: Int) throws -> [Double]
    /// This process's outputs f (rows × C) or, with `probabilities`, the loss's predicted probabilities.
    func localPredictions(probabilities: Bool) throws -> [Double]
    /// This process's Jᵀ u (P) over its samples (not reduced).
    func localTransposeProduct(_ u: [Double]) throws -> [Double]
}

/// A layer network, this process's block of the samples, and the loss ℓ with its targets y:
///
///     L(θ) = (1/T) Σ_t ℓ(f(x_t; θ), y_t),   ∇L = (1/T) Jᵀ r,   r_t = ∂ℓ/∂f(x_t)
///
/// evaluated at the network's θ over the cached forward pass: ∇L is one VJP of r (the loss's
/// residual, T_block × C) into a P + 2 buffer whose tail carries Σ ℓ and the correct count, so
/// the caller sums all three with one allreduce. A minibatch gradient runs the same network
/// forward over the batch's local rows (θ replaced in place: no P-sized copy beyond θ itself),
/// which leaves the caches on the batch: the next full-sample use reruns the forward pass over
/// this process's samples first (``restoreSamples()``).
///
/// Not thread-safe (the network's caches are shared).
final class LayerNetworkState<S: BLASScalar>: LayerNetworkBox {
    let network: LayerSequence<S>
    let data: Dataset
    let communicator: any Communicator
    let loss: Loss?
    let targets: Targets?
    let exactKernel: LayerExactKernel
    let flopsPerSample: Double
    /// Whether the caches hold a minibatch (after ``localBatchGradient(parameters:local:batchSize:)``)
    /// or a failed forward pass rather than this process's samples at θ.
    private var holdsBatch = false
    /// ℓ, r and H_ℓ at the cached outputs; dropped when θ changes.
    private var evaluation: LossEvaluation?

    /// `network` has run forward over `data` (this process's block).
    init(network: LayerSequence<S>, data: Dataset, communicator: any Communicator, loss: Loss?, targets: Targets?) {
        self.network = network
        self.data = data
        self.communicator = communicator
        self.loss = loss
        self.targets = targets
        exactKernel = LayerExactKernel(network: network, totalSamples: data.totalSamples, communicator: communicator)
        let f = network.flops(batch: 1)
        flopsPerSample = f.jvp + f.vjp
    }

    var parameterCount: Int { network.parameterCount }
    var outputCount: Int { network.outputCount }
    var parameterNames: [String] { network.parameterNames }
    var parameterTensorCounts: [Int] { network.parameterTensors.map(\.count) }

    func parameters() -> [Double] {
        S.self == Double.self ? unsafeBitCast(network.parameters, to: [Double].self) : network.parameters.map { Double($0) }
    }

    /// Reruns the forward pass over this process's samples if the caches hold a minibatch
    /// (collective with batch statistics). Cost: one forward pass, or nothing.
    private func restoreSamples() throws {
        guard holdsBatch else { return }
        try network.forward(data)
        holdsBatch = false
        evaluation = nil
    }

    func prepareSamples() throws { try restoreSamples() }

    private func lossAndTargets() throws -> (Loss, Targets) {
        guard let loss, let targets else {
            throw WispError.invalidConfiguration("the layer problem has no loss: make it with one (\(Setting.loss)) to train or to form G, H or S")
        }
        return (loss, targets)
    }

    func lossEvaluation() throws -> LossEvaluation {
        try restoreSamples()
        if let evaluation { return evaluation }
        let (loss, targets) = try lossAndTargets()
        let e = loss.evaluate(outputs: network.outputs.map { Double($0) }, targets: targets.values, columns: outputCount)
        evaluation = e
        return e
    }

    func makeOperator(_ matrix: CurvatureMatrix) throws -> any LinearOperator {
        try restoreSamples()
        let (T, block) = (data.totalSamples, data.samples)
        switch matrix {
        case .ntk: return LayerGramOperator(network: network, samples: block, totalSamples: T, communicator: communicator)
        case .fisher: return LayerFisherOperator(network: network, totalSamples: T, communicator: communicator)
        case .ggn:
            return LayerFisherOperator(network: network, totalSamples: T, communicator: communicator, outputHessian: try lossEvaluation().outputHessian)
        case .hessian, .residual:
            let (loss, targets) = try lossAndTargets()
            return try LayerHessianOperator(network: network, targets: targets.values, loss: loss, part: matrix == .hessian ? .full : .residual,
                                            totalSamples: T, communicator: communicator)
        }
    }

    func makeBlockOperator(_ block: Range<Int>) throws -> any LinearOperator {
        try restoreSamples()
        return LayerGramOperator(network: network, block: block, samples: data.samples, totalSamples: data.totalSamples,
                                 communicator: communicator)
    }

    /// θ replaced (P values) and the forward pass rerun over this process's samples
    /// (collective with batch statistics); the loss's evaluation is dropped, the targets kept.
    func setParameters(_ theta: [Double]) throws {
        try network.setParameters(theta)
        holdsBatch = true
        evaluation = nil
        try restoreSamples()
    }

    /// This process's [(1/T) Jᵀ r (P; zeros without `gradient`), Σ ℓ, correct count] at θ, and
    /// whether the targets are classes (the count is meaningful). Cost: one backward pass.
    func localLossAndGradient(gradient: Bool) throws -> (sums: [Double], classes: Bool) {
        let e = try lossEvaluation()
        let (loss, targets) = try lossAndTargets()
        let P = parameterCount
        var g = gradient ? transposeProduct(e.gradient, scale: 1 / Double(data.totalSamples), extra: 2)
                         : [Double](repeating: 0, count: P + 2)
        let correct = loss.correct(outputs: network.outputs.map { Double($0) }, targets: targets.values, columns: outputCount, classes: targets.classes)
        g[P] = e.sum
        g[P + 1] = Double(correct ?? 0)
        return (g, correct != nil)
    }

    /// This process's [(1/B) Σ_(t ∈ local) J_tᵀ r_t (P), Σ_(t ∈ local) ℓ_t] at θ over the local rows
    /// `local` (global indices, ascending) of a batch of B samples over all processes; batch
    /// statistics are the batch's (summed over processes by the network's sample reduction,
    /// so every process must call this, with an empty `local` too). Leaves θ in the network and
    /// the caches on the batch. Cost: a forward and a backward pass over the local rows.
    func localBatchGradient(parameters theta: [Double], local: [Int], batchSize: Int) throws -> [Double] {
        let (loss, targets) = try lossAndTargets()
        try network.setParameters(theta)
        holdsBatch = true
        evaluation = nil
        let d = data.dimension, C = outputCount, first = data.samples.lowerBound
        var x = [S](), y = [Double]()
        x.reserveCapacity(local.count * d + 1)
        y.reserveCapacity(local.count * C)
        for i in local {
            precondition(data.samples.contains(i), "sample \(i) is not held by this process")
            let r = i - first
            for j in (r * d)..<((r + 1) * d) { x.append(S(data.values[j])) }
            y.append(contentsOf: targets.values[(r * C)..<((r + 1) * C)])
        }
        x.append(0)   // one spare scalar: an empty block still has an address
        try x.withUnsafeBufferPointer { try network.forward(inputs: $0.baseAddress!, samples: local.count, firstSample: 0) }
        let e = loss.evaluate(outputs: network.outputs.map { Double($0) }, targets: y, columns: C)
        var g = transposeProduct(e.gradient, scale: 1 / Double(batchSize), extra: 1)
        g[parameterCount] = e.sum
        return g
    }

    func localPredictions(probabilities: Bool) throws -> [Double] {
        try restoreSamples()
        return probabilities ? try lossEvaluation().outputHessian.probabilities : network.outputs.map { Double($0) }
    }

    func localTransposeProduct(_ u: [Double]) throws -> [Double] {
        try restoreSamples()
        return transposeProduct(u, scale: 1, extra: 0)
    }

    /// α Jᵀ u in Float64 over the cached batch (P entries), followed by `extra` zeros for the
    /// caller's sums, so that one allreduce carries them without reallocating the P-vector.
    private func transposeProduct(_ u: [Double], scale: Double, extra: Int) -> [Double] {
        let P = parameterCount
        let uS = (S.self == Double.self ? unsafeBitCast(u, to: [S].self) : u.map { S($0) }) + (u.isEmpty ? [0] : [])
        var g = [Double](repeating: 0, count: P + extra)
        if S.self == Double.self {
            uS.withUnsafeBufferPointer { up in
                g.withUnsafeMutableBufferPointer {
                    network.vjp(up.baseAddress!, alpha: S(scale), into: UnsafeMutableRawPointer($0.baseAddress!).assumingMemoryBound(to: S.self))
                }
            }
            return g
        }
        var gS = [S](repeating: 0, count: P)
        uS.withUnsafeBufferPointer { up in gS.withUnsafeMutableBufferPointer { network.vjp(up.baseAddress!, alpha: S(scale), into: $0.baseAddress!) } }
        g.withUnsafeMutableBufferPointer { gp in gS.withUnsafeBufferPointer { S.convert($0.baseAddress!, to: gp.baseAddress!, count: P) } }
        return g
    }
}
