import Foundation

/// Settings of the kernel polynomial method.
public struct KPMSettings: Codable, Sendable, Equatable {
    /// n_v, the number of Rademacher probe vectors (the same vectors as SLQ's probes).
    public var probes: Int = 10
    /// M, the number of Chebyshev moments μ_0 … μ_(M−1) (costs ⌊M/2⌋ applications per probe).
    public var moments: Int = 256
    public var kernel: DampingKernel = .jackson
    public var seed: UInt64 = 0

    public init(probes: Int = 10, moments: Int = 256, kernel: DampingKernel = .jackson, seed: UInt64 = 0) {
        self.probes = probes
        self.moments = moments
        self.kernel = kernel
        self.seed = seed
    }

    /// Operator applications per probe with the moment-doubling recurrence.
    public var applicationsPerProbe: Int { moments / 2 }

    func validate() throws {
        guard probes >= 1 else { throw WispError.invalidConfiguration("\(Setting.kpmProbes) must be at least 1 (got \(probes))") }
        guard moments >= 8 else {
            throw WispError.invalidConfiguration("\(Setting.kpmMoments) must be at least 8 (got \(moments)): the first four power moments need μ_0 … μ_4 and the density needs more")
        }
        guard moments <= 1 << 20 else { throw WispError.invalidConfiguration("\(Setting.kpmMoments) must be at most 1048576 (got \(moments))") }
    }
}

/// Chebyshev moments of every probe, from which densities and power moments follow.
public struct KPMMoments: Sendable {
    /// N.
    public var dimension: Int
    public var bounds: SpectralBounds
    /// Probe p's moments rᵀ T_n(Ã) r / N, n = 0 … M − 1, in probe order.
    public var probes: [[Double]]
    public var operatorApplications: Int

    /// μ_n = (1/N) E[rᵀ T_n(Ã) r] with its standard error over the probes, for every n.
    public var estimates: [Estimate] {
        guard let M = probes.first?.count else { return [] }
        return (0..<M).map { n in Estimate(probes.map { $0[n] }) }
    }

    public var means: [Double] { estimates.map(\.mean) }

    /// tr(Aᵖ)/N for p ≤ 4 (needs M ≥ p + 1), with its standard error over probes. With
    /// λ = c + h x and x^p written in Chebyshev polynomials (x = T_1, x² = (T_0 + T_2)/2,
    /// x³ = (3T_1 + T_3)/4, x⁴ = (3T_0 + 4T_2 + T_4)/8),
    ///
    ///     rᵀ Aᵖ r / N = Σ_j C(p, j) c^(p−j) h^j · rᵀ Ã^j r / N,
    ///
    /// exact per probe: on the same probes it equals SLQ's estimate (Gauss quadrature with
    /// m ≥ 3 nodes integrates degree ≤ 5 exactly) up to rounding.
    public func powerMoment(_ p: Int) -> Estimate {
        let c = bounds.center, h = bounds.halfWidth
        return Estimate(probes.map { mu in
            let xi = [mu[0], mu[1], (mu[0] + mu[2]) / 2, (3 * mu[1] + mu[3]) / 4, (3 * mu[0] + 4 * mu[2] + mu[4]) / 8]
            var total = 0.0, binomial = 1.0
            for j in 0...p {
                total += binomial * Foundation.pow(c, Double(p - j)) * Foundation.pow(h, Double(j)) * xi[j]
                binomial = binomial * Double(p - j) / Double(j + 1)
            }
            return total
        })
    }
}

/// The kernel polynomial method (Weiße, Wellein, Alvermann & Fehske, Rev. Mod. Phys. 78, 275
/// (2006); Lin, Saad & Yang, SIAM Review 58, 34 (2016)): with Ã = (A − c)/h mapping the
/// spectrum into [−1, 1], the spectral density of A is expanded in Chebyshev polynomials,
///
///     ρ̃(x) = [g_0 μ_0 + 2 Σ_(n≥1) g_n μ_n T_n(x)] / (π √(1 − x²)),   μ_n = tr T_n(Ã) / N,
///
/// with μ_n estimated by Hutchinson's trick on Rademacher probes r (E[r rᵀ] = I):
/// μ_n ≈ (1/n_v) Σ_r rᵀ T_n(Ã) r / N. The vectors v_k = T_k(Ã) r follow the three-term
/// recurrence v_(k+1) = 2Ã v_k − v_(k−1), and the moment-doubling identities
///
///     μ_(2k) = 2⟨v_k, v_k⟩ − μ_0,   μ_(2k+1) = 2⟨v_(k+1), v_k⟩ − μ_1
///
/// (Weiße et al. eq. 34) give two moments per operator application. Unlike Lanczos, nothing
/// is orthogonalized, so there is no loss of orthogonality to manage, memory is three vectors,
/// and probes are independent.
///
/// Probe p is the same vector SLQ uses (entry i from stream (seed, probe p) at global index i),
/// so the two methods can be compared on the same probes.
///
/// Cost per probe: ⌊M/2⌋ operator applications plus 8n flops each for the recurrence and
/// the two inner products; the partial inner products of a probe are reduced over processes
/// in one collective of M doubles at its end.
public enum KernelPolynomialMethod {
    /// Runs the probes `settings.probes` not in `completed` (moment vectors restored from a
    /// checkpoint) and calls `finished(p, moments)` after each.
    ///
    /// Throws when a moment leaves [−1, 1] (|T_n(x)| ≤ 1 on [−1, 1], so |μ_n| ≤ ‖r‖²/N = 1 per
    /// probe): the bounds then miss part of the spectrum and the moments grow exponentially.
    public static func run(
        _ op: any LinearOperator, bounds: SpectralBounds, settings: KPMSettings, completed: [Int: [Double]] = [:],
        finished: ((Int, [Double]) throws -> Void)? = nil
    ) throws -> KPMMoments {
        try settings.validate()
        guard bounds.lower < bounds.upper, bounds.lower.isFinite, bounds.upper.isFinite else {
            throw WispError.invalidConfiguration("the spectral bounds [\(bounds.lower), \(bounds.upper)] must be finite with lower < upper")
        }
        let M = settings.moments
        let N = op.dimension
        let n = op.space.localDimension
        let local = op.space.local
        let c = bounds.center, h = bounds.halfWidth
        let half = M / 2
        // Three vectors in one allocation; roles rotate: v_(k−1), v_k, v_(k+1).
        let storage = UnsafeMutablePointer<Double>.allocate(capacity: max(3 * n, 1))
        defer { storage.deallocate() }
        // partial[2k] = ⟨v_k, v_k⟩, partial[2k + 1] = ⟨v_(k+1), v_k⟩ over the local entries.
        var partial = [Double](repeating: 0, count: 2 * (half + 1))
        var applications = 0
        var result = [[Double]]()
        for p in 0..<settings.probes {
            if let done = completed[p], done.count == M { result.append(done); continue }
            for i in partial.indices { partial[i] = 0 }
            var (prev, cur, next) = (storage + 2 * n, storage, storage + n)
            CounterRandom(seed: settings.seed, stream: .probe(p)).fillRademacher(UnsafeMutableBufferPointer(start: cur, count: n), first: local.lowerBound)
            for k in 0..<(half + 1) {
                partial[2 * k] = Double.dot(n: n, x: cur, y: cur)
                guard k < half else { break }
                op.apply(cur, into: next)
                Double.axpy(n: n, alpha: -c, x: cur, y: next)
                if k == 0 {
                    Double.scal(n: n, alpha: 1 / h, x: next)
                } else {
                    Double.scal(n: n, alpha: 2 / h, x: next)
                    Double.axpy(n: n, alpha: -1, x: prev, y: next)
                }
                partial[2 * k + 1] = Double.dot(n: n, x: next, y: cur)
                applications += 1
                (prev, cur, next) = (cur, next, prev)
            }
            partial.withUnsafeMutableBufferPointer { op.space.reduce($0) }
            var mu = [Double](repeating: 0, count: M)
            mu[0] = partial[0] / Double(N)
            mu[1] = partial[1] / Double(N)
            for m in 2..<M {
                let k = m / 2
                mu[m] = m % 2 == 0 ? 2 * partial[2 * k] / Double(N) - mu[0] : 2 * partial[2 * k + 1] / Double(N) - mu[1]
            }
            let tolerance = 1e-8
            if let bad = mu.indices.first(where: { !mu[$0].isFinite }) {
                throw WispError.nonFinite("Chebyshev moment μ_\(bad) of probe \(p) is \(mu[bad]): the operator returned non-finite values (overflow in the network passes: inputs or weights too large?)")
            }
            if let bad = mu.indices.first(where: { !(abs(mu[$0]) <= 1 + tolerance) }) {
                throw WispError.numerical(String(
                    format: "Chebyshev moment μ_%d = %.6g of probe %d is outside [−1, 1]: the spectral bounds [%.6g, %.6g] do not contain the whole spectrum (widen \(Setting.kpmUpperBound)/\(Setting.kpmLowerBound), or omit them to estimate the bounds)",
                    bad, mu[bad], p, bounds.lower, bounds.upper))
            }
            result.append(mu)
            try finished?(p, mu)
        }
        return KPMMoments(dimension: N, bounds: bounds, probes: result, operatorApplications: applications)
    }
}
