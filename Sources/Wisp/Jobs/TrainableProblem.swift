/// What ``TrainJob`` needs of a problem: θ in Float64 and a way to replace it, the loss
/// L(θ) = (1/T) Σ_t ℓ(f(x_t), y_t) with the accuracy for class targets, the full gradient
/// ∇L = (1/T) Jᵀ r (one VJP, one allreduce of P + 2 doubles), the minibatch loss and gradient
/// over a batch of global sample indices (one allreduce of P + 1), and a check of the
/// checkpoint measurements before any work — on top of the operators every curvature job
/// uses (``CurvatureProblem``) and the layerwise alignments measure (``AlignmentProblem``).
/// ``Problem`` (MLPs) and ``LayerProblem`` (networks given as layers) conform.
public protocol TrainableProblem: CurvatureProblem, AlignmentProblem {
    /// θ (P) in Float64 (a P-sized array).
    var parameterValues: [Double] { get }
    /// Replaces θ and reruns the forward pass (collective with batch statistics); the targets
    /// are kept, cached loss values and operators' state dropped.
    func setParameters(_ theta: [Double]) throws
    /// L(θ) over all samples and the accuracy where the targets are classes (collective).
    func evaluateLoss() throws -> (value: Double, accuracy: Double?)
    /// L(θ') at other parameters θ' (collective). The problem may be left at θ' (a layer
    /// network keeps no copy of θ): the caller restores θ with ``setParameters(_:)``.
    func evaluateLoss(at theta: [Double]) throws -> Double
    /// L(θ), the accuracy and ∇L(θ) over all samples (P, on every process; collective).
    func lossAndGradient() throws -> (loss: Double, accuracy: Double?, gradient: [Double])
    /// The minibatch loss and gradient at θ, `local` the global indices of this process's
    /// samples in the batch (ascending), `batchSize` its size over all processes (collective).
    /// The problem's own θ and forward cache afterwards are unspecified until ``setParameters(_:)``.
    func batchLossAndGradient(parameters theta: [Double], local: [Int], batchSize: Int) throws -> (loss: Double, gradient: [Double])
    /// Refuses, with one line naming the flag, what this problem cannot train with or measure
    /// (a loss its targets do not fit, a measurement not available on it); before any work.
    func checkTraining(_ measurements: MeasurementSettings) throws
}

extension Problem: TrainableProblem {
    public var parameterValues: [Double] { parameters }
    public func evaluateLoss() throws -> (value: Double, accuracy: Double?) { try loss() }
    /// Leaves the problem at θ.
    public func evaluateLoss(at theta: [Double]) throws -> Double { try loss(at: theta) }

    /// The loss must fit the targets; the Hessian measurements (moments, top and grid, and a
    /// density of G, H or S) need `--normalization none`: the MLP's R-operator
    /// (``HessianOperator``) does not differentiate through the normalization layers.
    public func checkTraining(_ m: MeasurementSettings) throws {
        try configuration.loss.validate(targets: try targets(), outputs: architecture.outputs)
        if m.moments || m.top > 0 || m.density?.needsLoss == true, architecture.normalization != .none {
            throw WispError.invalidConfiguration("the Hessian measurements of wisp train need \(Setting.normalization) none (use \(Setting.measure) none or loss-only runs with normalization)")
        }
    }
}

extension LayerProblem: TrainableProblem {
    public var parameterValues: [Double] { parameters() }

    /// A loss is required (with its targets: the file's or the teacher's). `ntk-limit` is the
    /// MLP's alone (the MLP's infinite-width theory). Nothing is refused for BatchNorm: the layers' R-operator
    /// (``LayerHessianOperator``) differentiates through the batch statistics, so G, S and H
    /// are those of the coupled loss.
    public func checkTraining(_ m: MeasurementSettings) throws {
        guard loss != nil, targets != nil else {
            throw WispError.invalidConfiguration("training a network given as layers needs a loss (\(Setting.loss)) and its targets")
        }
        if m.ntkLimit { throw WispError.invalidConfiguration("\(Setting.measure) ntk-limit is not available for \(Setting.architecture) networks yet") }
    }
}
