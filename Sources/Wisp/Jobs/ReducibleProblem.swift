/// What model reduction (``ModelReduction``, ``ReductionEmbedding``) and the export of F's
/// eigenvectors (``EigenvectorExport``) need of a problem, on top of training's θ, its
/// replacement and the loss (``TrainableProblem``; its ``CurvatureProblem/matrixLoss`` is the
/// loss whose Fisher is reduced on): this process's predictions and targets for the InPCA embedding, the VJP Jᵀu that maps sample-space
/// eigenvectors to parameter space, the state-dict layout of θ (names, shapes, offsets) for the
/// files, and reading an initial model of the same network. ``Problem`` (MLPs) and
/// ``LayerProblem`` (networks given as layers) conform, so one code path serves both.
public protocol ReducibleProblem: TrainableProblem {
    /// The precision of the passes (the zero threshold of mapped eigenvectors scales with its ε).
    var passPrecision: Precision { get }
    /// This process's predicted distributions at θ, rows × C over its samples: the outputs f
    /// for mse, the softmax (or per-output σ) probabilities otherwise. Local.
    func localPredictions() throws -> [Double]
    /// The targets of this process's samples (collective for a teacher).
    func localTargets() throws -> Targets
    /// Jᵀ u (P, on every process) for u this process's rows × C; one backward pass and one
    /// allreduce of P doubles. Collective.
    func jacobianTransposeProduct(_ u: [Double]) throws -> [Double]
    /// θ's tensors in θ's order: the model file's state-dict name, shape and offset in θ.
    var parameterLayout: [ParameterSlot] { get }
    /// The parameters of the model in `path` (a file of this network, `setting` the flag that
    /// named it), refused in one line naming the first difference if it is another network's.
    func readModel(_ path: String, setting: Setting) throws -> [Double]
    /// Writes θ (P) as a model file that `--model` reads back for this network (rank 0 only).
    func saveModel(_ theta: [Double], to path: String, dtype: SafeTensorDType) throws
}

/// One tensor of θ: its state-dict name ("0.weight", "3.body.0.bias"), shape, and offset in θ.
public struct ParameterSlot: Sendable, Equatable {
    public var name: String
    public var shape: [Int]
    public var offset: Int
    public var count: Int { shape.reduce(1, *) }
    public init(name: String, shape: [Int], offset: Int) {
        self.name = name
        self.shape = shape
        self.offset = offset
    }
}

extension Problem: ReducibleProblem {
    public var passPrecision: Precision { configuration.precision }

    public func localPredictions() throws -> [Double] {
        configuration.loss == .mse ? localOutputs() : try lossEvaluation().outputHessian.probabilities
    }

    public func localTargets() throws -> Targets { try targets() }

    /// `n = 2(l − 1)` as in PyTorch's nn.Sequential (activations between the linear layers).
    public var parameterLayout: [ParameterSlot] {
        let a = architecture
        var slots = [ParameterSlot]()
        for l in 1...a.depth {
            slots.append(ParameterSlot(name: "\(2 * (l - 1)).weight", shape: [a.widths[l], a.widths[l - 1]], offset: a.weightOffset(l)))
            if a.hasBias(l) { slots.append(ParameterSlot(name: "\(2 * (l - 1)).bias", shape: [a.widths[l]], offset: a.biasOffset(l))) }
        }
        return slots
    }

    /// Layer shapes and biases are checked; the activation and parametrization come from the same flags.
    public func readModel(_ path: String, setting: Setting) throws -> [Double] {
        let a = architecture
        let net = try Network<Double>.load(safetensors: path, activation: a.activation, parametrization: a.parametrization,
                                           sigmaW2: a.sigmaW2, sigmaB2: a.sigmaB2, normalization: a.normalization)
        let b = net.architecture
        guard b.widths == a.widths, b.layerBias == a.layerBias else {
            throw WispError.badInput("\(setting) \(path): layer widths \(b.widths) with layer biases \(b.layerBias) differ from the model's \(a.widths) with \(a.layerBias)")
        }
        return net.parameters
    }

    public func saveModel(_ theta: [Double], to path: String, dtype: SafeTensorDType) throws {
        try Network<Double>(architecture: architecture, parameters: theta).save(safetensors: path, dtype: dtype)
    }
}

extension LayerProblem: ReducibleProblem {
    public var passPrecision: Precision { precision }

    public func localTargets() throws -> Targets {
        guard let targets else {
            throw WispError.invalidConfiguration("the layer problem has no loss: make it with one (\(Setting.loss)) and its targets")
        }
        return targets
    }

    public var parameterLayout: [ParameterSlot] {
        ((try? LayerModelFile.slots(architecture)) ?? []).map { ParameterSlot(name: $0.name, shape: $0.shape, offset: $0.offset) }
    }

    /// A file recording its architecture must record this one (else the first difference is
    /// named); a file without one is read with this architecture (its tensors' names and shapes checked).
    public func readModel(_ path: String, setting: Setting) throws -> [Double] {
        let loaded = try LayerModelFile.load(path: path, architecture: LayerModelFile.recordsArchitecture(path: path) ? nil : architecture)
        if loaded.architecture != architecture {
            throw WispError.badInput("\(setting) \(path) is a model of another architecture than the model's (\(LayerModelFile.firstDifference(loaded.architecture, architecture)))")
        }
        return loaded.parameters
    }

    public func saveModel(_ theta: [Double], to path: String, dtype: SafeTensorDType) throws {
        try LayerModelFile.save(theta, architecture: architecture, to: path, dtype: dtype)
    }
}
