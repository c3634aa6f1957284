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

        // Inputs first: a file fixes d and bounds T. Only its shape is read here; each process
        // reads its own rows below.
        var fileShape: [Int]? = nil
        if let path = c.inputsPath {
            let shape = try NPY.read(path: path, rows: 0..<0).shape
            guard shape.count == 2 else {
                throw WispError.badInput("\(path): expected a 2-D array of inputs (T × d), found shape \(shape)")
            }
            fileShape = shape
        }
        let fileRows = fileShape?[0]
        let T = c.samples ?? fileRows ?? 0
        guard T >= 1 else { throw WispError.invalidConfiguration("--samples must be at least 1 (got \(T))") }
        if let rows = fileRows, T > rows {
            throw WispError.invalidConfiguration("--samples \(T) exceeds the \(rows) rows of \(c.inputsPath!)")
        }

        // The network: from a file (shapes fixed by it) or from flags.
        var network64: Network<Double>
        if let path = c.modelPath {
            network64 = try Network<Double>.load(safetensors: path, activation: c.activation, parametrization: c.parametrization,
                                                 sigmaW2: c.sigmaW2, sigmaB2: c.sigmaB2, normalization: c.normalization)
        } else {
            guard c.width >= 1 else { throw WispError.invalidConfiguration("--width must be at least 1 (got \(c.width))") }
            let d = c.inputDimension ?? fileShape?[1] ?? c.width
            let arch = try Architecture(depth: c.depth, width: c.width, inputDimension: d, outputs: c.outputs,
                                        activation: c.activation, hasBias: c.bias, parametrization: c.parametrization,
                                        sigmaW2: c.sigmaW2, sigmaB2: c.sigmaB2, normalization: c.normalization)
            network64 = Network<Double>(architecture: arch, seed: c.seed)
        }
        architecture = network64.architecture
        let d = architecture.inputDimension
        if let given = c.inputDimension, given != d {
            throw WispError.invalidConfiguration("--input-dim \(given) disagrees with the model's input dimension \(d)")
        }

        let block = communicator.block(of: T)
        if let path = c.inputsPath, let shape = fileShape {
            guard shape[1] == d else {
                throw WispError.badInput("\(path): inputs have \(shape[1]) features but the network's first layer takes \(d)")
            }
            dataset = try Dataset(dimension: d, totalSamples: T, samples: block, values: try NPY.read(path: path, rows: block).values)
        } else {
            dataset = try Dataset.gaussian(totalSamples: T, dimension: d, seed: c.seed, samples: block)
        }

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

    /// K_l = (1/T) J_l J_lᵀ, layer l's tangent kernel in sample space (``LayerKernelOperator``).
    public func makeLayerOperator(_ layer: Int) -> any LinearOperator { box.makeLayerOperator(layer) }

    /// Each layer's forward and backward kernels (Lou et al. eq. 9), this process's rows against all
    /// samples, gathered from every process (``BatchedJacobian/layerKernelFactors(layers:gather:visit:)``;
    /// collective). Needs per-sample gradients (no batch statistics).
    public func layerKernelFactors(layers: Set<Int>? = nil, visit: (LayerKernelFactors) -> Void) {
        box.layerKernelFactors(layers: layers, visit: visit)
    }

    /// Jᵀ u (P, on every process) for this process's part of a sample-space vector u
    /// (T_block·C): one backward pass and one sum of P doubles over processes (collective).
    public func jacobianTransposeProduct(_ u: [Double]) -> [Double] { box.jacobianTransposeProduct(u) }

    /// The targets of this process's samples: by default the outputs of a teacher network
    /// (``Targets/teacher(architecture:studentSeed:inputs:precision:reduction:)``).
    /// Computed once and kept (collective when batch statistics couple the samples).
    public func targets() throws -> Targets {
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
    func makeLayerOperator(_ layer: Int) -> any LinearOperator
    func layerKernelFactors(layers: Set<Int>?, visit: (LayerKernelFactors) -> Void)
    func jacobianTransposeProduct(_ u: [Double]) -> [Double]
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

    func makeLayerOperator(_ layer: Int) -> any LinearOperator {
        LayerKernelOperator(jacobian: jacobian, layer: layer, samples: dataset.samples, totalSamples: dataset.totalSamples,
                            communicator: communicator)
    }

    func layerKernelFactors(layers: Set<Int>?, visit: (LayerKernelFactors) -> Void) {
        let communicator = self.communicator, total = dataset.totalSamples
        jacobian.layerKernelFactors(layers: layers, gather: { local, rowsPerSample, columns in
            let counts = (0..<communicator.size).map { communicator.block(of: total, rank: $0).count * rowsPerSample * columns }
            return communicator.allgather(local, counts: counts)
        }, visit: visit)
    }

    func jacobianTransposeProduct(_ u: [Double]) -> [Double] {
        let p = jacobian.parameterCount
        var g = [Double](repeating: 0, count: p)
        var uS = [S](repeating: 0, count: max(u.count, 1)), gS = [S](repeating: 0, count: p)
        u.withUnsafeBufferPointer { if let x = $0.baseAddress { S.convert(x, to: &uS, count: u.count) } }
        gS.withUnsafeMutableBufferPointer { jacobian.vjp(uS, alpha: 1, into: $0.baseAddress!) }
        g.withUnsafeMutableBufferPointer { gp in
            gS.withUnsafeBufferPointer { S.convert($0.baseAddress!, to: gp.baseAddress!, count: p) }
            communicator.allreduceSum(gp)
        }
        return g
    }
}
