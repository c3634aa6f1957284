import Foundation

/// tr A, m_λ = tr A / P and tr(A²)/P of A = F (or G, H, S of the loss): exact where Wisp can
/// afford it, else estimated.
public struct MomentsResult: Encodable, Sendable {
    public var matrix: CurvatureMatrix = .fisher
    public var parameters: Int
    public var trace: Double
    public var meanEigenvalue: Double
    /// tr(F²)/P: exact (‖K‖²_F/P) or the Hutchinson estimate, as `secondMomentMethod` says.
    public var secondMoment: Double
    public var secondMomentStandardError: Double
    public var secondMomentMethod: String
    /// 0 when the trace is exact.
    public var traceStandardError: Double = 0
    public var traceMethod = "exact: (1/T) Σ_t Σ_k ‖∇θ f_k(x_t)‖² from per-sample gradient norms"
    public var probes: Int?
    /// tr(Fᵖ)/P for p = 1…4 from every eigenvalue of K (``ExactSpectrumJob``), when K is formed
    /// and its dense eigensolve costs no more than forming it; else nil with the reason in
    /// ``powerMomentsMethod``.
    public var powerMoments: [Double]?
    public var powerMomentsMethod: String?
    /// λ_max of F from the same eigenvalues.
    public var largestEigenvalue: Double?

    private enum CodingKeys: String, CodingKey {
        case matrix, parameters, trace, meanEigenvalue = "mean_eigenvalue", secondMoment = "second_moment",
             secondMomentStandardError = "second_moment_standard_error", secondMomentMethod = "second_moment_method",
             traceStandardError = "trace_standard_error", traceMethod = "trace_method", probes,
             powerMoments = "power_moments", powerMomentsMethod = "power_moments_method", largestEigenvalue = "largest_eigenvalue"
    }
}

public enum MomentsJob {
    /// Exact tr F, and exact tr(F²) = ‖K‖²_F when TC ≤ `exactLimit` (memory per process
    /// ~ 2·T_block·C·TC doubles plus the gathered factors TC·M); else Hutchinson's E‖K r‖² with
    /// `probes` Rademacher probes. With batch normalization (samples coupled) the exact values
    /// need K column by column, TC operator applications: done when TC ≤ `exactLimit`/8,
    /// otherwise both moments are Hutchinson estimates.
    ///
    /// For the matrices of the loss: G exactly from sample space (tr(Gᵏ) = tr((H_ℓ K)ᵏ),
    /// ``HessianMoments/exactGaussNewtonMoments(_:limit:)``) when TC ≤ `exactLimit`; H and S (and
    /// G above the limit) by Hutchinson in parameter space, E rᵀAr and E‖Ar‖².
    public static func run(_ problem: Problem, matrix: CurvatureMatrix = .fisher, exactLimit: Int, probes: Int, seed: UInt64,
                           reporter: ProgressReporter? = nil) throws -> (MomentsResult, Timings) {
        if matrix.needsLoss { return try runLoss(problem, matrix: matrix, exactLimit: exactLimit, probes: probes, seed: seed, reporter: reporter) }
        let start = DispatchTime.now().uptimeNanoseconds
        let communicationBefore = problem.communicator.statistics
        let P = Double(problem.parameterCount)
        let n = problem.sampleSpaceDimension
        let coupled = problem.exactMomentsCost > 0
        let exact = n <= (coupled ? exactLimit / 8 : exactLimit)
        var result = MomentsResult(parameters: problem.parameterCount, trace: 0, meanEigenvalue: 0,
                                   secondMoment: 0, secondMomentStandardError: 0, secondMomentMethod: "")
        var opSeconds = 0.0, applications = 0
        if exact {
            reporter?.report("forming the \(n) × \(n) NTK Gram matrix" + (coupled ? " column by column (\(n) products)" : ""), force: true)
            let kernelStart = DispatchTime.now().uptimeNanoseconds
            result.trace = problem.exactTrace()
            result.secondMoment = problem.exactSecondMoment()
            result.secondMomentMethod = coupled
                ? "exact: ‖K‖²_F / P with K formed column by column (K e_i)"
                : "exact: ‖K‖²_F / P with K formed from per-layer Gram matrices"
            if coupled {
                result.traceMethod = "exact: Σ_i (K e_i)_i, K formed column by column (batch statistics couple the samples)"
                applications = problem.exactMomentsCost
                opSeconds = Double(DispatchTime.now().uptimeNanoseconds - kernelStart) * 1e-9
            }
            // With K formed, every eigenvalue costs the dense solve: taken when it is no dearer
            // than forming K was (3 × 4/3 n³ against the formation's flops).
            let (form, solve) = ExactSpectrumJob.flops(problem, selection: .all, vectors: false)
            if 3 * solve <= form {
                reporter?.report("eigenvalues of the \(n) × \(n) NTK Gram matrix", force: true)
                let spectrum = try ExactSpectrumJob.run(problem, matrix: .ntk, selection: .all, vectors: false,
                                                        solver: ReplicatedLAPACKEigensolver(communicator: problem.communicator))
                let kept = spectrum.values.prefix(problem.parameterCount)
                result.powerMoments = (1...4).map { p in kept.reduce(0.0) { $0 + Foundation.pow($1, Double(p)) } / P }
                result.powerMomentsMethod = "exact: Σ λ_iᵖ / P over every eigenvalue of K (\(spectrum.method))"
                result.largestEigenvalue = kept.first
            } else {
                result.powerMomentsMethod = String(format: "omitted: the dense eigensolve (%.3g flops) would cost more than forming K (%.3g flops); use wisp density --method exact", 3 * solve, form)
            }
        } else {
            let op = TimedOperator(try problem.makeOperator(.ntk))
            let (first, second) = try Hutchinson.firstTwoMoments(op, probes: probes, seed: seed) { done in
                reporter?.report("probe \(done)/\(probes)", eta: op.seconds / Double(done) * Double(probes - done))
            }
            let s = Double(n) / P
            if coupled {
                result.trace = first.mean * Double(n)
                result.traceStandardError = first.standardError * Double(n)
                result.traceMethod = "Hutchinson: E rᵀ K r over Rademacher probes in sample space (batch statistics make the exact trace cost TC products)"
            } else {
                result.trace = problem.exactTrace()
            }
            result.secondMoment = second.mean * s
            result.secondMomentStandardError = second.standardError * s
            result.secondMomentMethod = "Hutchinson: E‖K r‖² over Rademacher probes in sample space, times TC/P"
            result.probes = probes
            opSeconds = op.seconds
            applications = op.applications
        }
        result.meanEigenvalue = result.trace / P
        let total = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        let communication = (problem.communicator.statistics - communicationBefore).seconds
        return (result, Timings(totalSeconds: total, operatorSeconds: opSeconds, operatorApplications: applications,
                                communicationSeconds: communication))
    }

    /// The same moments on any ``CurvatureProblem`` (a network given as layers) from its
    /// sample-space matrix. F: when TC ≤ `exactLimit` and the problem forms K
    /// (``ExactSampleSpaceProblem/exactSampleSpaceRows(_:)``), tr F = tr K and tr(F²) = ‖K‖²_F
    /// (F = (1/T) JᵀJ and K = (1/T) J Jᵀ share their nonzero eigenvalues), and every tr(Fᵖ)/P
    /// from the eigenvalues of K when the dense solve costs no more than forming it; else
    /// Hutchinson in sample space, tr F ≈ TC·E rᵀKr and tr(F²)/P ≈ (TC/P)·E‖Kr‖². G, H and S:
    /// Hutchinson in parameter space, E rᵀAr and E‖Ar‖² (as ``run(_:matrix:exactLimit:probes:seed:reporter:)``
    /// above the limit). Cost: forming K (``ExactSampleSpaceProblem/exactFormFlops()``) or 2 × `probes` products.
    public static func run(sampleSpaceOf problem: some CurvatureProblem, matrix: CurvatureMatrix = .fisher, exactLimit: Int, probes: Int,
                           seed: UInt64, reporter: ProgressReporter? = nil) throws -> (MomentsResult, Timings) {
        let start = DispatchTime.now().uptimeNanoseconds
        let c = problem.communicator
        let communicationBefore = c.statistics
        let P = Double(problem.parameterCount), n = problem.sampleSpaceDimension
        var result = MomentsResult(parameters: problem.parameterCount, trace: 0, meanEigenvalue: 0,
                                   secondMoment: 0, secondMomentStandardError: 0, secondMomentMethod: "")
        result.matrix = matrix
        var opSeconds = 0.0, applications = 0
        if matrix == .fisher, n <= exactLimit, problem.exactUnsupportedReason(.ntk) == nil {
            reporter?.report("forming the \(n) × \(n) NTK Gram matrix", force: true)
            let formed = try problem.exactSampleSpaceRows(.ntk)
            let local = c.block(of: problem.totalSamples), C = problem.outputCount
            let localRows = local.count * C, first = local.lowerBound * C
            var diagonal = 0.0, squares = 0.0
            for i in 0..<localRows { diagonal += formed.rows[i * n + first + i] }
            for v in formed.rows { squares += v * v }
            result.trace = c.sum(diagonal)
            result.secondMoment = c.sum(squares) / P
            result.traceMethod = "exact: tr K, K = \(formed.described) \(formed.formed)"
            result.secondMomentMethod = "exact: ‖K‖²_F / P, K \(formed.formed)"
            let (form, solve) = ExactSpectrumJob.flops(problem, selection: .all, vectors: false)
            if 3 * solve <= form {
                let spectrum = try ExactSpectrumJob.run(problem, matrix: .ntk, selection: .all, vectors: false,
                                                        solver: ReplicatedLAPACKEigensolver(communicator: c))
                let kept = spectrum.values.prefix(problem.parameterCount)
                result.powerMoments = (1...4).map { p in kept.reduce(0.0) { $0 + Foundation.pow($1, Double(p)) } / P }
                result.powerMomentsMethod = "exact: Σ λ_iᵖ / P over every eigenvalue of K (\(spectrum.method))"
                result.largestEigenvalue = kept.first
            } else {
                result.powerMomentsMethod = String(format: "omitted: the dense eigensolve (%.3g flops) would cost more than forming K (%.3g flops); use wisp density --method exact", 3 * solve, form)
            }
        } else {
            let sampleSpace = matrix == .fisher
            let op = TimedOperator(try problem.makeOperator(sampleSpace ? .ntk : matrix))
            let (first, second) = try Hutchinson.firstTwoMoments(op, probes: probes, seed: seed) { done in
                reporter?.report("probe \(done)/\(probes)", eta: op.seconds / Double(done) * Double(probes - done))
            }
            // E rᵀAr = tr A / N and E‖Ar‖² = tr(A²) / N over the operator's dimension N.
            let N = Double(op.dimension)
            result.trace = first.mean * N
            result.traceStandardError = first.standardError * N
            result.secondMoment = second.mean * N / P
            result.secondMomentStandardError = second.standardError * N / P
            let space = sampleSpace ? "sample space (K; tr F = tr K)" : "parameter space"
            result.traceMethod = "Hutchinson: E rᵀ A r over Rademacher probes in \(space)"
            result.secondMomentMethod = "Hutchinson: E‖A r‖² over Rademacher probes in \(space), times N/P"
            result.probes = probes
            opSeconds = op.seconds
            applications = op.applications
        }
        result.meanEigenvalue = result.trace / P
        let total = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        return (result, Timings(totalSeconds: total, operatorSeconds: opSeconds, operatorApplications: applications,
                                communicationSeconds: (c.statistics - communicationBefore).seconds))
    }

    private static func runLoss(_ problem: Problem, matrix: CurvatureMatrix, exactLimit: Int, probes: Int, seed: UInt64,
                                reporter: ProgressReporter?) throws -> (MomentsResult, Timings) {
        let start = DispatchTime.now().uptimeNanoseconds
        let communicationBefore = problem.communicator.statistics
        let P = Double(problem.parameterCount)
        var result = MomentsResult(parameters: problem.parameterCount, trace: 0, meanEigenvalue: 0,
                                   secondMoment: 0, secondMomentStandardError: 0, secondMomentMethod: "")
        result.matrix = matrix
        var opSeconds = 0.0, applications = 0
        if matrix == .ggn, let exact = try HessianMoments.exactGaussNewtonMoments(problem, limit: exactLimit) {
            result.trace = exact[0] * P
            result.secondMoment = exact[1]
            result.traceMethod = "exact: tr(H_ℓ K) from the NTK Gram matrix K and the loss's output Hessians"
            result.secondMomentMethod = "exact: tr((H_ℓ K)²) / P"
        } else {
            let op = TimedOperator(try problem.makeOperator(matrix))
            let (first, second) = try Hutchinson.firstTwoMoments(op, probes: probes, seed: seed) { done in
                reporter?.report("probe \(done)/\(probes)", eta: op.seconds / Double(done) * Double(probes - done))
            }
            result.trace = first.mean * P
            result.traceStandardError = first.standardError * P
            result.traceMethod = "Hutchinson: E rᵀ A r over Rademacher probes in parameter space"
            result.secondMoment = second.mean
            result.secondMomentStandardError = second.standardError
            result.secondMomentMethod = "Hutchinson: E‖A r‖² / P over Rademacher probes in parameter space"
            result.probes = probes
            opSeconds = op.seconds
            applications = op.applications
        }
        result.meanEigenvalue = result.trace / P
        let total = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        let communication = (problem.communicator.statistics - communicationBefore).seconds
        return (result, Timings(totalSeconds: total, operatorSeconds: opSeconds, operatorApplications: applications,
                                communicationSeconds: communication))
    }
}
