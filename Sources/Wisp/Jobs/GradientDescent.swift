/// Settings of (stochastic) gradient descent on the mean loss L(θ) = (1/T) Σ_t ℓ(f(x_t), y_t):
///     θ ← θ − η ∇L_B(θ),   L_B the mean loss over the minibatch B (all T samples for full-batch GD),
/// or the momentum or Adam update of ∇L_B (``OptimizerSettings``).
public struct TrainingSettings: Codable, Sendable, Equatable {
    /// The most steps to take.
    public var steps: Int = 1000
    /// η.
    public var learningRate: Double = 0.1
    /// |B|; nil for full-batch gradient descent.
    public var batchSize: Int? = nil
    /// Stop at the first checkpoint (or, for full-batch GD, the first step) whose full loss is
    /// at most this.
    public var targetLoss: Double? = nil
    /// Measure and save a checkpoint every N steps (and at the first and last step).
    public var every: Int = 100
    /// Further checkpoint steps (e.g. logarithmically spaced early in training).
    public var checkpointSteps: [Int] = []
    /// Seed of the minibatch order.
    public var seed: UInt64 = 0
    /// The update rule (plain SGD by default).
    public var optimizer = OptimizerSettings()

    public init(steps: Int = 1000, learningRate: Double = 0.1, batchSize: Int? = nil, targetLoss: Double? = nil,
                every: Int = 100, checkpointSteps: [Int] = [], seed: UInt64 = 0, optimizer: OptimizerSettings = OptimizerSettings()) {
        self.optimizer = optimizer
        self.checkpointSteps = checkpointSteps
        self.steps = steps
        self.learningRate = learningRate
        self.batchSize = batchSize
        self.targetLoss = targetLoss
        self.every = every
        self.seed = seed
    }

    private enum CodingKeys: String, CodingKey {
        case steps, learningRate = "learning_rate", batchSize = "batch_size", targetLoss = "target_loss", every, checkpointSteps = "checkpoint_steps", seed, optimizer
    }

    public func validate(samples T: Int) throws {
        guard steps >= 0 else { throw WispError.invalidConfiguration("\(Setting.trainingSteps) must be non-negative (got \(steps))") }
        guard learningRate > 0, learningRate.isFinite else {
            throw WispError.invalidConfiguration("\(Setting.learningRate) must be a positive number (got \(learningRate))")
        }
        if let b = batchSize, !(1...T).contains(b) {
            throw WispError.invalidConfiguration("\(Setting.batchSize) must be between 1 and the \(T) samples (got \(b))")
        }
        if let t = targetLoss, !(t.isFinite && t >= 0) {
            throw WispError.invalidConfiguration("\(Setting.targetLoss) must be a non-negative number (got \(t))")
        }
        try optimizer.validate()
        guard every >= 1 else { throw WispError.invalidConfiguration("\(Setting.checkpointEvery) must be at least 1 (got \(every))") }
        if let bad = checkpointSteps.first(where: { $0 < 0 || $0 > steps }) {
            throw WispError.invalidConfiguration("\(Setting.checkpointSteps): step \(bad) is outside 0…\(steps)")
        }
    }

    /// Whether step s is a checkpoint.
    public func isCheckpoint(_ s: Int) -> Bool {
        s % every == 0 || s == steps || checkpointSteps.contains(s)
    }
}

/// The minibatches of SGD without replacement: epoch e visits the samples in the order of a
/// permutation π_e (the samples sorted by 64 random bits from stream (seed, batches e) at their
/// global index), step s of the run takes the (s mod n_e)-th block of B samples of epoch
/// ⌊s / n_e⌋, n_e = ⌊T/B⌋ (the last T mod B samples of each order are skipped). The batches
/// depend only on (seed, T, B, s), never on the number of processes.
public struct BatchSchedule: Sendable {
    public let samples: Int
    public let batchSize: Int
    public let seed: UInt64
    private var cachedEpoch = -1
    private var order: [Int] = []

    public init(samples: Int, batchSize: Int, seed: UInt64) {
        precondition(batchSize >= 1 && batchSize <= samples)
        self.samples = samples
        self.batchSize = batchSize
        self.seed = seed
    }

    public var stepsPerEpoch: Int { samples / batchSize }

    /// The global sample indices of step s's batch, ascending. Cost O(T log T) once per epoch.
    public mutating func batch(step s: Int) -> [Int] {
        let epoch = s / stepsPerEpoch, j = s % stepsPerEpoch
        if epoch != cachedEpoch {
            let rng = CounterRandom(seed: seed, stream: .batches(epoch: epoch))
            let keys = (0..<samples).map { rng.bits($0) }
            order = (0..<samples).sorted { keys[$0] != keys[$1] ? keys[$0] < keys[$1] : $0 < $1 }
            cachedEpoch = epoch
        }
        return order[(j * batchSize)..<((j + 1) * batchSize)].sorted()
    }
}
