import Foundation

/// An eigenpair removed from the operator before the Chebyshev expansion (an outlier such as
/// Fisher's λ_max ~ M), reported separately with its share 1/N of the spectrum.
public struct DeflatedPair: Codable, Sendable, Equatable {
    public var eigenvalue: Double
    public var residual: Double
    public var converged: Bool
    /// The weight of this eigenvalue in the spectral measure (1/N, times TC/P for F from K).
    public var mass: Double
}

/// The kernel polynomial method on one operator: bounds, optional deflation of the top
/// eigenpairs, Chebyshev moments of every probe, and the damped expansion of what remains.
///
/// With k pairs (θ_i, y_i) deflated, A' = Q A Q (``DeflatedOperator``) and
///
///     ρ_A = ρ_A' − (k/N) δ₀ + (1/N) Σ_i δ(λ − θ_i),   tr(Aᵖ)/N = tr(A'ᵖ)/N + (1/N) Σ_i θ_iᵖ  (p ≥ 1).
///
/// The k zeros of A' are removed from its Chebyshev moments exactly (μ_n −= (k/N) T_n(x(0))),
/// so ``expansion`` is the density of the rest of the spectrum (mass 1 − k/N), and the θ_i
/// are kept apart in ``deflated``: they lie outside the deflated bounds, where no Chebyshev
/// series converges.
public struct KPMMeasurement: Sendable {
    public var settings: KPMSettings
    public var moments: KPMMoments
    public var deflated: [DeflatedPair]
    public var expansion: ChebyshevDensity
    public var deflationApplications: Int

    /// tr(Aᵖ)/N for 1 ≤ p ≤ 4 with its standard error over the probes.
    public func powerMoment(_ p: Int) -> Estimate {
        let e = moments.powerMoment(p)
        let outliers = deflated.reduce(0) { $0 + Foundation.pow($1.eigenvalue, Double(p)) } / Double(moments.dimension)
        return Estimate(mean: e.mean + outliers, standardError: e.standardError, samples: e.samples)
    }

    /// Bounds (estimated, given, or `saved` from a checkpoint), deflation, then the probes not
    /// in `completed`; `finished(p, μ)` is called after each new probe.
    public static func run(
        _ op: any LinearOperator, settings: KPMSettings, deflate: Int = 0, boundSteps: Int = 30,
        given: (lower: Double?, upper: Double?) = (nil, nil), positiveSemidefinite: Bool,
        saved: SpectralBounds? = nil, completed: [Int: [Double]] = [:],
        boundsReady: ((SpectralBounds) throws -> Void)? = nil,
        finished: ((Int, [Double]) throws -> Void)? = nil
    ) throws -> KPMMeasurement {
        try settings.validate()
        guard deflate >= 0, deflate < op.dimension else {
            throw WispError.invalidConfiguration("\(Setting.kpmDeflate) must be in 0 ..< \(op.dimension) (the matrix dimension) (got \(deflate))")
        }
        var target: any LinearOperator = op
        var pairs = [DeflatedPair]()
        var deflationApplications = 0
        if deflate > 0 {
            let top = try Lanczos.solve(op, settings: LanczosSettings(count: deflate, tolerance: 1e-8, seed: settings.seed))
            deflationApplications = top.operatorApplications
            pairs = (0..<deflate).map {
                DeflatedPair(eigenvalue: top.values[$0], residual: top.residuals[$0], converged: top.converged[$0], mass: 1 / Double(op.dimension))
            }
            target = DeflatedOperator(op, vectors: top.vectors)
        }
        let bounds = try saved ?? SpectralBounds.estimate(target, steps: boundSteps, seed: settings.seed,
                                                           positiveSemidefinite: positiveSemidefinite, given: given)
        if deflate > 0, !(bounds.lower <= 0 && bounds.upper >= 0) {
            throw WispError.invalidConfiguration("with \(Setting.kpmDeflate) the spectral bounds must contain 0 (the deflated directions), got [\(bounds.lower), \(bounds.upper)]")
        }
        try boundsReady?(bounds)
        let kpm = try KernelPolynomialMethod.run(target, bounds: bounds, settings: settings, completed: completed, finished: finished)
        var mu = kpm.means
        if deflate > 0 {
            let x0 = -bounds.center / bounds.halfWidth
            let share = Double(deflate) / Double(op.dimension)
            for n in mu.indices { mu[n] -= share * Foundation.cos(Double(n) * Foundation.acos(max(-1, min(1, x0)))) }
        }
        return KPMMeasurement(settings: settings, moments: kpm, deflated: pairs,
                              expansion: ChebyshevDensity(moments: mu, kernel: settings.kernel, bounds: bounds),
                              deflationApplications: deflationApplications)
    }
}
