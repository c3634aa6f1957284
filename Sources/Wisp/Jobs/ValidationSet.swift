/// Held-out samples for `wisp train`: inputs and targets (or labels) in files of their own —
/// Fashion-MNIST and MNIST ship their test split as `t10k-*.gz` — on which the network is
/// evaluated at every checkpoint: the validation loss (1/V) Σ_v ℓ(f(x_v), y_v) and, for class
/// targets, the fraction classified correctly. Never trained on.
///
/// The set is a second ``Problem`` with the training network's configuration and these files,
/// sharded over the processes like the training samples (`block(of: V)`), so its numbers do
/// not depend on the number of processes; at a checkpoint it takes the training θ
/// (``Problem/setParameters(_:)``) and costs one forward pass over V samples and one
/// allreduce of 2 numbers.
///
/// Preprocessing applies to both sets by the same flags: `--pool` is per image; `--scale-pixels`
/// divides the validation inputs by the training inputs' divisor (their largest value), not by
/// their own; `--standardize` would use the validation set's own statistics, so it is refused
/// with a validation set.
public struct ValidationSettings: Codable, Sendable, Equatable {
    /// The validation inputs (.npy, IDX, gzip-compressed IDX, CSV).
    public var inputsPath: String
    /// Real-valued targets, or class labels (exactly one of the two, matching the training's kind).
    public var targetsPath: String?
    public var labelsPath: String?
    /// V, the first rows of the files to use; nil: all.
    public var samples: Int?

    public init(inputsPath: String, targetsPath: String? = nil, labelsPath: String? = nil, samples: Int? = nil) {
        self.inputsPath = inputsPath
        self.targetsPath = targetsPath
        self.labelsPath = labelsPath
        self.samples = samples
    }

    private enum CodingKeys: String, CodingKey {
        case inputsPath = "inputs", targetsPath = "targets", labelsPath = "labels", samples
    }

    /// The validation problem for `training`, whose input configuration (before resolution:
    /// the same network flags or model file) is `base` (collective).
    public func makeProblem(training: Problem, base: ProblemConfiguration) throws -> Problem {
        var c = try configuration(base: base)
        c.scaleDivisor = training.preprocessingSummary.scaleDivisor
        // The classes are the training's (the network's outputs), whatever labels the set holds.
        if labelsPath != nil { c.classes = training.architecture.outputs }
        c.outputs = training.architecture.outputs
        let problem = try Self.namingTheFlag { try Problem(c, communicator: training.communicator) }
        guard problem.architecture.widths == training.architecture.widths else {
            throw WispError.badInput("the validation set \(printable(inputsPath)) gives a network of widths \(problem.architecture.widths), the training set \(training.architecture.widths)")
        }
        try problem.setParameters(training.parameters)
        return problem
    }

    /// The validation problem of a network given as layers: the same architecture, loss and θ as
    /// `training`, on these files read like the training inputs (`base`: the data flags),
    /// reshaped to the architecture's input shape (collective). The validation network holds
    /// its own copy of θ (P scalars) and the caches of its V samples.
    public func makeProblem(training: LayerProblem, base: ProblemConfiguration) throws -> LayerProblem {
        var c = try configuration(base: base)
        c.scaleDivisor = training.inputSource.preprocessing.scaleDivisor
        if labelsPath != nil { c.classes = training.outputCount }
        let inputs = try Self.namingTheFlag { try LayerProblem.loadInputs(c, architecture: training.architecture, communicator: training.communicator) }
        return try LayerProblem(architecture: training.architecture, inputs: inputs,
                                weights: .loaded(path: "the training network", dtype: training.precision.rawValue, parameters: training.parameters()),
                                seed: training.seed, precision: training.precision, communicator: training.communicator,
                                loss: training.loss ?? .mse)
    }

    /// Runs `load`, naming `--validation-samples` where the loader's error names `--samples`
    /// (the validation set's V is the loader's T).
    private static func namingTheFlag<R>(_ load: () throws -> R) throws -> R {
        do { return try load() } catch let WispError.invalidConfiguration(message) where message.hasPrefix("\(Setting.samples) ") {
            throw WispError.invalidConfiguration("\(Setting.validationSamples)" + message.dropFirst("\(Setting.samples)".count))
        }
    }

    /// `base` (the training's input configuration) with these files instead of the training
    /// data, after the checks both paths share.
    private func configuration(base: ProblemConfiguration) throws -> ProblemConfiguration {
        let trainingUsesLabels = base.labelsPath != nil
        guard (targetsPath != nil) != (labelsPath != nil) else {
            throw WispError.invalidConfiguration("\(Setting.validationInputs) needs exactly one of \(Setting.validationTargets) and \(Setting.validationLabels)")
        }
        guard base.inputsPath != nil, base.targetsPath != nil || base.labelsPath != nil, base.targetColumns == nil else {
            throw WispError.invalidConfiguration("\(Setting.validationInputs) needs training inputs and targets from files (\(Setting.inputs) with \(Setting.targets) or \(Setting.labels))")
        }
        guard trainingUsesLabels == (labelsPath != nil) else {
            throw WispError.invalidConfiguration(trainingUsesLabels
                ? "the training targets are class labels (\(Setting.labels)): give the validation targets as \(Setting.validationLabels)"
                : "the training targets are real values (\(Setting.targets)): give the validation targets as \(Setting.validationTargets)")
        }
        if base.standardize {
            throw WispError.invalidConfiguration("\(Setting.standardize) with a validation set would standardize it by its own statistics: preprocess both sets beforehand, or use \(Setting.scalePixels)")
        }
        if let v = samples, v < 1 { throw WispError.invalidConfiguration("\(Setting.validationSamples) must be at least 1 (got \(v))") }
        var c = base
        c.inputsPath = inputsPath
        c.targetsPath = targetsPath
        c.labelsPath = labelsPath
        c.samples = samples
        return c
    }
}
