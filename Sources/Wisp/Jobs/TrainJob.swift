import Foundation

/// What `wisp train` measures at every checkpoint.
public struct MeasurementSettings: Codable, Sendable, Equatable {
    /// tr(Aᵏ)/P, k ≤ 4, of G, S and H (``HessianMoments``).
    public var moments = true
    /// The probes and Lanczos steps of the moments and of the density.
    public var slq = SLQSettings(probes: 10, steps: 20)
    /// k of the Rayleigh quotients of G's and S's top eigenvectors (``RayleighQuotients``); 0: none.
    public var top = 0
    /// Lanczos tolerance of the eigenvectors.
    public var tolerance = 1e-6
    /// The loss plane along eigenvectors (x, y) of G (1-based; both ≤ `top`), if wanted.
    public var grid: GridRequest? = nil
    /// A spectral density at each checkpoint (e.g. ggn on a log grid for sloppy spectra).
    public var density: CurvatureMatrix? = nil
    public var densityGrid = DensitySettings()
    /// Jacot et al.'s infinite-width prediction of the moments of I (``NTKLimitPrediction``),
    /// once at the start (the limiting NTK does not change in training).
    public var ntkLimit = false
    /// The layerwise alignments A_l with the targets (Lou et al. eq. 6–7, ``AlignJob``) at each
    /// checkpoint, if wanted.
    public var align: AlignSettings? = nil

    public struct GridRequest: Codable, Sendable, Equatable {
        public var x: Int
        public var y: Int
        public var radius: Double
        public var points: Int
        public init(x: Int, y: Int, radius: Double, points: Int) {
            self.x = x
            self.y = y
            self.radius = radius
            self.points = points
        }
    }

    public init() {}

    private enum CodingKeys: String, CodingKey {
        case moments, slq, top, tolerance, grid, density, densityGrid = "density_grid", ntkLimit = "ntk_limit", align
    }

    public func validate() throws {
        guard top >= 0 else { throw WispError.invalidConfiguration("\(Setting.measureTop) must be non-negative (got \(top))") }
        if moments || density != nil {
            guard slq.probes >= 1 else { throw WispError.invalidConfiguration("\(Setting.measureProbes) must be at least 1 (got \(slq.probes))") }
            guard slq.steps >= 3 else { throw WispError.invalidConfiguration("\(Setting.measureSteps) must be at least 3 for four exact moments (got \(slq.steps))") }
        }
        if let g = grid {
            guard g.x >= 1, g.y >= 1, g.x != g.y else {
                throw WispError.invalidConfiguration("\(Setting.measureGrid) needs two different eigenvector indices ≥ 1 (got \(g.x),\(g.y))")
            }
            guard max(g.x, g.y) <= top else {
                throw WispError.invalidConfiguration("\(Setting.measureGrid) \(g.x),\(g.y) needs \(Setting.measureTop) at least \(max(g.x, g.y))")
            }
            guard g.points >= 2, g.points <= 201 else { throw WispError.invalidConfiguration("\(Setting.measureGridPoints) must be in 2…201 (got \(g.points))") }
            guard g.radius > 0, g.radius.isFinite else { throw WispError.invalidConfiguration("\(Setting.measureGridRadius) must be positive (got \(g.radius))") }
        }
        if let a = align {
            guard a.probes >= 2 else { throw WispError.invalidConfiguration("\(Setting.measureAlignProbes) must be at least 2 for an error bar (got \(a.probes))") }
            guard a.exactLimit >= 0 else { throw WispError.invalidConfiguration("\(Setting.measureAlignExactLimit) must be non-negative (got \(a.exactLimit))") }
        }
    }
}

/// A spectral density measured at a checkpoint (``DensityJob``).
public struct SpectrumSnapshot: Codable, Sendable {
    public var matrix: CurvatureMatrix
    public var densityOf: String
    public var probes: Int
    public var steps: Int
    public var density: SpectralDensity
    public var largestNode: Double
    public var moments: [MomentRecord]
    /// SLQ's measure of the density's matrix: every probe's Gauss nodes with weights τ_j / n_v
    /// (scaled by TC/P in sample space, the null space 1 − TC/P as a node at 0). `spectra.svg`
    /// draws its unbroadened distribution (``TrainSpectraFigure``); nil in records written before.
    public var nodes: [Double]?
    public var weights: [Double]?

    private enum CodingKeys: String, CodingKey {
        case matrix, densityOf = "density_of", probes, steps, density, largestNode = "largest_node", moments, nodes, weights
    }

    init(_ r: DensityResult) {
        matrix = r.matrix
        densityOf = r.densityOf
        probes = r.probes
        steps = r.steps
        density = r.density
        largestNode = r.largestNode
        moments = r.moments
        nodes = r.estimateMeasure?.nodes
        weights = r.estimateMeasure?.weights
    }
}

/// Everything measured at one checkpoint of training.
public struct CheckpointRecord: Codable, Sendable {
    public var step: Int
    /// L(θ) over all T samples, and the accuracy where the targets are classes.
    public var loss: Double
    public var accuracy: Double?
    /// ‖∇L(θ)‖ over all samples.
    public var gradientNorm: Double
    /// The loss and accuracy (class targets) on the held-out samples (``ValidationSettings``), if any.
    public var validationLoss: Double?
    public var validationAccuracy: Double?
    /// The saved parameters (safetensors), if saved.
    public var model: String?
    public var moments: HessianMoments?
    public var rayleigh: RayleighQuotients?
    public var grid: LossGrid?
    public var spectrum: SpectrumSnapshot?
    /// The layerwise alignments with the targets (``AlignJob``), if measured.
    public var alignment: AlignmentSnapshot?
    /// Wall-clock seconds of this checkpoint's measurements.
    public var seconds: Double

    private enum CodingKeys: String, CodingKey {
        case step, loss, accuracy, gradientNorm = "gradient_norm", validationLoss = "validation_loss",
             validationAccuracy = "validation_accuracy", model, moments, rayleigh, grid, spectrum, alignment, seconds
    }
}

/// The loss after a step: the full-batch loss (gradient descent) or the minibatch loss (SGD).
public struct StepLoss: Codable, Sendable {
    public var step: Int
    public var loss: Double
}

/// The result of `wisp train`: the settings, the checkpoints' measurements as a time series,
/// and the loss at every step.
public struct TrainResult: Codable, Sendable {
    public var method: String
    public var training: TrainingSettings
    public var measurements: MeasurementSettings
    /// The held-out set evaluated at the checkpoints, if any.
    public var validation: ValidationSettings?
    /// V, its number of samples.
    public var validationSamples: Int?
    public var series: [CheckpointRecord]
    public var lossCurve: [StepLoss]
    public var stepsTaken: Int
    /// "steps", "target loss" or the reason training stopped early.
    public var stoppedBecause: String
    /// The step training resumed from (nil: started afresh).
    public var resumedFrom: Int?
    /// Wall-clock seconds of the checkpoint measurements in this run (the rest is training).
    public var measurementSeconds: Double
    /// The infinite-width prediction for the moments of I, if requested.
    public var ntkLimit: NTKLimitPrediction?

    private enum CodingKeys: String, CodingKey {
        case method, training, measurements, validation, validationSamples = "validation_samples", series, lossCurve = "loss_curve", stepsTaken = "steps_taken",
             stoppedBecause = "stopped_because", resumedFrom = "resumed_from", measurementSeconds = "measurement_seconds", ntkLimit = "ntk_limit"
    }
}

/// Training by (stochastic) gradient descent with the hand-written gradient, measuring the
/// curvature at checkpoints (Jacot et al.: moments of G, S, H through training, Fig. 1;
/// Rayleigh quotients, Fig. 2; the loss plane along eigenvectors of G, Fig. 3; and spectral
/// densities through training as in Cowlagi & Chaudhari Fig. 2; the layerwise alignments A_l
/// through training as in Lou et al. Fig. 2).
///
/// With MPI the gradient is one allreduce of P (+2) doubles per step, like an F·v product;
/// minibatches are drawn by global sample index, so every rank count takes the same steps.
///
/// Resumable: with a ``TrainingCheckpoint`` the parameters and the series are saved at every
/// checkpoint and a rerun continues from the last one, with the same numbers as an
/// uninterrupted run (the minibatch order depends only on the step).
public enum TrainJob {
    /// Called after each checkpoint's measurements (rank 0 writes files from it).
    public typealias CheckpointHandler = (_ record: CheckpointRecord, _ parameters: [Double]) throws -> String?

    /// `validation`: a held-out set (``ValidationSettings/makeProblem(training:base:)``) whose
    /// loss and accuracy every checkpoint records (at that checkpoint's θ; collective).
    public static func run<P: TrainableProblem>(_ problem: P, training: TrainingSettings, measurements: MeasurementSettings,
                           validation: (settings: ValidationSettings, problem: P)? = nil,
                           checkpoint: TrainingCheckpoint? = nil, reporter: ProgressReporter? = nil,
                           onCheckpoint: CheckpointHandler? = nil) throws -> (TrainResult, Timings) {
        let start = DispatchTime.now().uptimeNanoseconds
        let communicationBefore = problem.communicator.statistics
        let T = problem.totalSamples
        try training.validate(samples: T)
        try measurements.validate()
        try problem.checkTraining(measurements)

        let ntkLimit = try (measurements.ntkLimit ? problem as? Problem : nil).map { try NTKLimitPrediction.make(for: $0) }
        var series = [CheckpointRecord](), lossCurve = [StepLoss](), step = 0, resumedFrom: Int? = nil
        var optimizer = OptimizerState.initial(training.optimizer.method, parameters: problem.parameterCount)
        if let saved = try checkpoint?.restore(parameterCount: problem.parameterCount, optimizer: training.optimizer.method) {
            try problem.setParameters(saved.parameters)
            (series, lossCurve, step, resumedFrom) = (saved.series, saved.lossCurve, saved.step, saved.step)
            optimizer = saved.optimizer
        }
        var theta = problem.parameterValues
        var schedule = training.batchSize.map { BatchSchedule(samples: T, batchSize: $0, seed: training.seed) }
        let local = problem.communicator.block(of: T)
        let method = (training.batchSize.map { "minibatch SGD (batch \($0), without replacement, order from counter-based stream (seed, epoch))" }
            ?? "full-batch gradient descent") + (training.optimizer.method == .sgd && training.optimizer.weightDecay == 0 ? "" : ", " + training.optimizer.description)
        var stopped = "steps"
        var operatorApplications = 0, measurementSeconds = 0.0

        while true {
            let isCheckpoint = training.isCheckpoint(step)
            // Gradient descent needs the full gradient at every step; SGD only at checkpoints.
            var full: (loss: Double, accuracy: Double?, gradient: [Double])? = nil
            if schedule == nil || isCheckpoint {
                if schedule != nil { try problem.setParameters(theta) }
                full = try problem.lossAndGradient()
                try checkDivergence(full!.loss, of: "loss", step: step, initial: series.first?.loss ?? full!.loss)
            }
            if isCheckpoint, series.last?.step != step {
                let t0 = DispatchTime.now().uptimeNanoseconds
                var record = CheckpointRecord(step: step, loss: full!.loss, accuracy: full!.accuracy,
                                              gradientNorm: Double.dot(n: theta.count, x: full!.gradient, y: full!.gradient).squareRoot(),
                                              seconds: 0)
                if let held = validation?.problem {
                    try held.setParameters(theta)
                    (record.validationLoss, record.validationAccuracy) = try held.evaluateLoss()
                }
                operatorApplications += try measure(problem, measurements, into: &record)
                record.seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
                measurementSeconds += record.seconds
                // A non-finite measurement is an error before any file of this checkpoint is written.
                do { _ = try CanonicalJSON.value(record) } catch WispError.nonFinite(let m) {
                    throw WispError.nonFinite("the measurements at step \(step): \(m)")
                }
                // Rank 0 writes files here; an error there must stop every rank, not leave them in a collective.
                let current = record, parameters = theta
                record.model = try problem.communicator.agree { try onCheckpoint?(current, parameters) }
                series.append(record)
                try checkpoint?.save(step: step, parameters: theta, optimizer: optimizer, series: series, lossCurve: lossCurve)
                reporter?.report(String(format: "step %d/%d, loss %.6e (checkpoint)", step, training.steps, record.loss), force: true)
            }
            if let target = training.targetLoss, let f = full, f.loss <= target { stopped = "target loss"; break }
            if step >= training.steps { break }

            let gradient: [Double]
            if var s = schedule {
                let batch = s.batch(step: step).filter { local.contains($0) }
                schedule = s
                let (batchLoss, g) = try problem.batchLossAndGradient(parameters: theta, local: batch, batchSize: s.batchSize)
                try checkDivergence(batchLoss, of: "minibatch loss", step: step, initial: series.first?.loss ?? batchLoss)
                lossCurve.append(StepLoss(step: step, loss: batchLoss))
                gradient = g
            } else {
                lossCurve.append(StepLoss(step: step, loss: full!.loss))
                gradient = full!.gradient
            }
            // A finite loss can still overflow in the backward pass: report it as divergence.
            guard Double.dot(n: gradient.count, x: gradient, y: gradient).isFinite else {
                throw WispError.numerical("training diverged at step \(step): the gradient is not finite (lower \(Setting.learningRate))")
            }
            Optimizer.step(training.optimizer, state: &optimizer, parameters: &theta, gradient: gradient, learningRate: training.learningRate)
            step += 1
            if schedule == nil { try problem.setParameters(theta) }
            let elapsed = reporter?.elapsed ?? 0
            reporter?.report(String(format: "step %d/%d, loss %.6e", step, training.steps, lossCurve.last!.loss),
                             eta: elapsed / Double(max(step - (resumedFrom ?? 0), 1)) * Double(training.steps - step))
        }
        let result = TrainResult(method: method, training: training, measurements: measurements, validation: validation?.settings,
                                 validationSamples: validation?.problem.totalSamples, series: series,
                                 lossCurve: lossCurve, stepsTaken: step, stoppedBecause: stopped, resumedFrom: resumedFrom,
                                 measurementSeconds: measurementSeconds, ntkLimit: ntkLimit)
        let total = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        let communication = (problem.communicator.statistics - communicationBefore).seconds
        // The measurements are almost entirely operator applications: their time stands for it.
        return (result, Timings(totalSeconds: total, operatorSeconds: measurementSeconds, operatorApplications: operatorApplications,
                                communicationSeconds: communication))
    }

    /// Growth of the loss over its value at step 0 taken as divergence.
    public static let divergenceFactor = 1e6

    /// Stops a run whose loss is not finite or has grown by more than ``divergenceFactor``
    /// over the initial full loss L₀ (the step-0 checkpoint; saved with the series, so a
    /// resumed run applies the same test). Gradient descent with a stable step never raises
    /// the loss, and a minibatch loss exceeds the mean by at most the factor T/B, so 10⁶·L₀ is
    /// far from any converging run; with η too large the loss grows geometrically and is
    /// caught within a few steps, long before it overflows (`--lr 1e10` took it to 1e139).
    static func checkDivergence(_ loss: Double, of what: String, step: Int, initial: Double) throws {
        guard loss.isFinite else {
            throw WispError.numerical("training diverged at step \(step): the \(what) is \(loss) (lower \(Setting.learningRate))")
        }
        if initial > 0, initial.isFinite, loss > divergenceFactor * initial {
            throw WispError.numerical(
                "training diverged at step \(step): the \(what) \(loss) is more than 1e6 times the initial loss \(initial) (lower \(Setting.learningRate))")
        }
    }

    /// The requested measurements at the problem's current parameters; returns the operator
    /// applications they took.
    static func measure(_ problem: some TrainableProblem, _ m: MeasurementSettings, into record: inout CheckpointRecord) throws -> Int {
        var applications = 0
        if m.moments {
            let moments = try HessianMoments.measure(problem, settings: m.slq)
            applications += moments.operatorApplications
            record.moments = moments
        }
        if m.top > 0 {
            let (rayleigh, vectors) = try RayleighQuotients.measure(problem, k: m.top, tolerance: m.tolerance, seed: m.slq.seed)
            applications += rayleigh.operatorApplications
            record.rayleigh = rayleigh
            if let g = m.grid {
                let (i, j) = (g.x - 1, g.y - 1)
                record.grid = try LossGrid.measure(problem, u: vectors[i], v: vectors[j], indices: (g.x, g.y),
                                                   eigenvalues: (rayleigh.gDirections[i].eigenvalue, rayleigh.gDirections[j].eigenvalue),
                                                   radius: g.radius, points: g.points)
            }
        }
        if let matrix = m.density {
            let (d, timings) = try DensityJob.run(problem, matrix: matrix, settings: m.slq, grid: m.densityGrid)
            applications += timings.operatorApplications
            record.spectrum = SpectrumSnapshot(d)
        }
        if let settings = m.align {
            let a = AlignmentSnapshot(try AlignJob.run(problem, settings: settings))
            applications += a.operatorApplications
            record.alignment = a
        }
        return applications
    }
}
