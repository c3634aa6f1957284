/// A configured problem: the network, this process's samples, and the operators on them.
///
/// Assembly only: it resolves a ``ProblemConfiguration`` (flags, files, defaults) into a
/// ``Network`` and a ``Dataset`` in the requested precision, checks that they fit together,
/// and hands out operators. The math lives in the types it builds.
public final class Problem {
    public let configuration: ProblemConfiguration
    public let architecture: Architecture
    public let dataset: Dataset
    public let communicator: any Communicator
    /// What the collective preprocessing steps found (scale divisor, constant features).
    public let preprocessingSummary: Preprocessing.Summary
    private let fileTargets: Targets?
    /// Where the targets come from when a file gives them (nil: the teacher network).
    public var targetsSource: String? { fileTargets?.source }
    private let box: any JacobianBox

    /// T, over all processes.
    public var totalSamples: Int { dataset.totalSamples }
    /// P.
    public var parameterCount: Int { architecture.parameterCount }
    /// TC, the dimension of sample space.
    public var sampleSpaceDimension: Int { totalSamples * architecture.outputs }
    /// GEMM flops of one Fisher/NTK product over all T samples (all processes together).
    public var flopsPerProduct: Double { architecture.flopsPerProduct(samples: totalSamples) }

    public init(_ configuration: ProblemConfiguration, communicator: any Communicator = SerialCommunicator()) throws {
        self.configuration = configuration
        self.communicator = communicator
        let c = configuration

        // Local phase, agreed across processes before any collective: the model file, and the
        // data files (each process reads its own rows; see ``DataLoader``).
        let (model, local) = try communicator.agree { () throws -> (Network<Double>?, LocalData) in
            var model: Network<Double>? = nil
            if let path = c.modelPath {
                model = try Network<Double>.load(safetensors: path, activation: c.activation, parametrization: c.parametrization,
                                                 sigmaW2: c.sigmaW2, sigmaB2: c.sigmaB2, normalization: c.normalization)
            } else {
                guard c.width >= 1 else { throw WispError.invalidConfiguration("--width must be at least 1 (got \(c.width))") }
            }
            let gaussianDimension = model?.architecture.inputDimension ?? c.inputDimension ?? c.width
            return (model, try DataLoader.readLocal(c, gaussianDimension: gaussianDimension, communicator: communicator))
        }
        // Collective phase: the same calls on every process.
        let data = try DataLoader.finish(consume local, configuration: c, communicator: communicator)
        let fileD = c.inputsPath != nil ? data.dataset.dimension : nil

        // The network: from a file (shapes fixed by it) or from flags. Its outputs C are
        // --outputs, or the targets' columns.
        let network64: Network<Double>
        if let model {
            network64 = model
            if let t = data.targets, t.columns != model.architecture.outputs {
                throw WispError.badInput("\(c.modelPath!): the model has \(model.architecture.outputs) outputs but the targets \(t.source) have \(t.columns) columns")
            }
        } else {
            let d = c.inputDimension ?? fileD ?? c.width
            let outputs = c.outputs ?? data.targets?.columns ?? 1
            if let t = data.targets, t.columns != outputs {
                throw WispError.invalidConfiguration("--outputs \(outputs) disagrees with the \(t.columns) columns of the targets \(t.source)")
            }
            let arch = try Architecture(depth: c.depth, width: c.width, inputDimension: d, outputs: outputs,
                                        activation: c.activation, hasBias: c.bias, parametrization: c.parametrization,
                                        sigmaW2: c.sigmaW2, sigmaB2: c.sigmaB2, normalization: c.normalization)
            network64 = Network<Double>(architecture: arch, seed: c.seed)
        }
        architecture = network64.architecture
        let d = architecture.inputDimension
        if let given = c.inputDimension, given != d {
            throw WispError.invalidConfiguration("--input-dim \(given) disagrees with the \(model != nil ? "model's" : "inputs'") input dimension \(d)")
        }
        if let fileD, fileD != d {
            throw WispError.badInput("\(c.inputsPath!): inputs have \(fileD) features but the network's first layer takes \(d)")
        }
        dataset = data.dataset
        fileTargets = data.targets
        preprocessingSummary = data.preprocessing

        switch c.precision {
        case .float64: box = try PrecisionBox(network: network64, dataset: dataset, communicator: communicator)
        case .float32: box = try PrecisionBox(network: try network64.converted(to: Float.self), dataset: dataset, communicator: communicator)
        }
    }

    /// The operator for `matrix` on this problem.
    public func makeOperator(_ matrix: CurvatureMatrix) -> any LinearOperator { box.makeOperator(matrix) }

    /// Operator applications the exact moments cost: none beyond backward passes without
    /// sample coupling; TC (one per column of K) with batch normalization.
    public var exactMomentsCost: Int { architecture.normalization.couplesSamples ? sampleSpaceDimension : 0 }

    /// Exact tr F = tr K: from per-sample gradient norms (``FisherMoments/trace(_:totalSamples:communicator:)``),
    /// or, when batch statistics couple the samples, from the diagonal of K formed column by column.
    /// Computed once and kept (collective).
    public func exactTrace() -> Double {
        if let cachedTrace { return cachedTrace }
        let trace: Double
        if architecture.normalization.couplesSamples {
            let rows = gramRows(), n = sampleSpaceDimension, local = communicator.block(of: totalSamples)
            let c = architecture.outputs
            trace = communicator.sum((0..<(local.count * c)).reduce(0.0) { $0 + rows[$1 * n + local.lowerBound * c + $1] })
        } else {
            trace = box.exactTrace()
        }
        cachedTrace = trace
        return trace
    }
    private var cachedTrace: Double?

    /// This process's rows of the NTK Gram matrix K ((T_block·C) × TC; all of K on one process):
    /// from per-layer Gram factors, or, when batch statistics couple the samples, as K e_i for
    /// every i (TC operator applications). Computed once and kept.
    public func gramRows() -> [Double] {
        if let cachedGram { return cachedGram }
        let rows: [Double]
        if architecture.normalization.couplesSamples {
            let op = makeOperator(.ntk)
            let n = op.dimension, local = op.space.local
            var result = [Double](repeating: 0, count: local.count * n)
            var e = [Double](repeating: 0, count: max(local.count, 1)), y = e
            for i in 0..<n {
                if local.contains(i) { e[i - local.lowerBound] = 1 }
                e.withUnsafeBufferPointer { ep in y.withUnsafeMutableBufferPointer { op.apply(ep.baseAddress!, into: $0.baseAddress!) } }
                if local.contains(i) { e[i - local.lowerBound] = 0 }
                for r in 0..<local.count { result[r * n + i] = y[r] }
            }
            rows = result
        } else {
            rows = box.gramRows()
        }
        cachedGram = rows
        return rows
    }
    private var cachedGram: [Double]?

    /// tr(F²)/P = ‖K‖²_F / P, exactly (every process computes its rows of K).
    public func exactSecondMoment() -> Double {
        FisherMoments.secondTrace(gramRows: gramRows(), communicator: communicator) / Double(parameterCount)
    }

    /// The raw last-layer outputs U^L (before any output normalization) of all T samples,
    /// T × C row-major, on every process (collective: gathers the blocks).
    public func rawOutputs() -> [Double] {
        let c = architecture.outputs
        let counts = (0..<communicator.size).map { communicator.block(of: totalSamples, rank: $0).count * c }
        return communicator.allgather(box.rawOutputs(), counts: counts)
    }

    /// The network in Float64 (for saving).
    public func network() -> Network<Double> { box.network64() }

    /// The targets of this process's samples: from `--targets`/`--labels` (or the inputs
    /// CSV's `--target-column`) when given, else the outputs of a teacher network
    /// (``Targets/teacher(architecture:studentSeed:inputs:precision:reduction:)``).
    /// Computed once and kept (collective when batch statistics couple the samples).
    public func targets() throws -> Targets {
        if let fileTargets { return fileTargets }
        if let cachedTargets { return cachedTargets }
        let t: Targets
        switch configuration.precision {
        case .float64: t = try Targets.teacher(architecture: architecture, studentSeed: configuration.seed, inputs: dataset,
                                               precision: Double.self, reduction: communicator)
        case .float32: t = try Targets.teacher(architecture: architecture, studentSeed: configuration.seed, inputs: dataset,
                                               precision: Float.self, reduction: communicator)
        }
        cachedTargets = t
        return t
    }
    private var cachedTargets: Targets?
}

/// The precision-specific half of ``Problem``: one BatchedJacobian<S>, so the passes are
/// specialized for S while callers see Float64.
private protocol JacobianBox {
    func makeOperator(_ matrix: CurvatureMatrix) -> any LinearOperator
    func exactTrace() -> Double
    func gramRows() -> [Double]
    func rawOutputs() -> [Double]
    func network64() -> Network<Double>
}

private final class PrecisionBox<S: BLASScalar>: JacobianBox {
    let jacobian: BatchedJacobian<S>
    let dataset: Dataset
    let communicator: any Communicator

    init(network: Network<S>, dataset: Dataset, communicator: any Communicator) throws {
        jacobian = try BatchedJacobian(network: network, inputs: dataset, reduction: communicator)
        self.dataset = dataset
        self.communicator = communicator
    }

    func makeOperator(_ matrix: CurvatureMatrix) -> any LinearOperator {
        switch matrix {
        case .fisher: return FisherOperator(jacobian: jacobian, totalSamples: dataset.totalSamples, communicator: communicator)
        case .ntk: return NTKGramOperator(jacobian: jacobian, samples: dataset.samples, totalSamples: dataset.totalSamples,
                                          communicator: communicator)
        }
    }

    func exactTrace() -> Double {
        FisherMoments.trace(jacobian, totalSamples: dataset.totalSamples, communicator: communicator)
    }

    func gramRows() -> [Double] {
        FisherMoments.gramRows(jacobian, totalSamples: dataset.totalSamples, communicator: communicator)
    }

    func rawOutputs() -> [Double] { jacobian.rawOutputs.map { Double($0) } }

    func network64() -> Network<Double> {
        try! Network<Double>(architecture: jacobian.network.architecture, parameters: jacobian.network.parameters.map { Double($0) })
    }
}
