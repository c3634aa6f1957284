import Foundation

/// A configured problem: the network, this process's samples, and the operators on them.
///
/// Assembly only: it resolves a ``ProblemConfiguration`` (flags, files, defaults) into a
/// ``Network`` and a ``Dataset`` in the requested precision, checks that they fit together,
/// and hands out operators. The math lives in the types it builds.
public final class Problem {
    /// The configuration resolved: the network fields describe the network that runs (a
    /// loaded model's widths, biases and recorded hyperparameters), whatever the input said.
    public let configuration: ProblemConfiguration
    public let architecture: Architecture
    public let dataset: Dataset
    public let communicator: any Communicator
    /// What the collective preprocessing steps found (scale divisor, constant features).
    public let preprocessingSummary: Preprocessing.Summary
    private let fileTargets: Targets?
    /// Where the targets come from when a file gives them (nil: the teacher network).
    public var targetsSource: String? { fileTargets?.source }
    private var box: any JacobianBox
    /// Seconds this problem took to assemble: reading the model and data files, drawing the
    /// network, and the forward pass (rank 0's clock).
    public private(set) var setupSeconds: Double = 0

    /// T, over all processes.
    public var totalSamples: Int { dataset.totalSamples }
    /// P.
    public var parameterCount: Int { architecture.parameterCount }
    /// TC, the dimension of sample space.
    public var sampleSpaceDimension: Int { totalSamples * architecture.outputs }
    /// GEMM flops of one Fisher/NTK product over all T samples (all processes together).
    public var flopsPerProduct: Double { architecture.flopsPerProduct(samples: totalSamples) }

    public init(_ configuration: ProblemConfiguration, communicator: any Communicator = SerialCommunicator()) throws {
        let start = DispatchTime.now().uptimeNanoseconds
        self.communicator = communicator
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
        architecture = built
        let d = architecture.inputDimension
        if let given = c.inputDimension, given != d {
            throw WispError.invalidConfiguration("\(Setting.inputDimension) \(given) disagrees with the \(model != nil ? "model's" : "inputs'") input dimension \(d)")
        }
        if let fileD, fileD != d {
            throw WispError.badInput("\(c.inputsPath!): inputs have \(fileD) features but the network's first layer takes \(d)")
        }
        self.configuration = Self.resolved(c, architecture: architecture)
        dataset = data.dataset
        fileTargets = data.targets
        preprocessingSummary = data.preprocessing

        // Without a model file the weights are drawn directly in the precision of the passes:
        // the Float32 draw rounds the same Float64 values the Float64 draw stores (bit-identical
        // to converting it, tested), without a Float64 copy of θ (8P bytes: 17 GB at width 32768).
        switch c.precision {
        case .float64:
            box = try PrecisionBox(network: model ?? Network<Double>(architecture: architecture, seed: c.seed),
                                   dataset: dataset, communicator: communicator)
        case .float32:
            box = try PrecisionBox(network: try model?.converted(to: Float.self) ?? Network<Float>(architecture: architecture, seed: c.seed),
                                   dataset: dataset, communicator: communicator)
        }
        setupSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
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

    /// The Jacobian of the network with parameters θ on `dataset` in `precision` (runs the forward pass).
    private static func makeBox(architecture: Architecture, parameters theta: [Double], precision: Precision, dataset: Dataset,
                                communicator: any Communicator) throws -> any JacobianBox {
        switch precision {
        case .float64:
            return try PrecisionBox(network: try Network<Double>(architecture: architecture, parameters: theta), dataset: dataset,
                                    communicator: communicator)
        case .float32:
            return try PrecisionBox(network: try Network<Double>(architecture: architecture, parameters: theta).converted(to: Float.self),
                                    dataset: dataset, communicator: communicator)
        }
    }

    /// What must be held in memory for this problem: θ in the precision of the passes, and the
    /// forward cache (inputs, H^l, φ'(U^l), standardized layers) of this process's samples.
    public var memoryFootprint: (weightsBytes: Int, activationsBytes: Int) { box.memoryFootprint }

    /// The operator for `matrix` on this problem. Matrices of the loss (ggn, hessian, residual)
    /// evaluate the loss at the targets first (``lossEvaluation()``).
    public func makeOperator(_ matrix: CurvatureMatrix) throws -> any LinearOperator {
        try box.makeOperator(matrix, loss: matrix.needsLoss ? lossEvaluation() : nil)
    }

    /// ℓ, r = ∂ℓ/∂f and H_ℓ of ``ProblemConfiguration/loss`` at this process's outputs and
    /// targets. Computed once and kept.
    public func lossEvaluation() throws -> LossEvaluation {
        if let cachedLoss { return cachedLoss }
        let t = try targets()
        try configuration.loss.validate(targets: t, outputs: architecture.outputs)
        let e = configuration.loss.evaluate(outputs: box.outputs(), targets: t.values, columns: architecture.outputs)
        cachedLoss = e
        return e
    }
    private var cachedLoss: LossEvaluation?

    /// L(θ) = (1/T) Σ_t ℓ(f(x_t), y_t) over all samples, and the fraction classified correctly
    /// where the targets are classes (collective).
    public func loss() throws -> (value: Double, accuracy: Double?) {
        let (sum, correct) = try localLoss()
        var sums = [sum, Double(correct ?? 0)]
        sums.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
        let T = Double(totalSamples)
        return (sums[0] / T, correct == nil ? nil : sums[1] / T)
    }

    /// Σ ℓ_t and the number of correctly classified samples (nil for real targets) over this
    /// process's samples.
    private func localLoss() throws -> (sum: Double, correct: Int?) {
        let e = try lossEvaluation(), t = try targets()
        return (e.sum, configuration.loss.correct(outputs: box.outputs(), targets: t.values, columns: architecture.outputs,
                                                  classes: t.classes))
    }

    /// L(θ), the accuracy where the targets are classes, and ∇L(θ) = (1/T) Jᵀ r over all
    /// samples (P, on every process). Collective: one allreduce of P + 2 doubles. Cost: one
    /// backward pass (the forward pass is the cached one).
    public func lossAndGradient() throws -> (loss: Double, accuracy: Double?, gradient: [Double]) {
        let (sum, correct) = try localLoss()
        let P = parameterCount
        // One buffer [∇L, Σℓ, correct] for the single allreduce (no P-sized reallocation).
        var g = box.vjp(try lossEvaluation().gradient, scale: 1 / Double(totalSamples), extra: 2)
        g[P] = sum
        g[P + 1] = Double(correct ?? 0)
        g.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
        let T = Double(totalSamples)
        let (loss, accuracy) = (g[P] / T, correct == nil ? nil : g[P + 1] / T)
        g.removeLast(2)
        return (loss, accuracy, g)
    }

    /// The mean loss and its gradient over a minibatch B of samples, at parameters θ:
    /// (1/|B|) Σ_(t∈B) ℓ_t and (1/|B|) Σ_(t∈B) J_tᵀ r_t, on every process. `local` holds the
    /// global indices of this process's samples in B (ascending), `batchSize` is |B| over all
    /// processes; batch statistics of normalization layers are those of B. Collective: one
    /// allreduce of P + 1 doubles. Cost: a forward and a backward pass over the local part of B.
    public func batchLossAndGradient(parameters theta: [Double], local: [Int], batchSize: Int) throws -> (loss: Double, gradient: [Double]) {
        let t = try targets()
        try configuration.loss.validate(targets: t, outputs: architecture.outputs)
        let d = dataset.dimension, C = architecture.outputs, first = dataset.samples.lowerBound
        var x = [Double](), y = [Double]()
        x.reserveCapacity(local.count * d)
        y.reserveCapacity(local.count * C)
        for i in local {
            let r = i - first
            precondition(dataset.samples.contains(i), "sample \(i) is not held by this process")
            x.append(contentsOf: dataset.values[(r * d)..<((r + 1) * d)])
            y.append(contentsOf: t.values[(r * C)..<((r + 1) * C)])
        }
        let batch = try Dataset(dimension: d, totalSamples: batchSize, samples: 0..<local.count, values: x)
        var g = try box.batchGradient(parameters: theta, inputs: batch, targets: y, loss: configuration.loss)
        g.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
        let loss = g.removeLast() / Double(batchSize)
        return (loss, g)
    }

    /// L(θ') over all samples at other parameters θ', leaving the problem at θ (collective).
    /// Cost: one forward pass.
    public func loss(at theta: [Double]) throws -> Double {
        let t = try targets()
        var sum = [try box.lossSum(parameters: theta, targets: t.values, loss: configuration.loss)]
        sum.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
        return sum[0] / Double(totalSamples)
    }

    /// θ (P) in Float64.
    public var parameters: [Double] { box.network64().parameters }

    /// Replaces θ and reruns the forward pass (collective with batch statistics). Cached
    /// traces, Gram rows and loss values are dropped; the targets are kept.
    public func setParameters(_ theta: [Double]) throws {
        box = try Self.makeBox(architecture: architecture, parameters: theta, precision: configuration.precision,
                               dataset: dataset, communicator: communicator)
        cachedTrace = nil
        cachedGram = nil
        cachedLoss = nil
    }

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
            let op = try! makeOperator(.ntk)
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

    /// This process's rows of K like ``gramRows()``, handed over rather than shared: the cache (if
    /// any) is dropped, so the caller may overwrite them without a copy (the dense eigensolvers
    /// consume their matrix).
    public func takeGramRows() -> [Double] {
        let rows = gramRows()
        cachedGram = nil
        return rows
    }

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

    /// The outputs f(x_t) the loss sees (after any output normalization) of this process's
    /// samples, rows × C row-major.
    public func localOutputs() -> [Double] { box.outputs() }

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
    public func jacobianTransposeProduct(_ u: [Double]) -> [Double] {
        var g = box.vjp(u, scale: 1, extra: 0)
        g.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
        return g
    }

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
                                               loss: configuration.loss, precision: Double.self, reduction: communicator)
        case .float32: t = try Targets.teacher(architecture: architecture, studentSeed: configuration.seed, inputs: dataset,
                                               loss: configuration.loss, precision: Float.self, reduction: communicator)
        }
        cachedTargets = t
        return t
    }
    private var cachedTargets: Targets?
}

/// The precision-specific half of ``Problem``: one BatchedJacobian<S>, so the passes are
/// specialized for S while callers see Float64.
private protocol JacobianBox {
    func makeOperator(_ matrix: CurvatureMatrix, loss: LossEvaluation?) throws -> any LinearOperator
    func outputs() -> [Double]
    func vjp(_ u: [Double], scale: Double, extra: Int) -> [Double]
    func batchGradient(parameters: [Double], inputs: Dataset, targets: [Double], loss: Loss) throws -> [Double]
    func lossSum(parameters: [Double], targets: [Double], loss: Loss) throws -> Double
    func exactTrace() -> Double
    func gramRows() -> [Double]
    func rawOutputs() -> [Double]
    func network64() -> Network<Double>
    func makeLayerOperator(_ layer: Int) -> any LinearOperator
    func layerKernelFactors(layers: Set<Int>?, visit: (LayerKernelFactors) -> Void)
    var memoryFootprint: (weightsBytes: Int, activationsBytes: Int) { get }
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

    func makeOperator(_ matrix: CurvatureMatrix, loss: LossEvaluation?) throws -> any LinearOperator {
        let T = dataset.totalSamples
        switch matrix {
        case .fisher: return FisherOperator(jacobian: jacobian, totalSamples: T, communicator: communicator)
        case .ntk: return NTKGramOperator(jacobian: jacobian, samples: dataset.samples, totalSamples: T, communicator: communicator)
        case .ggn: return FisherOperator(jacobian: jacobian, totalSamples: T, communicator: communicator,
                                         outputHessian: loss!.outputHessian)
        case .hessian: return try HessianOperator(jacobian: jacobian, loss: loss!, part: .full, totalSamples: T, communicator: communicator)
        case .residual: return try HessianOperator(jacobian: jacobian, loss: loss!, part: .residual, totalSamples: T, communicator: communicator)
        }
    }

    func outputs() -> [Double] { jacobian.outputs.map { Double($0) } }

    var memoryFootprint: (weightsBytes: Int, activationsBytes: Int) {
        (jacobian.parameterCount * MemoryLayout<S>.stride, jacobian.forwardCacheBytes)
    }

    /// The Jacobian of the same architecture at other parameters θ on `inputs` (one forward pass).
    private func jacobian(at parameters: [Double], inputs: Dataset) throws -> BatchedJacobian<S> {
        let theta = S.self == Double.self ? parameters as! [S] : parameters.map { S($0) }
        return try BatchedJacobian(network: try Network<S>(architecture: jacobian.architecture, parameters: theta), inputs: inputs,
                                   reduction: communicator)
    }

    /// Σ ℓ_t over this process's samples at θ (one forward pass).
    func lossSum(parameters: [Double], targets: [Double], loss: Loss) throws -> Double {
        let j = try jacobian(at: parameters, inputs: dataset)
        return loss.evaluate(outputs: j.outputs.map { Double($0) }, targets: targets, columns: jacobian.outputCount).sum
    }

    /// (1/B) Σ J_tᵀ r_t over `inputs` at θ, followed by Σ ℓ_t (P + 1 values, unreduced).
    func batchGradient(parameters: [Double], inputs: Dataset, targets: [Double], loss: Loss) throws -> [Double] {
        let j = try jacobian(at: parameters, inputs: inputs)
        let e = loss.evaluate(outputs: j.outputs.map { Double($0) }, targets: targets, columns: jacobian.outputCount)
        var g = Self.transposeProduct(j, e.gradient, scale: 1 / Double(inputs.totalSamples), extra: 1)
        g[jacobian.parameterCount] = e.sum
        return g
    }

    func vjp(_ u: [Double], scale: Double, extra: Int) -> [Double] {
        Self.transposeProduct(jacobian, u, scale: scale, extra: extra)
    }

    /// α Jᵀ u in Float64 (P entries), followed by `extra` zeros for the caller's sums, so that one
    /// allreduce can carry them without reallocating the P-vector.
    private static func transposeProduct(_ j: BatchedJacobian<S>, _ u: [Double], scale: Double, extra: Int) -> [Double] {
        let P = j.parameterCount
        let uS = (S.self == Double.self ? u as! [S] : u.map { S($0) }) + (u.isEmpty ? [0] : [])
        if S.self == Double.self {
            var g = [Double](repeating: 0, count: P + extra)
            uS.withUnsafeBufferPointer { up in
                g.withUnsafeMutableBufferPointer { j.vjp(up.baseAddress!, alpha: S(scale), into: UnsafeMutableRawPointer($0.baseAddress!).assumingMemoryBound(to: S.self)) }
            }
            return g
        }
        var gS = [S](repeating: 0, count: P)
        uS.withUnsafeBufferPointer { up in gS.withUnsafeMutableBufferPointer { j.vjp(up.baseAddress!, alpha: S(scale), into: $0.baseAddress!) } }
        var g = [Double](repeating: 0, count: P + extra)
        g.withUnsafeMutableBufferPointer { gp in gS.withUnsafeBufferPointer { S.convert($0.baseAddress!, to: gp.baseAddress!, count: P) } }
        return g
    }

    func exactTrace() -> Double {
        FisherMoments.trace(jacobian, totalSamples: dataset.totalSamples, communicator: communicator)
    }

    func gramRows() -> [Double] {
        FisherMoments.gramRows(jacobian, totalSamples: dataset.totalSamples, communicator: communicator)
    }

    func rawOutputs() -> [Double] { jacobian.rawOutputs.map { Double($0) } }

    func network64() -> Network<Double> {
        if S.self == Double.self { return jacobian.network as! Network<Double> }
        return try! Network<Double>(architecture: jacobian.network.architecture, parameters: jacobian.network.parameters.map { Double($0) })
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
}
