import Foundation

/// Which end of the spectrum an eigensolver looks for.
public enum SpectrumEnd: String, Codable, Sendable, CaseIterable {
    /// The algebraically largest eigenvalues (the default for positive semi-definite matrices).
    case largest
    /// The algebraically smallest (most negative) eigenvalues.
    case smallest
    /// The eigenvalues of largest absolute value (indefinite matrices such as a Hessian).
    case largestMagnitude = "largest-magnitude"
}

/// Settings of the thick-restart Lanczos eigensolver, as one value.
public struct LanczosSettings: Codable, Sendable, Equatable {
    /// k, the number of eigenpairs wanted.
    public var count: Int = 1
    public var which: SpectrumEnd = .largest
    /// Convergence: ‖A y − θ y‖ ≤ tolerance · |θ| for every wanted pair. The solver also stops
    /// when every wanted residual is at the operator's rounding floor 100·ε·‖A‖ (eigenvalues
    /// near zero have no relative accuracy, and a Float32 operator cannot give residuals below
    /// ~ε₃₂·‖A‖), but such a pair is reported as not converged unless it meets the tolerance.
    public var tolerance: Double = 1e-8
    /// m, the basis size between restarts (default max(2k + 20, 40), at most N).
    public var basisSize: Int? = nil
    /// Budget of operator applications (default 50·m).
    public var maxApplications: Int? = nil
    /// Seed of the start vector (a Gaussian from a counter-based stream keyed by global index).
    public var seed: UInt64 = 0
    /// Recompute each residual as ‖A y − θ y‖ with k extra applications (else report the
    /// Lanczos estimate β |s_m,i|, exact in exact arithmetic).
    public var verifyResiduals: Bool = true

    public init(count: Int = 1, which: SpectrumEnd = .largest, tolerance: Double = 1e-8, basisSize: Int? = nil,
                maxApplications: Int? = nil, seed: UInt64 = 0, verifyResiduals: Bool = true) {
        self.count = count
        self.which = which
        self.tolerance = tolerance
        self.basisSize = basisSize
        self.maxApplications = maxApplications
        self.seed = seed
        self.verifyResiduals = verifyResiduals
    }

    private enum CodingKeys: String, CodingKey {
        case count = "k", which, tolerance, basisSize = "basis", maxApplications = "max_applications", seed, verifyResiduals = "verify_residuals"
    }
}

/// Eigenpairs from ``Lanczos/solve(_:settings:progress:)`` with everything needed to judge them.
public struct Eigenpairs: Sendable {
    /// The wanted eigenvalues, ordered from the requested end (descending for `.largest`).
    public var values: [Double]
    /// ‖A y_i − θ_i y_i‖ for each pair (explicit when `verifyResiduals`, else the estimate).
    public var residuals: [Double]
    /// The Lanczos estimates β |s_(m,i)|.
    public var residualEstimates: [Double]
    /// Whether pair i met the tolerance: ‖A y − θ y‖ ≤ tol · |θ|, never more; except that a
    /// numerically zero eigenvalue, |θ| ≤ ``residualFloor``, whose residual is at that floor is
    /// converged (no relative accuracy exists for it).
    public var converged: [Bool]
    /// The achievable residual 100·ε·‖A‖ (ε the operator's unit roundoff, ‖A‖ estimated by the
    /// largest |Ritz value|): below it a residual is rounding noise.
    public var residualFloor: Double
    /// Whether pair i stopped at the rounding floor without meeting the tolerance (accurate to
    /// the operator's precision, not to the asked tolerance).
    public var atRoundingFloor: [Bool]
    /// Local parts of the unit eigenvectors, one array per pair.
    public var vectors: [[Double]]
    /// Operator applications, including the verification ones.
    public var operatorApplications: Int
    public var restarts: Int
    public var basisSize: Int
    public var allConverged: Bool { converged.allSatisfy { $0 } }
}

/// Where an eigensolver saves and finds its state, so a killed run can resume (implemented
/// outside the solver, which does no IO).
public protocol LanczosCheckpoint: AnyObject {
    /// A saved state to continue from, or nil to start afresh.
    func restore() throws -> LanczosState?
    /// Whether to save after this expansion; must answer the same on every process.
    func isDue() -> Bool
    func save(_ state: LanczosState) throws
}

/// Progress of a running solver, for a progress line.
public struct SolverProgress: Sendable {
    public var operatorApplications: Int
    public var budget: Int
    /// Worst relative residual estimate among the wanted pairs so far.
    public var worstRelativeResidual: Double
    public var leadingValue: Double
}

/// Thick-restart Lanczos with full reorthogonalization for a few extreme eigenpairs of a
/// symmetric operator (Wu & Simon, SIAM J. Matrix Anal. Appl. 22 (2000); cf. Spectra's
/// `SymEigsSolver` and KrylovKit's `eigsolve`).
///
/// Each cycle expands the factorization A V = V H + β v e_mᵀ to m vectors, solves the small
/// eigenproblem of H with LAPACK, and stops when every wanted Ritz pair (θ_i, y_i = V s_i) has
/// β |s_(m,i)| ≤ max(tol·|θ_i|, 100·ε·‖A‖), ε the operator's unit roundoff; otherwise it restarts from the k + (m−k)/2 best Ritz vectors.
/// A pair counts as converged only if its residual meets tol·|θ_i| (or, for a numerically zero
/// θ_i, |θ_i| ≤ 100·ε·‖A‖, the floor itself); one stopped by the
/// rounding floor is reported as such (``Eigenpairs/atRoundingFloor``).
/// Non-convergence within the budget is reported in the result, never thrown.
public enum Lanczos {
    public static func solve(
        _ op: any LinearOperator, settings: LanczosSettings, checkpoint: (any LanczosCheckpoint)? = nil,
        progress: ((SolverProgress) -> Void)? = nil
    ) throws -> Eigenpairs {
        let N = op.dimension
        guard settings.count >= 1 else { throw WispError.invalidConfiguration("\(Setting.lanczosCount) must be at least 1 (got \(settings.count))") }
        guard settings.count <= N else {
            throw WispError.invalidConfiguration("\(Setting.lanczosCount) \(settings.count) exceeds the matrix dimension \(N)")
        }
        guard settings.tolerance > 0, settings.tolerance.isFinite else {
            throw WispError.invalidConfiguration("\(Setting.lanczosTolerance) must be positive (got \(settings.tolerance))")
        }
        let k = settings.count
        let m = min(N, max(settings.basisSize ?? max(2 * k + 20, 40), k + 1))
        let budget = settings.maxApplications ?? 50 * m
        let f = LanczosFactorization(operator: op, capacity: m, seed: settings.seed)
        var restarts = 0
        if let saved = try checkpoint?.restore() {
            if let problem = saved.inconsistency { throw WispError.badInput("the Lanczos checkpoint is inconsistent: \(problem)") }
            guard saved.localDimension == op.space.localDimension, saved.capacity == m else {
                throw WispError.badInput("the Lanczos checkpoint holds vectors of length \(saved.localDimension) and a basis of \(saved.capacity), this run needs \(op.space.localDimension) and \(m)")
            }
            f.restore(saved)
            restarts = saved.restarts
        } else {
            f.startRandom()
        }
        var result: (values: [Double], vectors: [Double], order: [Int], estimates: [Double]) = ([], [], [], [])

        func evaluate() throws -> Bool {
            let (values, vectors) = try f.ritz()
            let c = f.count
            let order = ordering(values, which: settings.which)
            let scale = values.map(abs).max() ?? 0
            let wanted = Array(order.prefix(k))
            let estimates = wanted.map { f.residualNorm * abs(vectors[(c - 1) * c + $0]) }
            result = (values, vectors, order, estimates)
            let relative = zip(wanted, estimates).map { $1 / max(abs(values[$0]), floor(scale, op, settings), .leastNormalMagnitude) }
            progress?(SolverProgress(operatorApplications: f.applications, budget: budget,
                                     worstRelativeResidual: relative.max() ?? 0, leadingValue: values[order[0]]))
            return wanted.count == k && relative.allSatisfy { $0 <= settings.tolerance }
        }

        var done = false
        while !done {
            var exhausted = false
            while f.count < m {
                if !f.expand(onBreakdown: f.count + 1 < N ? .continueWithRandomVector : .stop) { exhausted = true; break }
                if f.count >= k, try evaluate() { done = true; break }
                if f.applications >= budget { break }
                if let checkpoint, f.count < m, checkpoint.isDue() {
                    var state = f.snapshot()
                    state.restarts = restarts
                    try checkpoint.save(state)
                }
            }
            if !done { _ = try evaluate() }
            if done || exhausted || f.count == N || f.applications >= budget { break }
            let keep = Array(result.order.prefix(min(k + (m - k) / 2, m - 1)))
            f.restart(values: result.values, vectors: result.vectors, columns: keep)
            restarts += 1
        }

        let wanted = Array(result.order.prefix(k))
        let values = wanted.map { result.values[$0] }
        let ritz = f.ritzVectors(result.vectors, columns: wanted)
        let n = op.space.localDimension
        var vectors = [[Double]]()
        var residuals = result.estimates
        var applications = f.applications
        var r = [Double](repeating: 0, count: settings.verifyResiduals ? max(n, 1) : 0)
        for (i, theta) in values.enumerated() {
            let y = Array(ritz[(i * n)..<((i + 1) * n)])
            if settings.verifyResiduals {
                y.withUnsafeBufferPointer { yp in
                    r.withUnsafeMutableBufferPointer { rp in
                        op.apply(yp.baseAddress!, into: rp.baseAddress!)
                        Double.axpy(n: n, alpha: -theta, x: yp.baseAddress!, y: rp.baseAddress!)
                        residuals[i] = op.space.dot(rp.baseAddress!, rp.baseAddress!).squareRoot()
                    }
                }
                applications += 1
            }
            vectors.append(y)
        }
        let scale = result.values.map(abs).max() ?? 0
        let residualFloor = roundingFloor(scale, op)
        // A numerically zero eigenvalue (|θ| at the floor) has no relative accuracy: its pair
        // is converged when its residual is at the floor too.
        let converged = zip(values, residuals).map {
            $1 <= settings.tolerance * abs($0) || (abs($0) <= residualFloor && $1 <= residualFloor)
        }
        let atFloor = zip(converged, residuals).map { !$0 && $1 <= residualFloor }
        return Eigenpairs(values: values, residuals: residuals, residualEstimates: result.estimates, converged: converged,
                          residualFloor: residualFloor, atRoundingFloor: atFloor,
                          vectors: vectors, operatorApplications: applications, restarts: restarts, basisSize: m)
    }

    /// The |θ| below which the relative test becomes absolute: a residual at the operator's
    /// rounding level 100·ε·‖A‖ counts as converged.
    static func floor(_ norm: Double, _ op: any LinearOperator, _ settings: LanczosSettings) -> Double {
        roundingFloor(norm, op) / settings.tolerance
    }

    /// The residual at the operator's rounding level, 100·ε·‖A‖: ε is the unit roundoff of its
    /// passes, the factor covers the error of one application (a sum of GEMM dot products,
    /// ~√(fan-in)·ε relative) and of the Ritz vector.
    public static func roundingFloor(_ norm: Double, _ op: any LinearOperator) -> Double {
        relativeRoundingFloor(unitRoundoff: op.unitRoundoff) * norm
    }

    /// 100·ε: the smallest relative residual ‖A y − θ y‖ / ‖A‖ Wisp calls achievable with
    /// passes of unit roundoff ε (2.2e-14 in float64, 1.2e-5 in float32).
    public static func relativeRoundingFloor(unitRoundoff: Double) -> Double { 100 * unitRoundoff }

    /// Indices of `values` from the requested end first.
    static func ordering(_ values: [Double], which: SpectrumEnd) -> [Int] {
        switch which {
        case .largest: return values.indices.sorted { values[$0] > values[$1] }
        case .smallest: return values.indices.sorted { values[$0] < values[$1] }
        case .largestMagnitude: return values.indices.sorted { abs(values[$0]) > abs(values[$1]) }
        }
    }
}
