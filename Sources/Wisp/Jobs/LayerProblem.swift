/// This process's part of a curvature problem on a network given as layers
/// (``LayerArchitecture``): the network with its parameters θ — Gaussian initial weights
/// (``LayerArchitecture/initialParameters(for:seed:)``) or θ read from a model file
/// (``LayerModelFile``) — run forward over this process's block of the T input samples, and the
/// matrix-free operators on it (``LayerFisherOperator``, ``LayerGramOperator``). The inputs are
/// Gaussian (entry (t, j) of stream (seed, inputs), as for the MLP path) or read from a data
/// file (``loadInputs(_:architecture:communicator:)``: every format the MLP path reads, each
/// process reading only its rows, reshaped to the architecture's input shape).
///
/// With a ``Loss`` it also gives the matrices of the loss L(θ) = (1/T) Σ_t ℓ(f(x_t), y_t):
/// G = (1/T) Jᵀ H_ℓ J (``LayerFisherOperator`` with H_ℓ between the passes), H = G + S and
/// S (``LayerHessianOperator``). The targets y are the file's (``LayerInputs/targets``), their
/// width checked against the network's C, or else those of a teacher network: the same
/// architecture with Gaussian initial weights from ``Targets/teacherSeed(student:)`` (as the MLP
/// path's ``Targets/teacher(architecture:studentSeed:inputs:loss:precision:reduction:)``: its
/// outputs for mse, their one-hot arg-max for cross-entropy, [f > 0] for bce), run forward once
/// over this process's samples before the network's own forward pass (so it adds no memory).
///
/// Layers that couple samples (BatchNorm with batch statistics) sum their statistics over the
/// processes (``LayerSequence/setSampleReduction(_:)`` with the communicator).
///
/// The sizes are checked before anything grows with them: θ, the inputs and every layer's
/// cache (outputs, tangents, slopes, patch matrices) against the memory the process may use.
public final class LayerProblem {
    public let architecture: LayerArchitecture
    public let totalSamples: Int
    /// The global indices of this process's samples.
    public let samples: Range<Int>
    public let seed: UInt64
    public let precision: Precision
    public let communicator: any Communicator
    /// P.
    public let parameterCount: Int
    /// C, outputs per sample.
    public let outputCount: Int
    /// The state-dict names of θ's tensors, in θ's order.
    public let parameterNames: [String]
    /// θ as the network holds it, widened to Double (exactly, for float32), in θ's order: what
    /// `--save-model` writes. Read from the network on each call (a P-sized array), so the problem
    /// itself holds θ once, in the precision of the passes.
    public func parameters() -> [Double] { box.parameters() }
    /// The precision-specific half: the network, this process's inputs and targets.
    private let box: any LayerNetworkBox
    /// Where the inputs came from.
    public let inputSource: LayerInputSource
    /// Where θ came from (a loaded file's path and dtype; its values are not kept).
    public let weightSource: LayerWeightSource
    /// The loss of ggn, hessian and residual; nil: F and K (mse, no targets) only.
    public let loss: Loss?
    /// Where the targets came from; nil when none were given or needed.
    public let targetSource: LayerTargetSource?
    /// Flops of one J v plus one Jᵀ u over this process's samples.
    public var flopsPerProduct: Double { flopsPerSample * Double(samples.count) }
    /// Flops of one J v plus one Jᵀ u per sample (the passes are linear in the batch).
    public let flopsPerSample: Double
    /// What the problem must hold on this process: θ in the precision of the passes (P × its
    /// size) and the layers' caches of its samples (``cacheScalarsPerSample(_:)``, an upper
    /// estimate). Run records compare the peak resident memory against their sum.
    public let memoryFootprint: (weightsBytes: Int, activationsBytes: Int)
    /// Seconds spent reading the model and data and running the first forward pass, before a
    /// job's clock starts (set by whoever builds the problem; run records report it).
    public var setupSeconds: Double = 0
    /// The exact sample-space path's kernel of J Jᵀ (``LayerTangentKernel``), or why there is none.
    let exactKernel: LayerExactKernel
    /// Puts the network's caches back on this process's samples at θ (after a minibatch) before
    /// the exact kernel reads them. Collective with batch statistics.
    func prepareExact() throws { try box.prepareSamples() }
    /// H_ℓ of the loss at this process's outputs (G's weight; needs a loss).
    func outputHessian() throws -> OutputHessian { try box.lossEvaluation().outputHessian }
    /// The modules that own parameters, in θ's order: each one's state-dict prefix ("0",
    /// "3.body.0", "3.projection") and its range of θ (its weight and bias together).
    public let parameterBlocks: [(name: String, range: Range<Int>)]

    /// Gaussian inputs and Gaussian initial weights, both from `seed`.
    public convenience init(architecture: LayerArchitecture, totalSamples: Int, seed: UInt64, precision: Precision = .float64,
                            communicator: any Communicator = SerialCommunicator()) throws {
        guard totalSamples >= 1 else { throw WispError.invalidConfiguration("\(Setting.samples) must be at least 1 (got \(totalSamples))") }
        let block = communicator.block(of: totalSamples)
        let inputs = LayerInputs(dataset: try Dataset.gaussian(totalSamples: totalSamples, dimension: architecture.input.count, seed: seed, samples: block),
                                 source: .gaussian)
        try self.init(architecture: architecture, inputs: inputs, weights: .initial, seed: seed, precision: precision, communicator: communicator)
    }

    /// The problem on `inputs` (this process's block, of the architecture's input size) with θ
    /// from `weights` (``LayerWeightSource/initial``: Gaussian from `seed`), and with `loss` the
    /// targets of the loss matrices (the file's, else the teacher's). Local, except that layers
    /// coupling samples sum their batch statistics over `communicator` (then collective): the
    /// forward pass over this process's samples (two with a teacher).
    public init(architecture: LayerArchitecture, inputs: LayerInputs, weights: LayerWeightSource, seed: UInt64,
                precision: Precision = .float64, communicator: any Communicator = SerialCommunicator(), loss: Loss? = nil) throws {
        guard inputs.dataset.dimension == architecture.input.count else {
            throw WispError.badInput("the inputs have \(inputs.dataset.dimension) values per sample but the architecture's input \(architecture.input) has \(architecture.input.count)")
        }
        self.architecture = architecture
        self.totalSamples = inputs.dataset.totalSamples
        self.seed = seed
        self.precision = precision
        self.communicator = communicator
        self.inputSource = inputs.source
        self.weightSource = weights.origin
        self.loss = loss
        samples = inputs.dataset.samples
        let built = switch precision {
        case .float64: try Self.build(architecture, Double.self, inputs, weights, seed, communicator, loss)
        case .float32: try Self.build(architecture, Float.self, inputs, weights, seed, communicator, loss)
        }
        box = built.box
        (parameterCount, outputCount, parameterNames, flopsPerSample) = (box.parameterCount, box.outputCount, box.parameterNames, box.flopsPerSample)
        exactKernel = box.exactKernel
        targetSource = built.source
        memoryFootprint = built.footprint
        parameterBlocks = Self.blocks(names: box.parameterNames, counts: box.parameterTensorCounts)
    }

    /// Consecutive tensors with the same prefix (the name before its last ".") form one block.
    static func blocks(names: [String], counts: [Int]) -> [(name: String, range: Range<Int>)] {
        var blocks: [(name: String, range: Range<Int>)] = []
        var offset = 0
        for (name, count) in zip(names, counts) {
            let prefix = name.lastIndex(of: ".").map { String(name[..<$0]) } ?? name
            if let last = blocks.last, last.name == prefix, last.range.upperBound == offset {
                blocks[blocks.count - 1].range = last.range.lowerBound..<(offset + count)
            } else {
                blocks.append((prefix, offset..<(offset + count)))
            }
            offset += count
        }
        return blocks
    }

    /// The matrix-free K_B = (1/T) J_B J_Bᵀ of parameter block `b` (0-based in ``parameterBlocks``;
    /// ``LayerGramOperator`` restricted to the layer's block).
    public func makeBlockOperator(_ b: Int) throws -> any LinearOperator { try box.makeBlockOperator(parameterBlocks[b].range) }

    /// TC, the dimension of K.
    public var sampleSpaceDimension: Int { totalSamples * outputCount }

    /// The matrix-free operator of `matrix`: F (fisher), K (ntk), or with ``loss``
    /// G (ggn), H (hessian) or S (residual).
    public func makeOperator(_ matrix: CurvatureMatrix) throws -> any LinearOperator {
        if matrix.needsLoss, loss == nil {
            throw WispError.invalidConfiguration("matrix \(matrix.rawValue) needs a loss: make the layer problem with one")
        }
        return try box.makeOperator(matrix)
    }

    /// The targets of the loss matrices and of the alignment on this process's samples (the file's
    /// or the teacher's; rows of
    /// ``samples``), kept from the build; nil without a loss.
    public var targets: Targets? { box.targets }

    // MARK: Training

    /// L(θ) = (1/T) Σ_t ℓ(f(x_t), y_t) over all samples, and the fraction classified correctly
    /// where the targets are classes (collective: one allreduce of 2 numbers).
    public func evaluateLoss() throws -> (value: Double, accuracy: Double?) {
        let (local, classes) = try box.localLossAndGradient(gradient: false)
        var sums = Array(local.suffix(2))
        sums.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
        let T = Double(totalSamples)
        return (sums[0] / T, classes ? sums[1] / T : nil)
    }

    /// L(θ), the accuracy where the targets are classes, and ∇L(θ) = (1/T) Jᵀ r over all samples
    /// (P, on every process). Collective: one allreduce of P + 2 doubles. Cost: one backward pass
    /// (the forward pass is the cached one).
    public func lossAndGradient() throws -> (loss: Double, accuracy: Double?, gradient: [Double]) {
        var (g, classes) = try box.localLossAndGradient(gradient: true)
        g.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
        let P = parameterCount, T = Double(totalSamples)
        let (loss, accuracy) = (g[P] / T, classes ? g[P + 1] / T : nil)
        g.removeLast(2)
        return (loss, accuracy, g)
    }

    /// The minibatch loss (1/B) Σ_(t ∈ B) ℓ_t and gradient (1/B) Σ_(t ∈ B) J_tᵀ r_t at θ, where
    /// `local` are the global indices of this process's samples in B (ascending) and `batchSize`
    /// is |B| over all processes; batch statistics of BatchNorm layers are those of B, summed
    /// over the processes. Collective: one allreduce of P + 1 doubles. Cost: a forward and a
    /// backward pass over the local part of B. θ replaces the network's in place (no copy of the
    /// network); the caches then hold the batch, and the next full-sample use (operators, loss)
    /// reruns the forward pass: call ``setParameters(_:)`` before it to choose its θ.
    public func batchLossAndGradient(parameters theta: [Double], local: [Int], batchSize: Int) throws -> (loss: Double, gradient: [Double]) {
        var g = try box.localBatchGradient(parameters: theta, local: local, batchSize: batchSize)
        g.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
        let loss = g.removeLast() / Double(batchSize)
        return (loss, g)
    }

    /// Replaces θ (P values, converted to the precision of the passes in place) and reruns the
    /// forward pass (collective with batch statistics). The targets are kept; the loss's
    /// evaluation is dropped, and operators made before must not be used after (G's H_ℓ was
    /// the old θ's).
    public func setParameters(_ theta: [Double]) throws { try box.setParameters(theta) }

    /// L(θ') over all samples at other parameters θ' (collective). Leaves the problem at θ'
    /// (it keeps no copy of θ): the caller restores θ with ``setParameters(_:)``. Cost: one
    /// forward pass.
    public func evaluateLoss(at theta: [Double]) throws -> Double {
        try setParameters(theta)
        return try evaluateLoss().value
    }

    /// This process's predicted distributions at θ (rows × C): the outputs f for mse (or no
    /// loss), the loss's probabilities otherwise (softmax, or σ per output for bce). Local.
    public func localPredictions() throws -> [Double] {
        try box.localPredictions(probabilities: (loss ?? .mse) != .mse)
    }

    /// Jᵀ u (P, on every process) for u this process's rows × C. Collective: one backward pass
    /// over this process's samples and one allreduce of P doubles.
    public func jacobianTransposeProduct(_ u: [Double]) throws -> [Double] {
        precondition(u.count == samples.count * outputCount)
        var g = try box.localTransposeProduct(u)
        g.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
        return g
    }

    private static func build<S: BLASScalar>(_ architecture: LayerArchitecture, _: S.Type, _ inputs: LayerInputs, _ weights: LayerWeightSource,
                                              _ seed: UInt64, _ communicator: any Communicator, _ loss: Loss?)
        throws -> (box: any LayerNetworkBox, source: LayerTargetSource?, footprint: (weightsBytes: Int, activationsBytes: Int)) {
        let data = inputs.dataset
        let block = data.samples
        let layers = try architecture.makeLayers(as: S.self)
        let C = layers.last?.outputShape.count ?? architecture.input.count
        if let t = inputs.targets {
            guard t.columns == C else {
                throw WispError.badInput("\(t.source): the targets have \(t.columns) columns but the network has \(C) outputs (its last layer's \(layers.last?.outputShape.dimensions ?? []))")
            }
            try (loss ?? .mse).validate(targets: t, outputs: C)
        }
        let P = try MemoryBudget.sum("the parameters", layers.map { $0.parameterCount })
        let cacheBytes = try MemoryBudget.bytes("the layer caches", block.count, try cacheScalarsPerSample(layers), MemoryLayout<S>.size)
        // A teacher network (targets for a loss with none given) is held beside the network while
        // it runs forward: its θ and caches again, at the peak.
        let teacher = loss != nil && inputs.targets == nil
        try MemoryBudget.require(try MemoryBudget.bytes("the network", try MemoryBudget.sum("the network", [
            try MemoryBudget.count("the parameters", P, MemoryLayout<S>.size + 16),
            try MemoryBudget.count("the inputs", block.count, architecture.input.count, MemoryLayout<S>.size + 8),
            cacheBytes,
            teacher ? try MemoryBudget.count("the teacher network", P, MemoryLayout<S>.size) : 0,
            teacher ? cacheBytes : 0,
        ])), for: "the layer network (θ, inputs and the forward cache of \(block.count) samples\(teacher ? ", and the teacher network's" : ""))")
        let theta: [S]
        switch weights {
        case .initial:
            theta = architecture.initialParameters(for: layers, seed: seed)
        case let .loaded(_, _, values):
            guard values.count == P else { throw WispError.badInput("the model has \(values.count) parameters but the architecture \(P)") }
            theta = S.self == Double.self ? unsafeBitCast(values, to: [S].self) : values.map { S($0) }
        }
        var targets = inputs.targets
        var source = targets.map { LayerTargetSource(kind: "file", description: $0.source, columns: $0.columns, classes: $0.classes, teacherSeed: nil) }
        if let loss, targets == nil {
            let teacherSeed = Targets.teacherSeed(student: seed)
            let teacherLayers = try architecture.makeLayers(as: S.self)
            let teacher = try LayerSequence(layers: teacherLayers, parameters: architecture.initialParameters(for: teacherLayers, seed: teacherSeed))
            if teacher.couplesSamples { teacher.setSampleReduction(communicator) }
            try teacher.forward(data)
            let description = "teacher network (same architecture, Gaussian initial weights from seed \(teacherSeed)\(loss == .mse ? "" : ", labels for \(loss.rawValue)"))"
            let t = try Targets.teacher(outputs: teacher.outputs.map { Double($0) }, columns: C, samples: block, loss: loss, source: description)
            try loss.validate(targets: t, outputs: C)
            targets = t
            source = LayerTargetSource(kind: "teacher", description: description, columns: C, classes: t.classes, teacherSeed: teacherSeed)
        }
        let network = try LayerSequence(layers: layers, parameters: theta)
        if network.couplesSamples { network.setSampleReduction(communicator) }
        try network.forward(data)
        let box = LayerNetworkState(network: network, data: data, communicator: communicator, loss: loss, targets: targets)
        return (box, source, (weightsBytes: P * MemoryLayout<S>.size, activationsBytes: cacheBytes))
    }

    /// Scalars per sample of the layers' caches and scratch (an upper estimate): each output,
    /// its tangent and cotangent and an activation's slopes; each convolution's patch matrix
    /// and its two scratch blocks.
    static func cacheScalarsPerSample<S: BLASScalar>(_ layers: [any Layer<S>]) throws -> Int {
        var terms: [Int] = []
        for layer in layers {
            terms.append(try MemoryBudget.count("the layer caches", layer.outputShape.count, 4))
            if let c = layer as? Conv2D<S> {
                let q = c.outputShape.height * c.outputShape.width
                let k = try MemoryBudget.count("the patch matrix", c.inChannels, c.kernel.height, c.kernel.width)
                terms.append(try MemoryBudget.count("the patch matrix", q, k + 2 * max(k, c.outChannels)))
            } else if let r = layer as? Residual<S> {
                terms.append(try cacheScalarsPerSample(r.bodyLayers))
                if let p = r.projection { terms.append(try cacheScalarsPerSample([p])) }
            }
        }
        return try MemoryBudget.sum("the layer caches", terms)
    }
}

/// Where the targets of a layer network's loss matrices came from, as the record states it.
public struct LayerTargetSource: Encodable, Sendable, Equatable {
    /// "file" (`--targets`, `--labels`, `--target-column`) or "teacher".
    public var kind: String
    /// The file (and its columns or classes), or the teacher network.
    public var description: String
    /// C.
    public var columns: Int
    /// The class count of one-hot labels (of the teacher's for cross-entropy); nil for real values.
    public var classes: Int?
    /// The teacher's seed (``Targets/teacherSeed(student:)``).
    public var teacherSeed: UInt64?

    private enum CodingKeys: String, CodingKey { case kind, description, columns, classes, teacherSeed = "teacher_seed" }
}

/// Where a layer network's θ comes from.
public enum LayerWeightSource: Sendable {
    /// Gaussian initial weights from the seed (``LayerArchitecture/initialParameters(for:seed:)``).
    case initial
    /// Read from a safetensors file (``LayerModelFile``): its path, its tensors' dtype, θ.
    case loaded(path: String, dtype: String, parameters: [Double])

    /// One line for summaries and records.
    public var description: String {
        switch self {
        case .initial: return "Gaussian, kaiming_normal_ (fan_in): W ~ N(0, g²/fan_in), g = √2 before a ReLU, else 1; biases 0"
        case let .loaded(path, dtype, _): return "loaded from \(path) (\(dtype))"
        }
    }

    /// The same source without θ's values (`.loaded` with an empty array): what a problem keeps
    /// once its network holds θ, so a float32 network is not shadowed by a P-sized Float64 copy.
    public var origin: LayerWeightSource {
        if case let .loaded(path, dtype, _) = self { return .loaded(path: path, dtype: dtype, parameters: []) }
        return self
    }
}
