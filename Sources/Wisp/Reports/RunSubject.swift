/// What a run record describes the run of: the network (an MLP's ``ProblemConfiguration``, or a
/// layer network's architecture and ``LayerRunConfiguration``), its size, how the samples were
/// spread over the ranks, and what it must hold in memory. One value for every kind of job, so
/// every command's record has the same blocks (``RunRecord``).
public struct RunSubject: Sendable {
    /// The `configuration` block.
    public enum Configuration: Encodable, Sendable {
        /// An MLP.
        case network(ProblemConfiguration)
        /// A network given as layers.
        case layers(LayerRunConfiguration)
        /// The data of a job without a network (`data-spectrum`).
        case data(DataRunConfiguration)

        public func encode(to encoder: any Encoder) throws {
            switch self {
            case .network(let c): try c.encode(to: encoder)
            case .layers(let c): try c.encode(to: encoder)
            case .data(let c): try c.encode(to: encoder)
            }
        }
    }

    public var configuration: Configuration
    /// A layer network's architecture as read (``LayerArchitecture/jsonValue``); nil for an MLP,
    /// whose architecture is in its configuration.
    public var architecture: JSONValue?
    /// P (0 for a job on data alone).
    public var parameters: Int
    /// T over all ranks.
    public var samples: Int
    public var parallel: ParallelRecord
    /// Reading the model and data and the forward pass, before the job's clock started.
    public var setupSeconds: Double?
    /// θ in the precision of the passes, and the forward cache of rank 0's samples.
    public var weightsBytes: Int
    public var activationsBytes: Int

    /// An MLP problem.
    public init(problem: Problem) {
        let held = problem.memoryFootprint
        let parallel = ParallelRecord(communicator: problem.communicator, totalSamples: problem.totalSamples,
                                      flopsPerProduct: problem.flopsPerProduct)
        self.init(configuration: .network(problem.configuration), architecture: nil, parameters: problem.parameterCount,
                  samples: problem.totalSamples, parallel: parallel, setupSeconds: problem.setupSeconds,
                  weightsBytes: held.weightsBytes, activationsBytes: held.activationsBytes)
    }

    /// A network given as layers.
    public init(problem: LayerProblem) {
        let parallel = ParallelRecord(communicator: problem.communicator, totalSamples: problem.totalSamples,
                                      flopsPerProduct: problem.flopsPerSample * Double(problem.totalSamples))
        let held = problem.memoryFootprint
        self.init(configuration: .layers(LayerRunConfiguration(problem: problem)), architecture: problem.architecture.jsonValue,
                  parameters: problem.parameterCount, samples: problem.totalSamples, parallel: parallel, setupSeconds: problem.setupSeconds,
                  weightsBytes: held.weightsBytes, activationsBytes: held.activationsBytes)
    }

    /// A job on data alone (no network: `parameters` is 0, nothing held but the data).
    public init(data configuration: DataRunConfiguration, communicator: any Communicator) {
        let totalSamples = configuration.samples
        self.init(configuration: .data(configuration), architecture: nil, parameters: 0, samples: totalSamples,
                  parallel: ParallelRecord(communicator: communicator, totalSamples: totalSamples, flopsPerProduct: 0),
                  setupSeconds: nil, weightsBytes: 0, activationsBytes: 0)
    }

    public init(configuration: Configuration, architecture: JSONValue?, parameters: Int, samples: Int, parallel: ParallelRecord,
                setupSeconds: Double?, weightsBytes: Int, activationsBytes: Int) {
        self.configuration = configuration
        self.architecture = architecture
        self.parameters = parameters
        self.samples = samples
        self.parallel = parallel
        self.setupSeconds = setupSeconds
        self.weightsBytes = weightsBytes
        self.activationsBytes = activationsBytes
    }
}

/// The `configuration` block of a run on a layer network: the data, θ's origin, the loss and
/// the targets (the layers themselves are the record's `architecture`).
public struct LayerRunConfiguration: Encodable, Sendable {
    public var inputShape: [Int]
    public var samples: Int
    public var data: LayerInputSource
    public var seed: UInt64
    public var precision: Precision
    public var parameters: Int
    public var outputs: Int
    public var parameterNames: [String]
    public var weights: String
    /// The loss of ggn, hessian and residual (mse: F and K).
    public var loss: Loss
    public var targets: LayerTargetSource?

    public init(problem: LayerProblem) {
        inputShape = problem.architecture.input.dimensions
        samples = problem.totalSamples
        data = problem.inputSource
        seed = problem.seed
        precision = problem.precision
        parameters = problem.parameterCount
        outputs = problem.outputCount
        parameterNames = problem.parameterNames
        weights = problem.weightSource.description
        loss = problem.loss ?? .mse
        targets = problem.targetSource
    }

    private enum CodingKeys: String, CodingKey {
        case inputShape = "input_shape", samples, data, seed, precision, parameters, outputs, parameterNames = "parameter_names", weights, loss, targets
    }
}

/// The `configuration` block of a job on data alone: where the T samples came from and how they
/// were preprocessed (the values the run used, not the MLP defaults a data job has no use for).
public struct DataRunConfiguration: Encodable, Sendable {
    /// T and d (after pooling and the removal of target columns).
    public var samples: Int
    public var inputDimension: Int
    /// The inputs file; nil: Gaussian N(0, I) from `seed`.
    public var inputs: String?
    public var targetColumns: [String]?
    public var pool: Int
    public var scalePixels: Bool
    public var standardize: Bool
    public var scaleDivisor: Double?
    public var seed: UInt64
    public var precision: Precision

    /// The data settings of `configuration` for T samples of dimension d as loaded.
    public init(_ configuration: ProblemConfiguration, samples: Int, dimension: Int) {
        self.samples = samples
        inputDimension = dimension
        inputs = configuration.inputsPath
        targetColumns = configuration.targetColumns
        pool = configuration.pool
        scalePixels = configuration.scalePixels
        standardize = configuration.standardize
        scaleDivisor = configuration.scaleDivisor
        seed = configuration.seed
        precision = configuration.precision
    }

    private enum CodingKeys: String, CodingKey {
        case samples, inputDimension = "input_dim", inputs, targetColumns = "target_columns", pool, scalePixels = "scale_pixels",
             standardize, scaleDivisor = "scale_divisor", seed, precision
    }
}

/// What identifies a layer network's run for a checkpoint's fingerprint (``RunFingerprint``):
/// the architecture as read and the configuration (data, θ's origin, loss, targets) — not the
/// rank layout, so a run may resume on another number of ranks.
public struct LayerRunIdentity: Encodable, Sendable {
    public var architecture: JSONValue
    public var configuration: LayerRunConfiguration

    public init(problem: LayerProblem) {
        architecture = problem.architecture.jsonValue
        configuration = LayerRunConfiguration(problem: problem)
    }
}
