import Foundation

/// A setting of Wisp's typed configuration, as the library's messages name it: errors, refusals,
/// memory descriptions and method notes interpolate it (`"\(Setting.slqProbes) must be at least 1"`),
/// so a message reads as the setting's typed name (`SLQSettings.probes`) for a program using the
/// library, and as whatever a front end installs with ``useSpelling(_:)`` — the `wisp` CLI maps
/// every setting to its flag in one table (`SettingFlags`), so its users read `--probes`.
public enum Setting: String, CaseIterable, Sendable, CustomStringConvertible {
    // The network and the data (``ProblemConfiguration``, ``NetworkHyperparameters``).
    case samples = "ProblemConfiguration.samples"
    case inputDimension = "ProblemConfiguration.inputDimension"
    case outputs = "ProblemConfiguration.outputs"
    case depth = "ProblemConfiguration.depth"
    case width = "ProblemConfiguration.width"
    case activation = "NetworkHyperparameters.activation"
    case parametrization = "NetworkHyperparameters.parametrization"
    /// The NTK parametrization's β (parametrization ntk, σ_w² = 1, σ_b² = β²).
    case beta = "NetworkHyperparameters.beta"
    case sigmaW2 = "NetworkHyperparameters.sigmaW2"
    case sigmaB2 = "NetworkHyperparameters.sigmaB2"
    case normalization = "NetworkHyperparameters.normalization"
    case loss = "ProblemConfiguration.loss"
    case inputs = "ProblemConfiguration.inputsPath"
    case targets = "ProblemConfiguration.targetsPath"
    case labels = "ProblemConfiguration.labelsPath"
    case targetColumns = "ProblemConfiguration.targetColumns"
    case classes = "ProblemConfiguration.classes"
    case pool = "ProblemConfiguration.pool"
    case scalePixels = "ProblemConfiguration.scalePixels"
    case standardize = "ProblemConfiguration.standardize"
    case model = "ProblemConfiguration.modelPath"
    /// A network given as layers (``LayerArchitecture``).
    case architecture = "LayerArchitecture"
    // What to compute and where to write it.
    case matrix = "CurvatureMatrix"
    /// The method asked for (``MethodChoice/requested``).
    case method = "MethodChoice.requested"
    case output = "OutputPath"
    case checkpoint = "CheckpointDirectory"
    case saveEigenvectors = "EigenvectorExport"
    // Solvers.
    case lanczosCount = "LanczosSettings.count"
    case lanczosTolerance = "LanczosSettings.tolerance"
    case slqProbes = "SLQSettings.probes"
    case slqSteps = "SLQSettings.steps"
    case kpmProbes = "KPMSettings.probes"
    case kpmMoments = "KPMSettings.moments"
    case kpmDeflate = "KPMJobOptions.deflate"
    case kpmBoundSteps = "KPMJobOptions.boundSteps"
    case kpmLowerBound = "KPMJobOptions.lowerBound"
    case kpmUpperBound = "KPMJobOptions.upperBound"
    case densityPoints = "DensitySettings.points"
    case densityBroadening = "DensitySettings.broadening"
    case densityZeroCutoff = "DensitySettings.zeroCutoff"
    case hutchinsonProbes = "Hutchinson.probes"
    case alignProbes = "AlignSettings.probes"
    case alignExactLimit = "AlignSettings.exactLimit"
    case dataSpectrumCount = "DataSpectrumSettings.count"
    case dataSpectrumDenseLimit = "DataSpectrumSettings.denseLimit"
    // Training (``TrainingSettings``, ``OptimizerSettings``, ``MeasurementSettings``, ``ValidationSettings``).
    case trainingSteps = "TrainingSettings.steps"
    case learningRate = "TrainingSettings.learningRate"
    case batchSize = "TrainingSettings.batchSize"
    case targetLoss = "TrainingSettings.targetLoss"
    case checkpointEvery = "TrainingSettings.every"
    case checkpointSteps = "TrainingSettings.checkpointSteps"
    case momentum = "OptimizerSettings.momentum"
    case adamBeta1 = "OptimizerSettings.beta1"
    case adamBeta2 = "OptimizerSettings.beta2"
    case adamEpsilon = "OptimizerSettings.epsilon"
    case weightDecay = "OptimizerSettings.weightDecay"
    case measure = "MeasurementSettings"
    case measureTop = "MeasurementSettings.top"
    case measureProbes = "MeasurementSettings.slq.probes"
    case measureSteps = "MeasurementSettings.slq.steps"
    case measureGrid = "MeasurementSettings.grid"
    case measureGridPoints = "MeasurementSettings.grid.points"
    case measureGridRadius = "MeasurementSettings.grid.radius"
    case measureAlignProbes = "MeasurementSettings.align.probes"
    case measureAlignExactLimit = "MeasurementSettings.align.exactLimit"
    case validationInputs = "ValidationSettings.inputsPath"
    case validationTargets = "ValidationSettings.targetsPath"
    case validationLabels = "ValidationSettings.labelsPath"
    case validationSamples = "ValidationSettings.samples"
    // Model reduction (``ReductionSettings``, ``InPCASettings``).
    /// A count or percentage of ``ReductionSettings/keep`` or ``ReductionSettings/sweep`` (``KeepCount``).
    case keepCount = "KeepCount"
    case reductionDenseLimit = "ReductionSettings.denseLimit"
    case reductionTolerance = "ReductionSettings.tolerance"
    case reductionInitial = "ModelReduction.initial"
    case inpcaSamples = "InPCASettings.samples"

    /// The setting as messages spell it now (``useSpelling(_:)``; by default its typed name).
    public var description: String { Self.spelling.current(self) }

    /// Makes every message spell settings with `spell` from now on (e.g. as command-line flags).
    /// Called once at start-up, before any job runs.
    public static func useSpelling(_ spell: @escaping @Sendable (Setting) -> String) { spelling.set(spell) }

    private static let spelling = Spelling()

    private final class Spelling: @unchecked Sendable {
        private let lock = NSLock()
        private var spell: @Sendable (Setting) -> String = { $0.rawValue }
        func current(_ s: Setting) -> String { lock.withLock { spell }(s) }
        func set(_ f: @escaping @Sendable (Setting) -> String) { lock.withLock { spell = f } }
    }
}
