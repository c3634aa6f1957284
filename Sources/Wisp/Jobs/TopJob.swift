import Foundation

/// The k extreme eigenpairs of F or K with their residuals.
public struct TopResult: Encodable, Sendable {
    public var matrix: CurvatureMatrix
    /// "parameter" (F, P-dimensional) or "sample" (K, TC-dimensional).
    public var space: String
    public var method = "thick-restart Lanczos with full reorthogonalization (LAPACK dstev/dsyevd on the projected matrix)"
    /// Descending.
    public var eigenvalues: [Double]
    /// ‖A y − θ y‖, recomputed with one extra application per pair.
    public var residuals: [Double]
    public var residualEstimates: [Double]
    public var converged: [Bool]
    public var operatorApplications: Int
    public var restarts: Int
    public var basisSize: Int
    public var tolerance: Double
    /// The achievable residual 100·ε·‖A‖ of the operator's precision (``Eigenpairs/residualFloor``).
    public var residualFloor: Double = 0
    /// Whether each pair stopped at that floor without meeting the tolerance.
    public var atRoundingFloor: [Bool] = []
    /// Whether the tolerance asks for less than the floor allows: tol < 100·ε (relative to
    /// the largest eigenvalue), so pairs may stop at the floor unconverged.
    public var toleranceBelowFloor: Bool = false
    /// This process's parts of the unit eigenvectors (not written to JSON).
    public var vectors: [[Double]] = []
    /// The eigenvectors of F written with `--save-eigenvectors` (``EigenvectorExport``).
    public var eigenvectors: EigenvectorReport?
    /// Which path ran (exact or Lanczos) and why.
    public var methodChoice: MethodChoice?

    private enum CodingKeys: String, CodingKey {
        case matrix, space, method, eigenvalues, residuals, residualEstimates = "residual_estimates", converged,
             operatorApplications = "operator_applications", restarts, basisSize = "basis_size", tolerance, eigenvectors,
             methodChoice = "method_choice",
             residualFloor = "residual_floor", atRoundingFloor = "at_rounding_floor", toleranceBelowFloor = "tolerance_below_floor"
    }
}

public enum TopJob {
    /// With `checkpoint`, the factorization is restored from and saved to it.
    public static func run(_ problem: some CurvatureProblem, matrix: CurvatureMatrix, settings: LanczosSettings,
                           checkpoint: CheckpointDirectory? = nil,
                           reporter: ProgressReporter? = nil) throws -> (TopResult, Timings) {
        let start = DispatchTime.now().uptimeNanoseconds
        let communicationBefore = problem.communicator.statistics
        let op = TimedOperator(try problem.makeOperator(matrix))
        // Before 2k + 20 below can overflow (the solver repeats these checks).
        guard settings.count >= 1 else { throw WispError.invalidConfiguration("\(Setting.lanczosCount) must be at least 1 (got \(settings.count))") }
        guard settings.count <= op.dimension else {
            throw WispError.invalidConfiguration("\(Setting.lanczosCount) \(settings.count) exceeds the matrix dimension \(op.dimension)")
        }
        let vectors = min(op.dimension, settings.basisSize ?? max(2 * settings.count + 20, 40)) + 1 + settings.count
        try problem.communicator.agree { try ensureBasisFits(problem: problem, op: op, vectors: vectors) }
        var first: (apps: Int, logRes: Double)? = nil
        let pairs = try Lanczos.solve(op, settings: settings, checkpoint: checkpoint) { p in
            let logRes = Foundation.log10(max(p.worstRelativeResidual, 1e-300))
            var eta: Double? = nil
            if let f = first, p.operatorApplications > f.apps, logRes < f.logRes {
                let rate = (f.logRes - logRes) / Double(p.operatorApplications - f.apps)
                let remaining = (logRes - Foundation.log10(settings.tolerance)) / rate
                eta = max(remaining, 0) * op.seconds / Double(max(op.applications, 1))
            } else if first == nil {
                first = (p.operatorApplications, logRes)
            }
            reporter?.report(String(format: "applications %d/%d, worst relative residual %.2e, λ %.6e",
                                    p.operatorApplications, p.budget, p.worstRelativeResidual, p.leadingValue), eta: eta)
        }
        let result = TopResult(matrix: matrix, space: matrix.space, eigenvalues: pairs.values,
                               residuals: pairs.residuals, residualEstimates: pairs.residualEstimates, converged: pairs.converged,
                               operatorApplications: pairs.operatorApplications, restarts: pairs.restarts,
                               basisSize: pairs.basisSize, tolerance: settings.tolerance,
                               residualFloor: pairs.residualFloor, atRoundingFloor: pairs.atRoundingFloor,
                               toleranceBelowFloor: settings.tolerance < Lanczos.relativeRoundingFloor(unitRoundoff: op.unitRoundoff),
                               vectors: pairs.vectors)
        let total = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        let communication = (problem.communicator.statistics - communicationBefore).seconds
        return (result, Timings(totalSeconds: total, operatorSeconds: op.seconds, operatorApplications: op.applications,
                            communicationSeconds: communication))
    }

    /// The k extreme eigenpairs of F, K or G by the exact sample-space path (``ExactSpectrumJob``):
    /// the TC × TC matrix formed, LAPACK `dsyevr` for the k wanted pairs, each pair's residual
    /// ‖A u − λ u‖ recomputed with the matrix-free sample-space operator (one application per
    /// pair). A pair is converged when that residual is at most `tolerance`·|λ|. The result is in
    /// sample space (vectors u; F's are v = Jᵀ u / √(T λ), ``EigenvectorExport``).
    public static func runExact(_ problem: some ExactSampleSpaceProblem, matrix: CurvatureMatrix, count k: Int, which: SpectrumEnd, tolerance: Double,
                                solver: any SymmetricEigensolver, reporter: ProgressReporter? = nil) throws -> (TopResult, Timings) {
        let start = DispatchTime.now().uptimeNanoseconds
        let communicationBefore = problem.communicator.statistics
        let n = problem.sampleSpaceDimension
        guard k >= 1, k <= n else {
            throw WispError.invalidConfiguration("\(Setting.lanczosCount) must be between 1 and TC = \(n) for \(Setting.method) exact (got \(k))")
        }
        // Semidefinite: the largest magnitudes are the largest.
        let selection: EigenSelection = which == .smallest ? .indices(0..<k) : .indices((n - k)..<n)
        let spectrum = try ExactSpectrumJob.run(problem, matrix: matrix, selection: selection, vectors: true, solver: solver, reporter: reporter)
        var values = spectrum.values
        var vectors = (0..<values.count).map { spectrum.vector($0) }
        if which == .smallest { values.reverse(); vectors.reverse() }
        let op = TimedOperator(try ExactSpectrumJob.sampleSpaceOperator(problem, spectrum: spectrum))
        let residuals = ExactSpectrumJob.residuals(op, values: values, vectors: vectors, reporter: reporter)
        // The rounding floor 100·ε·‖A‖ of the matrix-free check (‖A‖ = λ_max for the top end;
        // for the bottom end the solved matrix's trace ≥ ‖A‖ bounds it: A is semidefinite).
        let norm = which == .smallest ? spectrum.trace : values.map(abs).max() ?? 0
        let floor = Lanczos.relativeRoundingFloor(unitRoundoff: op.unitRoundoff) * norm
        let converged = zip(residuals, values).map { r, v in r <= tolerance * abs(v) || (abs(v) <= floor && r <= floor) }
        let atFloor = zip(converged, residuals).map { !$0 && $1 <= floor }
        let result = TopResult(matrix: matrix, space: "sample", method: spectrum.method, eigenvalues: values, residuals: residuals,
                               residualEstimates: residuals, converged: converged, operatorApplications: 0, restarts: 0, basisSize: 0,
                               tolerance: tolerance, residualFloor: floor, atRoundingFloor: atFloor,
                               toleranceBelowFloor: tolerance < Lanczos.relativeRoundingFloor(unitRoundoff: op.unitRoundoff), vectors: vectors)
        let total = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        let communication = (problem.communicator.statistics - communicationBefore).seconds
        return (result, Timings(totalSeconds: total, operatorSeconds: op.seconds, operatorApplications: op.applications + spectrum.formApplications,
                                communicationSeconds: communication))
    }

    /// Refuses a Krylov basis that cannot fit in memory, before allocating it.
    static func ensureBasisFits(problem: some ExactSampleSpaceProblem, op: any LinearOperator, vectors: Int) throws {
        let bytes = Double(vectors) * Double(op.space.localDimension) * 8
        try RunMemory.checkBasis(vectors: vectors, length: op.space.localDimension, what: "the Lanczos basis")
        if let available = ResourceUsage.availableBytes(), bytes > 0.8 * Double(available) {
            throw WispError.invalidConfiguration(String(
                format: "a Lanczos basis of %d vectors of length %d needs %.1f GB but only %.1f GB are available; use \(Setting.matrix) ntk (vectors of length TC = %d) or fewer steps",
                vectors, op.space.localDimension, bytes / 1e9, Double(available) / 1e9, problem.sampleSpaceDimension))
        }
    }
}
