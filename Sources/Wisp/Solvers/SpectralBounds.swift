import Foundation

/// An interval [lower, upper] that contains the spectrum of a symmetric operator, for the
/// affine map Ã = (A − c)/h onto [−1, 1] (c = (lower + upper)/2, h = (upper − lower)/2) that
/// the kernel polynomial method needs.
///
/// A bound that is too tight is worse than a loose one: an eigenvalue at x = 1 + ε outside
/// [−1, 1] has T_n(x) = cosh(n·arccosh x) ≈ cosh(n√(2ε)), which grows exponentially and
/// silently corrupts every moment; a loose bound only costs resolution (the kernel width is
/// ≈ π h / M in λ).
///
/// From a short Lanczos run (m steps from a random start): the Ritz values θ_min ≤ θ_max lie
/// inside the spectrum, and ‖f‖ = β_m, the norm of the factorization's residual, bounds every
/// Ritz residual β_m |e_mᵀ s_i|. Following Zhou & Li (Linear Algebra Appl. 435, 480 (2011)),
/// the upper bound is θ_max + β_m (safe in practice even before λ_max has converged, because
/// β_m is then of the order of the unexplored spread), widened by 10⁻³ of the span so that
/// rounding in the operator never pushes an eigenvalue past 1. The lower bound is 0 for
/// positive semi-definite operators (Fisher, NTK Gram: exact, and it keeps the null space at
/// x = −1 where the Jackson kernel is narrowest), else θ_min − β_m − 10⁻³ span.
///
/// Cost: m operator applications and m²·n flops of reorthogonalization.
public struct SpectralBounds: Codable, Sendable, Equatable {
    public var lower: Double
    public var upper: Double
    /// "lanczos" or "user".
    public var source: String
    public var lanczosSteps: Int
    /// Extreme Ritz values of the bounding run (lower bounds on the spread of the spectrum).
    public var ritzMin: Double?
    public var ritzMax: Double?
    /// β_m, the residual norm of the bounding factorization.
    public var residualNorm: Double?
    public var margin: Double
    public var positiveSemidefinite: Bool
    public var operatorApplications: Int

    private enum CodingKeys: String, CodingKey {
        case lower, upper, source, lanczosSteps = "lanczos_steps", ritzMin = "ritz_min", ritzMax = "ritz_max",
             residualNorm = "residual_norm", margin, positiveSemidefinite = "positive_semidefinite",
             operatorApplications = "operator_applications"
    }

    /// c, the centre of the interval.
    public var center: Double { (lower + upper) / 2 }
    /// h, the half width.
    public var halfWidth: Double { (upper - lower) / 2 }

    /// Bounds from `steps` Lanczos steps, or the user's (`given`), checked against the same
    /// run's Ritz values: a Ritz value outside [lower, upper] proves the given interval misses
    /// part of the spectrum.
    public static func estimate(_ op: any LinearOperator, steps: Int = 30, seed: UInt64, positiveSemidefinite: Bool,
                                given: (lower: Double?, upper: Double?) = (nil, nil)) throws -> SpectralBounds {
        guard steps >= 2 else { throw WispError.invalidConfiguration("\(Setting.kpmBoundSteps) must be at least 2 (got \(steps))") }
        for (name, v) in [("\(Setting.kpmLowerBound)", given.lower), ("\(Setting.kpmUpperBound)", given.upper)] {
            if let v, !v.isFinite { throw WispError.invalidConfiguration("\(name) must be finite (got \(v))") }
        }
        if let l = given.lower, let u = given.upper, !(l < u) {
            throw WispError.invalidConfiguration("\(Setting.kpmLowerBound) \(l) must be below \(Setting.kpmUpperBound) \(u)")
        }
        let m = min(steps, op.dimension)
        let f = LanczosFactorization(operator: op, capacity: m, seed: seed)
        f.startRandom()
        while f.count < m, f.expand(onBreakdown: f.count + 1 < op.dimension ? .continueWithRandomVector : .stop) {}
        let (values, _) = try f.ritz()
        guard let tMin = values.min(), let tMax = values.max(), tMin.isFinite, tMax.isFinite else {
            throw WispError.nonFinite("the operator produced non-finite Ritz values while bounding its spectrum")
        }
        let beta = f.residualNorm
        let margin = beta + 1e-3 * max(tMax - (positiveSemidefinite ? 0 : tMin), abs(tMax), .leastNormalMagnitude)
        var lower = positiveSemidefinite ? 0 : tMin - margin
        var upper = tMax + margin
        var source = "lanczos"
        if given.lower != nil || given.upper != nil {
            source = given.lower != nil && given.upper != nil ? "user" : "user and lanczos"
            lower = given.lower ?? lower
            upper = given.upper ?? upper
            guard lower < upper else {
                throw WispError.invalidConfiguration("the spectral bounds [\(lower), \(upper)] are empty (set both \(Setting.kpmLowerBound) and \(Setting.kpmUpperBound), lower below upper)")
            }
            // Ritz values are Rayleigh quotients: they lie inside [λ_min, λ_max].
            let slack = 1e-12 * max(abs(tMin), abs(tMax))
            if tMax > upper + slack {
                throw WispError.invalidConfiguration(String(format: "\(Setting.kpmUpperBound) %.6g is too tight: the operator has an eigenvalue ≥ %.6g (a Ritz value); KPM needs bounds that contain the whole spectrum (omit the flag to estimate them)", upper, tMax))
            }
            if tMin < lower - slack {
                throw WispError.invalidConfiguration(String(format: "\(Setting.kpmLowerBound) %.6g is too tight: the operator has an eigenvalue ≤ %.6g (a Ritz value); KPM needs bounds that contain the whole spectrum (omit the flag to estimate them)", lower, tMin))
            }
        }
        return SpectralBounds(lower: lower, upper: upper, source: source, lanczosSteps: f.count, ritzMin: tMin, ritzMax: tMax,
                              residualNorm: beta, margin: margin, positiveSemidefinite: positiveSemidefinite,
                              operatorApplications: f.applications)
    }

    /// Bounds fixed by the caller (tests, checkpoints), without a Lanczos check.
    public init(lower: Double, upper: Double, source: String = "user", lanczosSteps: Int = 0, ritzMin: Double? = nil,
                ritzMax: Double? = nil, residualNorm: Double? = nil, margin: Double = 0, positiveSemidefinite: Bool = false,
                operatorApplications: Int = 0) {
        self.lower = lower
        self.upper = upper
        self.source = source
        self.lanczosSteps = lanczosSteps
        self.ritzMin = ritzMin
        self.ritzMax = ritzMax
        self.residualNorm = residualNorm
        self.margin = margin
        self.positiveSemidefinite = positiveSemidefinite
        self.operatorApplications = operatorApplications
    }
}
