import Foundation

/// A configured MLP problem: the network, this process's samples, and the operators on them.
///
/// Assembly only, of three parts: ``ProblemResolver`` turns a ``ProblemConfiguration`` (flags,
/// files, defaults) into the architecture, θ, data and file targets, checked to fit together;
/// ``MLPNetworkState`` holds the passes in the requested precision (the only place that
/// chooses it); the operators are made from a ``CurvatureMatrix`` and that state. What the
/// jobs see of it are protocols (``CurvatureProblem``, ``TrainableProblem``,
/// ``AlignmentProblem``), which ``LayerProblem`` also conforms to. The math lives in the
/// types it builds.
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
    private var box: any MLPNetworkBox
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
        let r = try ProblemResolver.resolve(configuration, communicator: communicator)
        self.configuration = r.configuration
        architecture = r.architecture
        dataset = r.dataset
        fileTargets = r.fileTargets
        preprocessingSummary = r.preprocessing
        box = try makeMLPNetworkState(architecture: architecture, model: r.model, seed: configuration.seed, precision: configuration.precision,
                                      dataset: dataset, communicator: communicator)
        setupSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
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
        box = try makeMLPNetworkState(architecture: architecture, model: try Network<Double>(architecture: architecture, parameters: theta),
                                      seed: configuration.seed, precision: configuration.precision, dataset: dataset, communicator: communicator)
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
            rows = try! makeOperator(.ntk).formedRows()
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
        let t = try box.teacherTargets(studentSeed: configuration.seed, loss: configuration.loss)
        cachedTargets = t
        return t
    }
    private var cachedTargets: Targets?
}
