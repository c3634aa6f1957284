import ArgumentParser
import Wisp

/// Flags that define the network and its data (shared by every subcommand).
struct NetworkOptions: ParsableArguments {
    @Option(help: "Weight layers L (3 = two hidden layers). Default: 3.")
    var depth: Int?
    @Option(help: "Hidden width M of every hidden layer. Default: 512.")
    var width: Int?
    @Option(name: .customLong("input-dim"), help: "Input dimension d. Default: the width (or the columns of --inputs).")
    var inputDim: Int?
    @Option(help: "Linear outputs C. Default: the columns of the targets (classes of the labels), else 1.")
    var outputs: Int?
    @Option(help: "Hidden activation: \(Activation.allCases.map(\.rawValue).joined(separator: ", ")). Default: relu; with --model, the file's (required for a file that does not record it).")
    var activation: Activation?
    @Option(name: .customLong("sigma-w2"), help: "Weight variance σ_w² (times 1/fan_in). Default: 2; with --model, the file's if it records one.")
    var sigmaW2: Double?
    @Option(name: .customLong("sigma-b2"), help: "Bias variance σ_b². Default: 0; with --model, the file's if it records one.")
    var sigmaB2: Double?
    @Flag(name: .customLong("no-bias"), help: "Networks without biases.")
    var noBias = false
    @Option(help: "standard (W ~ N(0, σ_w²/fan_in)) or ntk (u = σ_w/√fan_in · W h + σ_b b). Default: standard; with --model, the file's (ntk is refused for a file that records none: its tensors are PyTorch Linear weights).")
    var parametrization: Parametrization?
    @Option(help: "Bias factor β of the NTK parametrization (Jacot et al.: u = W h/√fan_in + β b, W, b ~ N(0, 1)): sets --parametrization ntk, --sigma-w2 1 and --sigma-b2 β².")
    var beta: Double?
    @Option(help: "Loss of --matrix ggn|hessian|residual and of training: mse ((1/2T) Σ‖f − y‖²), cross-entropy (softmax), bce (per-output sigmoid).")
    var loss: Loss = .mse
    @Option(help: "Normalization layers (γ = 1, β = 0, full-batch statistics): none, last-mean, last-batchnorm, middle-batchnorm, layernorm. Default: none; with --model, the file's if it records one.")
    var normalization: Normalization?
    @OptionGroup var data: DataOptions
    @Option(help: "Parameters from a .safetensors file (<layer>.weight [out, in], <layer>.bias [out], a bias per layer optional; with --architecture, or a file saved with one, the layers' state-dict names and shapes); its recorded activation, parametrization, σ's and normalization win over the flags (a contradicting flag is an error).")
    var model: String?
    @Option(help: "A network given as layers: a JSON file with the input shape of one sample and the list of layers of an nn.Sequential (dense, conv2d, avgpool2d, maxpool2d, flatten, activations, residual; README \"Layers\"). Inputs from --inputs reshaped to its input shape (else Gaussian), weights from --model by state-dict names (else Gaussian He/LeCun from --seed); `top` and `density` only, matrix-free, --matrix fisher|ntk.")
    var architecture: String?
    @Option(help: "Seed of the counter-based streams (weights, inputs, probes).")
    var seed: UInt64 = 0
    @Option(help: "Precision of the network passes: float64 or float32 (solvers always use float64).")
    var precision: Precision = .float64
    @Option(name: .customLong("save-model"), help: "Also save the network's parameters to this .safetensors file.")
    var saveModel: String?
    @Option(name: .customLong("save-dtype"), help: "dtype of --save-model: f64 or f32.")
    var saveDtype: SafeTensorDType = .f64

    func validate() throws {
        if let beta {
            guard beta.isFinite, beta >= 0 else { throw ValidationError("--beta must be a finite non-negative number (got \(beta))") }
            for (flag, given) in [("--sigma-w2", sigmaW2 != nil), ("--sigma-b2", sigmaB2 != nil), ("--parametrization", parametrization != nil)] where given {
                throw ValidationError("\(flag) cannot be combined with --beta, which sets --parametrization ntk, --sigma-w2 1 and --sigma-b2 β²")
            }
        }
        if architecture != nil || isLayerModel {
            // The data flags apply (the inputs are reshaped to the description's input shape;
            // the targets and --loss serve ggn, hessian and residual); what shapes an MLP does not.
            let given: [(String, Bool)] = [
                ("--depth", depth != nil), ("--width", width != nil), ("--input-dim", inputDim != nil), ("--outputs", outputs != nil),
                ("--activation", activation != nil), ("--sigma-w2", sigmaW2 != nil), ("--sigma-b2", sigmaB2 != nil), ("--no-bias", noBias),
                ("--parametrization", parametrization != nil), ("--beta", beta != nil), ("--normalization", normalization != nil),
            ]
            let source = architecture != nil ? "--architecture" : "--model \(model!) (a network given as layers)"
            for (flag, isGiven) in given where isGiven {
                throw ValidationError("\(flag) cannot be combined with \(source): the description fixes the layers")
            }
            return
        }
        if model != nil {
            for (flag, given) in [("--depth", depth != nil), ("--width", width != nil), ("--outputs", outputs != nil), ("--no-bias", noBias)] where given {
                throw ValidationError("\(flag) cannot be combined with --model: the model file fixes the layer shapes")
            }
        }
    }

    /// Whether this run is on a network given as layers: `--architecture`, or a `--model` file
    /// that records one (``LayerModelFile/recordsArchitecture(path:)``, from its header).
    var isLayerNetwork: Bool { architecture != nil || isLayerModel }

    /// A `--model` without `--architecture` whose file records an architecture.
    var isLayerModel: Bool { architecture == nil && model.map(LayerModelFile.recordsArchitecture(path:)) == true }

    /// The data settings alone (for a network given as layers).
    var dataConfiguration: ProblemConfiguration {
        var c = ProblemConfiguration()
        data.apply(to: &c)
        c.seed = seed
        c.precision = precision
        return c
    }

    var configuration: ProblemConfiguration {
        var c = ProblemConfiguration()
        c.depth = depth ?? 3
        c.width = width ?? 512
        c.inputDimension = inputDim
        c.outputs = outputs ?? (data.hasTargets ? nil : 1)
        // The one place the defaults of the network's hyperparameters are applied: for a
        // model file, `given` says which were set, and the file fills the rest.
        var given = NetworkHyperparameters(activation: activation, parametrization: parametrization, sigmaW2: sigmaW2,
                                           sigmaB2: sigmaB2, normalization: normalization)
        if let beta {
            given.parametrization = .ntk
            given.sigmaW2 = 1
            given.sigmaB2 = beta * beta
        }
        let r = given.resolvedWithDefaults
        c.activation = r.activation
        c.sigmaW2 = r.sigmaW2
        c.sigmaB2 = r.sigmaB2
        c.parametrization = r.parametrization
        c.normalization = r.normalization
        c.given = given
        c.bias = !noBias
        c.loss = loss
        data.apply(to: &c)
        c.modelPath = model
        c.seed = seed
        c.precision = precision
        return c
    }

    /// Builds this process's part of the problem, checking every output path (rank 0) first
    /// (``OutputPath``): the JSON records `outputs` (`-` is stdout, and then the summary goes to
    /// stderr), the `siblings` extensions written beside them (csv, svg), the binary
    /// `files` (`--save-model` and the like) and the `directories` the run fills; none may be
    /// an input file (the data, the model, `inputs`). All processes agree on success before any
    /// computation, so a file missing or corrupt on one node stops every process with one
    /// message. Saves the network if asked (rank 0).
    func makeProblem(outputs: [String?], siblings: [String] = [], files: [String?] = [], directories: [String?] = [],
                     inputs: [String?] = []) throws -> Problem {
        if architecture != nil { throw ValidationError("--architecture is supported by `wisp run`, `wisp top`, `wisp density`, `wisp moments`, `wisp train`, `wisp align` and `wisp reduce` only (for now)") }
        if isLayerModel { throw ValidationError("--model \(model!) holds a network given as layers (metadata \(LayerModelFile.architectureKey)), which `wisp run`, `wisp top`, `wisp density`, `wisp moments`, `wisp train`, `wisp align` and `wisp reduce` read, and no other command yet") }
        let communicator = Runtime.communicator
        if outputs.contains(where: { $0.map(OutputPath.isStandardOutput) ?? false }) { Runtime.summaryToStandardError = true }
        let configuration = self.configuration
        let problem = try communicator.agree { () throws -> Problem in
            if Runtime.isLead {
                try OutputOptions.check(outputs: outputs, siblings: siblings, files: files + [saveModel], directories: directories,
                                        inputs: [configuration.inputsPath, configuration.targetsPath, configuration.labelsPath,
                                                 configuration.modelPath] + inputs)
            }
            return try Problem(configuration, communicator: communicator)
        }
        if Runtime.isLead, let path = saveModel { try problem.network().save(safetensors: path, dtype: saveDtype) }
        return problem
    }
}

/// Checkpointing of long solves.
struct CheckpointOptions: ParsableArguments {
    @Option(help: "Save progress to this directory and resume from it when rerun with the same settings.")
    var checkpoint: String?
    @Option(name: .customLong("checkpoint-every"), help: "Seconds between Lanczos checkpoints (SLQ saves after every probe).")
    var checkpointEvery: Double = 300

    /// The directory for a run of `command` with these solver settings (collective).
    func open<Settings: Encodable>(_ command: String, problem: Problem, settings: Settings, replicated: Bool) throws -> CheckpointDirectory? {
        try open(command, configuration: problem.configuration, communicator: problem.communicator, settings: settings, replicated: replicated)
    }

    /// The checkpoint directory of a run on a layer network.
    func open<Settings: Encodable>(_ command: String, problem: LayerProblem, settings: Settings, replicated: Bool) throws -> CheckpointDirectory? {
        try open(command, configuration: LayerRunIdentity(problem: problem), communicator: problem.communicator, settings: settings,
                 replicated: replicated)
    }

    private func open<Configuration: Encodable, Settings: Encodable>(_ command: String, configuration: Configuration, communicator: any Communicator,
                                                                   settings: Settings, replicated: Bool) throws -> CheckpointDirectory? {
        guard let checkpoint else { return nil }
        guard checkpointEvery >= 0, checkpointEvery.isFinite else {
            throw ValidationError("--checkpoint-every must be a non-negative number of seconds")
        }
        let fingerprint = try RunFingerprint(command: command, configuration: configuration, settings: settings)
        return try CheckpointDirectory(path: checkpoint, fingerprint: fingerprint, communicator: communicator,
                                       interval: checkpointEvery, replicatedVectors: replicated)
    }
}

/// Where results go.
struct OutputOptions: ParsableArguments {
    @Option(help: "Write the result as JSON to this file (written atomically); - writes it to stdout (the summary then goes to stderr).")
    var output: String?
    @Flag(help: "No progress lines on stderr.")
    var quiet = false

    /// The pre-check of every path a command writes (see ``NetworkOptions/makeProblem``).
    static func check(outputs: [String?], siblings: [String] = [], files: [String?] = [], directories: [String?] = [],
                      inputs: [String?]) throws {
        let inputs = inputs.compactMap { $0 }
        for case let path? in outputs {
            try OutputPath.check(path, standardOutput: true, inputs: inputs)
            if !OutputPath.isStandardOutput(path) {
                for ext in siblings { try OutputPath.check(OutputPath.sibling(of: path, extension: ext), inputs: inputs) }
            }
        }
        for case let path? in files { try OutputPath.check(path, inputs: inputs) }
        for case let path? in directories { try OutputPath.checkDirectory(path) }
        var seen = Set<String>()
        for case let path? in outputs + files where !OutputPath.isStandardOutput(path) {
            guard seen.insert(path).inserted else { throw WispError.output("cannot write \(path) twice: two outputs name the same file") }
        }
    }
}
