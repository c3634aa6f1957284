import Foundation

/// What a ``ProblemConfiguration`` resolves to: the network that runs, this process's samples
/// and the targets a file gives. Precision-free: the passes are built from it by
/// ``MLPNetworkState``.
public struct ResolvedProblem {
    /// The configuration with its network fields set to the network that runs (a loaded model's
    /// widths, biases and recorded hyperparameters), whatever the input said.
    public var configuration: ProblemConfiguration
    public var architecture: Architecture
    /// The model file's network (θ in Float64); nil when θ is drawn from the seed.
    public var model: Network<Double>?
    /// This process's block of the samples (inputs preprocessed).
    public var dataset: Dataset
    /// The targets `--targets`/`--labels`/`--target-column` give (nil: a teacher network's).
    public var fileTargets: Targets?
    /// What the collective preprocessing steps found (scale divisor, constant features).
    public var preprocessing: Preprocessing.Summary
}

/// From a ``ProblemConfiguration`` (flags, files, defaults) to a ``ResolvedProblem``: reads the
/// model file and this process's rows of the data files, agrees on their shapes across
/// processes, finishes the collective preprocessing, and builds the MLP's ``Architecture``
/// (from the model, or from the flags with C = `--outputs` or the targets' columns), checking
/// that network, inputs and targets fit together and that the network fits in memory
/// (``RunMemory``) before anything P-sized is allocated. Every failure is agreed across
/// processes, so all stop with the same error.
///
/// Cost: reading the files (each process its rows) and the preprocessing's allreduces; no pass.
public enum ProblemResolver {
    public static func resolve(_ configuration: ProblemConfiguration, communicator: any Communicator) throws -> ResolvedProblem {
        let c = configuration

        // Local phase, agreed across processes before any collective: the model file, and the
        // data files (each process reads its own rows; see ``DataLoader``).
        let (model, local) = try communicator.agree { () throws -> (Network<Double>?, LocalData) in
            var model: Network<Double>? = nil
            if let path = c.modelPath {
                let given = c.given ?? NetworkHyperparameters(.init(activation: c.activation, parametrization: c.parametrization,
                                                                    sigmaW2: c.sigmaW2, sigmaB2: c.sigmaB2, normalization: c.normalization))
                model = try Network<Double>.load(safetensors: path, given: given)
            } else {
                guard let width = c.width, width >= 1 else { throw WispError.invalidConfiguration("\(Setting.width) must be at least 1 (got \(c.width.map(String.init) ?? "none"))") }
            }
            let gaussianDimension = model?.architecture.inputDimension ?? c.inputDimension ?? c.width ?? 1
            return (model, try DataLoader.readLocal(c, gaussianDimension: gaussianDimension, communicator: communicator))
        }
        // Collective phase: the same calls on every process, on data of the same shapes.
        try DataLoader.agreeOnShapes(local, extra: [("model layer widths", model.map { "\($0.architecture.widths)" } ?? "none")],
                                     communicator: communicator)
        let data = try DataLoader.finish(consume local, configuration: c, communicator: communicator)
        let fileD = c.inputsPath != nil ? data.dataset.dimension : nil

        // The network: from a file (shapes fixed by it) or from flags. Its outputs C are
        // --outputs, or the targets' columns.
        let built: Architecture
        if let model {
            _ = try communicator.agree {
                try RunMemory.checkNetwork(widths: model.architecture.widths, localSamples: data.dataset.samples.count,
                                           precision: c.precision)
            }
            built = model.architecture
            if let t = data.targets, t.columns != model.architecture.outputs {
                throw WispError.badInput("\(c.modelPath!): the model has \(model.architecture.outputs) outputs but the targets \(t.source) have \(t.columns) columns")
            }
        } else {
            let width = c.width ?? 0
            let d = c.inputDimension ?? fileD ?? width
            let outputs = c.outputs ?? data.targets?.columns ?? 1
            // Agreed: the memory available differs between nodes, and a failure on one must stop all.
            try communicator.agree {
                try RunMemory.checkNetwork(depth: c.depth, width: width, inputDimension: d, outputs: outputs,
                                           localSamples: data.dataset.samples.count, precision: c.precision)
            }
            if let t = data.targets, t.columns != outputs {
                throw WispError.invalidConfiguration("\(Setting.outputs) \(outputs) disagrees with the \(t.columns) columns of the targets \(t.source)")
            }
            let arch = try Architecture(depth: c.depth, width: width, inputDimension: d, outputs: outputs,
                                        activation: c.activation, hasBias: c.bias, parametrization: c.parametrization,
                                        sigmaW2: c.sigmaW2, sigmaB2: c.sigmaB2, normalization: c.normalization)
            built = arch
        }
        let architecture = built
        let d = architecture.inputDimension
        if let given = c.inputDimension, given != d {
            throw WispError.invalidConfiguration("\(Setting.inputDimension) \(given) disagrees with the \(model != nil ? "model's" : "inputs'") input dimension \(d)")
        }
        if let fileD, fileD != d {
            throw WispError.badInput("\(c.inputsPath!): inputs have \(fileD) features but the network's first layer takes \(d)")
        }
        return ResolvedProblem(configuration: resolved(c, architecture: architecture), architecture: architecture, model: model,
                               dataset: data.dataset, fileTargets: data.targets, preprocessing: data.preprocessing)
    }

    /// `c` with its network fields set to `a`'s: what the record shows is the network that ran.
    static func resolved(_ c: ProblemConfiguration, architecture a: Architecture) -> ProblemConfiguration {
        var r = c
        r.depth = a.depth
        let hidden = Set(a.widths.dropFirst().dropLast())
        r.width = hidden.count == 1 ? hidden.first : nil
        r.widths = a.widths
        r.inputDimension = a.inputDimension
        r.outputs = a.outputs
        r.activation = a.activation
        r.parametrization = a.parametrization
        r.sigmaW2 = a.sigmaW2
        r.sigmaB2 = a.sigmaB2
        r.normalization = a.normalization
        r.bias = a.everyLayerHasBias
        r.layerBias = a.layerBias
        return r
    }
}
