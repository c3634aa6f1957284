import Foundation

/// The update rules of `wisp train`, in PyTorch's conventions (`torch.optim.SGD`,
/// `torch.optim.Adam`, dampening 0, no AMSGrad), so that a run can be compared with a PyTorch
/// one step by step. With g_t the (minibatch) gradient at step t = 1, 2, … and λ the weight
/// decay (an L2 term added to the gradient, as PyTorch does; not AdamW's decoupled decay):
///
///     g ← g + λ θ
///     sgd:       θ ← θ − η g
///     momentum:  v ← μ v + g  (v₀ = 0, so v₁ = g₁ as in PyTorch)
///                θ ← θ − η v,  or with Nesterov  θ ← θ − η (g + μ v)
///     adam:      m ← β₁ m + (1 − β₁) g,   s ← β₂ s + (1 − β₂) g²
///                θ ← θ − (η / (1 − β₁ᵗ)) · m / (√s / √(1 − β₂ᵗ) + ε)
///
/// (Kingma & Ba 2015, Algorithm 1 with the bias corrections folded as in PyTorch.) The
/// settings are a typed value: they travel in the JSON record and in the checkpoint
/// fingerprint (``RunFingerprint``), so a resume with another optimizer setting is refused
/// naming it. Only the settings that apply to the chosen method are encoded.
public struct OptimizerSettings: Codable, Sendable, Equatable {
    public enum Method: String, Codable, Sendable, CaseIterable {
        case sgd, momentum, adam
    }

    public var method: Method = .sgd
    /// μ (momentum).
    public var momentum: Double = 0.9
    /// Nesterov's variant (momentum).
    public var nesterov: Bool = false
    /// β₁, β₂, ε (adam; PyTorch's defaults).
    public var beta1: Double = 0.9
    public var beta2: Double = 0.999
    public var epsilon: Double = 1e-8
    /// λ, the L2 weight decay added to the gradient (every method).
    public var weightDecay: Double = 0

    public init(method: Method = .sgd, momentum: Double = 0.9, nesterov: Bool = false, beta1: Double = 0.9, beta2: Double = 0.999,
                epsilon: Double = 1e-8, weightDecay: Double = 0) {
        self.method = method
        self.momentum = momentum
        self.nesterov = nesterov
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }

    private enum CodingKeys: String, CodingKey {
        case method, momentum, nesterov, beta1, beta2, epsilon, weightDecay = "weight_decay"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        method = try c.decode(Method.self, forKey: .method)
        momentum = try c.decodeIfPresent(Double.self, forKey: .momentum) ?? 0.9
        nesterov = try c.decodeIfPresent(Bool.self, forKey: .nesterov) ?? false
        beta1 = try c.decodeIfPresent(Double.self, forKey: .beta1) ?? 0.9
        beta2 = try c.decodeIfPresent(Double.self, forKey: .beta2) ?? 0.999
        epsilon = try c.decodeIfPresent(Double.self, forKey: .epsilon) ?? 1e-8
        weightDecay = try c.decodeIfPresent(Double.self, forKey: .weightDecay) ?? 0
    }

    /// The method and the settings that apply to it (nothing else: a resume that changes an
    /// unused setting is not refused).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(method, forKey: .method)
        try c.encode(weightDecay, forKey: .weightDecay)
        switch method {
        case .sgd: break
        case .momentum:
            try c.encode(momentum, forKey: .momentum)
            try c.encode(nesterov, forKey: .nesterov)
        case .adam:
            try c.encode(beta1, forKey: .beta1)
            try c.encode(beta2, forKey: .beta2)
            try c.encode(epsilon, forKey: .epsilon)
        }
    }

    /// A readable description for summaries and the record's `method`.
    public var description: String {
        let decay = weightDecay != 0 ? ", weight decay \(weightDecay)" : ""
        switch method {
        case .sgd: return "plain" + decay
        case .momentum: return "momentum μ = \(momentum)\(nesterov ? " (Nesterov)" : "")" + decay
        case .adam: return "Adam β₁ = \(beta1), β₂ = \(beta2), ε = \(epsilon)" + decay
        }
    }

    /// Errors name the setting by its `wisp train` flag, as ``TrainingSettings/validate(samples:)`` does.
    public func validate() throws {
        guard weightDecay.isFinite, weightDecay >= 0 else {
            throw WispError.invalidConfiguration("\(Setting.weightDecay) must be a non-negative number (got \(weightDecay))")
        }
        switch method {
        case .sgd: break
        case .momentum:
            guard momentum.isFinite, momentum >= 0, momentum < 1 else {
                throw WispError.invalidConfiguration("\(Setting.momentum) μ must be in [0, 1) (got \(momentum))")
            }
        case .adam:
            for (setting, value) in [(Setting.adamBeta1, beta1), (.adamBeta2, beta2)] where !(value.isFinite && value >= 0 && value < 1) {
                throw WispError.invalidConfiguration("\(setting) must be in [0, 1) (got \(value))")
            }
            guard epsilon.isFinite, epsilon > 0 else {
                throw WispError.invalidConfiguration("\(Setting.adamEpsilon) must be a positive number (got \(epsilon))")
            }
        }
    }
}

/// What an optimizer carries from step to step: the number of updates taken t, and the
/// velocity v (momentum) or the moment estimates m, s (adam), P each. Saved with θ at every
/// training checkpoint, so a resumed run continues bit for bit.
public struct OptimizerState: Sendable, Equatable {
    /// t, the updates taken.
    public var steps: Int = 0
    /// The method's vectors by name ("velocity"; "exp_avg", "exp_avg_sq" as in PyTorch's state dict).
    public var vectors: [String: [Double]] = [:]

    public init(steps: Int = 0, vectors: [String: [Double]] = [:]) {
        self.steps = steps
        self.vectors = vectors
    }

    /// The vector names `method` keeps.
    public static func vectorNames(_ method: OptimizerSettings.Method) -> [String] {
        switch method {
        case .sgd: return []
        case .momentum: return ["velocity"]
        case .adam: return ["exp_avg", "exp_avg_sq"]
        }
    }

    /// The state before the first update: zero vectors of length P.
    public static func initial(_ method: OptimizerSettings.Method, parameters P: Int) -> OptimizerState {
        OptimizerState(steps: 0, vectors: Dictionary(uniqueKeysWithValues: vectorNames(method).map { ($0, [Double](repeating: 0, count: P)) }))
    }
}

/// One update θ ← θ − η·(direction) of the rule ``OptimizerSettings`` describes, in place.
/// Cost: O(P) flops, no allocation beyond the state's vectors (elementwise loops in a fixed
/// order, so every process computes the same bits from the same allreduced gradient).
public enum Optimizer {
    public static func step(_ settings: OptimizerSettings, state: inout OptimizerState, parameters theta: inout [Double],
                            gradient: [Double], learningRate eta: Double) {
        let P = theta.count
        precondition(gradient.count == P)
        state.steps += 1
        let decay = settings.weightDecay
        switch settings.method {
        case .sgd:
            if decay == 0 {
                Double.axpy(n: P, alpha: -eta, x: gradient, y: &theta)   // as before the optimizers existed: same bits
            } else {
                for i in 0..<P { theta[i] -= eta * (gradient[i] + decay * theta[i]) }
            }
        case .momentum:
            let mu = settings.momentum
            var v = state.vectors["velocity"] ?? [Double](repeating: 0, count: P)
            state.vectors["velocity"] = nil   // unique: mutate in place
            for i in 0..<P {
                let g = gradient[i] + decay * theta[i]
                v[i] = mu * v[i] + g
                theta[i] -= eta * (settings.nesterov ? g + mu * v[i] : v[i])
            }
            state.vectors["velocity"] = v
        case .adam:
            let (b1, b2) = (settings.beta1, settings.beta2)
            var m = state.vectors["exp_avg"] ?? [Double](repeating: 0, count: P)
            var s = state.vectors["exp_avg_sq"] ?? [Double](repeating: 0, count: P)
            state.vectors["exp_avg"] = nil
            state.vectors["exp_avg_sq"] = nil
            let t = Double(state.steps)
            let correction1 = 1 - pow(b1, t), correction2 = 1 - pow(b2, t)
            let stepSize = eta / correction1, root2 = correction2.squareRoot()
            for i in 0..<P {
                let g = gradient[i] + decay * theta[i]
                m[i] = b1 * m[i] + (1 - b1) * g
                s[i] = b2 * s[i] + (1 - b2) * g * g
                theta[i] -= stepSize * (m[i] / (s[i].squareRoot() / root2 + settings.epsilon))
            }
            state.vectors["exp_avg"] = m
            state.vectors["exp_avg_sq"] = s
        }
    }
}
