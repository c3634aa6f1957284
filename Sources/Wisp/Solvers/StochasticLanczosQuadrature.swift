import Foundation

/// A Gauss quadrature rule from one Lanczos run: for a unit start vector v,
///     vᵀ g(A) v ≈ Σ_j τ_j g(θ_j),   θ_j = eigenvalues of T_m,  τ_j = (e_1ᵀ s_j)².
public struct QuadratureRule: Codable, Sendable, Equatable {
    public var nodes: [Double]
    public var weights: [Double]

    /// Σ_j τ_j g(θ_j).
    public func integrate(_ g: (Double) -> Double) -> Double {
        zip(nodes, weights).reduce(0) { $0 + $1.1 * g($1.0) }
    }
}

/// Settings of stochastic Lanczos quadrature.
public struct SLQSettings: Codable, Sendable, Equatable {
    /// n_v, the number of Rademacher probe vectors.
    public var probes: Int = 10
    /// m, the Lanczos steps per probe (the number of quadrature nodes; at most N).
    public var steps: Int = 64
    public var seed: UInt64 = 0

    public init(probes: Int = 10, steps: Int = 64, seed: UInt64 = 0) {
        self.probes = probes
        self.steps = steps
        self.seed = seed
    }
}

/// The quadrature rules of all probes, from which densities and moments follow.
public struct SLQResult: Sendable {
    /// N, the dimension of the operator's space.
    public var dimension: Int
    public var settings: SLQSettings
    /// One rule per probe, in probe order.
    public var rules: [QuadratureRule]
    public var operatorApplications: Int

    /// tr(Aᵖ)/N estimated from the probes: for probe r (Rademacher, ‖r‖² = N),
    /// rᵀ Aᵖ r / N = Σ_j τ_j θ_jᵖ; the estimate is their mean with its standard error.
    public func normalizedMoment(_ order: Int) -> Estimate {
        Estimate(rules.map { rule in rule.integrate { Foundation.pow($0, Double(order)) } })
    }
}

/// Stochastic Lanczos quadrature (Ubaru, Chen & Saad, SIAM J. Matrix Anal. Appl. 38 (2017);
/// Ghorbani, Krishnan & Xiao, ICML 2019): the spectral measure (1/N) Σ_i δ(λ − λ_i) is
/// approximated by (1/n_v) Σ_probes Σ_j τ_j δ(λ − θ_j), from m Lanczos steps on each unit
/// probe r/√N with r Rademacher (entry i from stream (seed, probe p) at global index i).
///
/// Cost: n_v·m operator applications plus full reorthogonalization, 8·m²·n flops per probe;
/// memory (m + 1)·n doubles.
public enum StochasticLanczosQuadrature {
    /// Runs the probes `settings.probes` not in `completed` (rules already computed, e.g.
    /// restored from a checkpoint) and calls `finished(p, rule)` after each.
    public static func run(
        _ op: any LinearOperator, settings: SLQSettings, completed: [Int: QuadratureRule] = [:],
        finished: ((Int, QuadratureRule) throws -> Void)? = nil
    ) throws -> SLQResult {
        let N = op.dimension
        guard settings.probes >= 1 else { throw WispError.invalidConfiguration("\(Setting.slqProbes) must be at least 1 (got \(settings.probes))") }
        guard settings.steps >= 1 else { throw WispError.invalidConfiguration("\(Setting.slqSteps) must be at least 1 (got \(settings.steps))") }
        let m = min(settings.steps, N)
        let f = LanczosFactorization(operator: op, capacity: m, seed: settings.seed)
        var rules = [QuadratureRule]()
        let local = op.space.local
        for p in 0..<settings.probes {
            if let done = completed[p] { rules.append(done); continue }
            var r = [Double](repeating: 0, count: local.count)
            r.withUnsafeMutableBufferPointer {
                CounterRandom(seed: settings.seed, stream: .probe(p)).fillRademacher($0, first: local.lowerBound)
            }
            f.start(with: r)
            while f.count < m, f.expand(onBreakdown: .stop) {}
            let (values, vectors) = try f.ritz()
            let c = f.count
            let rule = QuadratureRule(nodes: values, weights: (0..<c).map { vectors[$0] * vectors[$0] })
            rules.append(rule)
            try finished?(p, rule)
        }
        return SLQResult(dimension: N, settings: settings, rules: rules, operatorApplications: f.applications)
    }
}
