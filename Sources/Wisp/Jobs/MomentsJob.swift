import Foundation

/// tr A, m_λ = tr A / P and tr(A²)/P of A = F (or G, H, S of the loss): exact where Wisp can
/// afford it, else estimated.
public struct MomentsResult: Encodable, Sendable {
    /// The MLP path's exact trace (no products).
    static let gradientNormTrace = "exact: (1/T) Σ_t Σ_k ‖∇θ f_k(x_t)‖² from per-sample gradient norms"
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
    public var traceMethod = Self.gradientNormTrace
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
        try timed(problem.communicator, parameters: problem.parameterCount, matrix: matrix) { result in
            if matrix.needsLoss {
                if matrix == .ggn, let exact = try HessianMoments.exactGaussNewtonMoments(problem, limit: exactLimit) {
                    result.trace = exact[0] * Double(problem.parameterCount)
                    result.secondMoment = exact[1]
                    result.traceMethod = "exact: tr(H_ℓ K) from the NTK Gram matrix K and the loss's output Hessians"
                    result.secondMomentMethod = "exact: tr((H_ℓ K)²) / P"
                    return (0, 0)
                }
                return try hutchinson(try problem.makeOperator(matrix), space: "parameter space", probes: probes, seed: seed,
                                      reporter: reporter, into: &result)
            }
            let n = problem.sampleSpaceDimension
            let coupled = problem.exactMomentsCost > 0
            guard n <= (coupled ? exactLimit / 8 : exactLimit) else {
                let cost = try hutchinson(try problem.makeOperator(.ntk), space: "sample space (K; tr F = tr K)", probes: probes, seed: seed,
                                          reporter: reporter, into: &result)
                if coupled {
                    result.traceMethod += " (batch statistics make the exact trace cost TC products)"
                } else {
                    (result.trace, result.traceStandardError) = (problem.exactTrace(), 0)
                    result.traceMethod = MomentsResult.gradientNormTrace
                }
                return cost
            }
            reporter?.report("forming the \(n) × \(n) NTK Gram matrix" + (coupled ? " column by column (\(n) products)" : ""), force: true)
            let kernelStart = DispatchTime.now().uptimeNanoseconds
            result.trace = problem.exactTrace()
            result.secondMoment = problem.exactSecondMoment()
            result.secondMomentMethod = coupled
                ? "exact: ‖K‖²_F / P with K formed column by column (K e_i)"
                : "exact: ‖K‖²_F / P with K formed from per-layer Gram matrices"
            let kernelSeconds = Double(DispatchTime.now().uptimeNanoseconds - kernelStart) * 1e-9
            if coupled { result.traceMethod = "exact: Σ_i (K e_i)_i, K formed column by column (batch statistics couple the samples)" }
            // The problem keeps the Gram rows: the eigensolve takes them without forming K again.
            var formed: SampleSpaceRows? = nil
            try addPowerMoments(problem, formed: &formed, formSeconds: kernelSeconds, reporter: reporter, into: &result)
            return coupled ? (kernelSeconds, problem.exactMomentsCost) : (0, 0)
        }
    }

    /// The same moments on any ``CurvatureProblem`` (a network given as layers) from its
    /// sample-space matrix. F: when TC ≤ `exactLimit` and the problem forms K
    /// (``ExactSampleSpaceProblem/exactSampleSpaceRows(_:)``), tr F = tr K and tr(F²) = ‖K‖²_F
    /// (F = (1/T) JᵀJ and K = (1/T) J Jᵀ share their nonzero eigenvalues), and every tr(Fᵖ)/P
    /// from the eigenvalues of the same K when the dense solve costs no more than forming it; else
    /// Hutchinson in sample space, tr F ≈ TC·E rᵀKr and tr(F²)/P ≈ (TC/P)·E‖Kr‖², with tr F then
    /// exact from the per-sample gradient norms (``CurvatureProblem/exactFisherTrace(withinProducts:)``)
    /// unless batch statistics couple the samples. K formed column by column (batch statistics,
    /// ``CurvatureProblem/exactFormProducts``: TC products) only when TC ≤ `exactLimit`/8, as for the MLP. G
    /// the same way from B K B, B = H_ℓ^(1/2) (G = (1/T) Jᵀ H_ℓ J shares its nonzero eigenvalues;
    /// Jacot et al. §3.1). H and S, and G above the limit: Hutchinson in parameter space, E rᵀAr
    /// and E‖Ar‖² (as ``run(_:matrix:exactLimit:probes:seed:reporter:)``). Cost: forming K once (``ExactSampleSpaceProblem/exactFormFlops()``) or 2 × `probes` products.
    public static func run(sampleSpaceOf problem: some CurvatureProblem, matrix: CurvatureMatrix = .fisher, exactLimit: Int, probes: Int,
                           seed: UInt64, reporter: ProgressReporter? = nil) throws -> (MomentsResult, Timings) {
        try timed(problem.communicator, parameters: problem.parameterCount, matrix: matrix) { result in
            let n = problem.sampleSpaceDimension
            // K by columns (batch statistics) costs TC products: formed only for TC ≤ limit/8, as for the MLP.
            let byColumns = problem.exactFormProducts > 0
            // F from K, G from B K B (B = H_ℓ^(1/2)): the same nonzero eigenvalues, so the same traces.
            let dual: CurvatureMatrix = matrix == .ggn ? .ggn : .ntk
            guard matrix == .fisher || matrix == .ggn, n <= (byColumns ? exactLimit / 8 : exactLimit),
                  problem.exactUnsupportedReason(dual) == nil else {
                let sampleSpace = matrix == .fisher
                let cost = try hutchinson(try problem.makeOperator(sampleSpace ? .ntk : matrix),
                                          space: sampleSpace ? "sample space (K; tr F = tr K)" : "parameter space",
                                          probes: probes, seed: seed, reporter: reporter, into: &result)
                // tr F exactly from the per-sample gradient norms where they are cheap (no batch statistics).
                if sampleSpace, !byColumns, let trace = problem.exactFisherTrace(withinProducts: problem.outputCount + 1) {
                    (result.trace, result.traceStandardError, result.traceMethod) = (trace, 0, MomentsResult.gradientNormTrace)
                } else if sampleSpace, byColumns {
                    result.traceMethod += " (batch statistics make the exact trace cost TC products)"
                }
                return cost
            }
            let c = problem.communicator
            reporter?.report("forming the \(n) × \(n) NTK Gram matrix", force: true)
            let formStart = DispatchTime.now().uptimeNanoseconds
            var formed: SampleSpaceRows? = try problem.exactSampleSpaceRows(dual)
            let formSeconds = Double(DispatchTime.now().uptimeNanoseconds - formStart) * 1e-9
            let local = c.block(of: problem.totalSamples), C = problem.outputCount
            let localRows = local.count * C, first = local.lowerBound * C
            var diagonal = 0.0, squares = 0.0
            formed!.rows.withUnsafeBufferPointer { k in
                for i in 0..<localRows { diagonal += k[i * n + first + i] }
                for v in k { squares += v * v }
            }
            result.trace = c.sum(diagonal)
            result.secondMoment = c.sum(squares) / Double(problem.parameterCount)
            let (name, solved) = dual == .ggn ? ("G", "B K B") : ("F", "K")
            result.traceMethod = "exact: tr \(name) = tr \(solved), \(formed!.described), K \(formed!.formed)"
            result.secondMomentMethod = "exact: tr(\(name)²) / P = ‖\(solved)‖²_F / P, K \(formed!.formed)"
            // One K: the eigensolve consumes the rows the moments were read from.
            try addPowerMoments(problem, matrix: dual, formed: &formed, formSeconds: formSeconds, reporter: reporter, into: &result)
            return (0, 0)
        }
    }

    /// Runs `body` on a fresh result of `matrix` (it returns the seconds and count of its
    /// operator applications), then sets m_λ = tr A / P and the timings.
    private static func timed(_ c: any Communicator, parameters: Int, matrix: CurvatureMatrix,
                              _ body: (inout MomentsResult) throws -> (seconds: Double, applications: Int)) throws -> (MomentsResult, Timings) {
        let start = DispatchTime.now().uptimeNanoseconds
        let communicationBefore = c.statistics
        var result = MomentsResult(parameters: parameters, trace: 0, meanEigenvalue: 0,
                                   secondMoment: 0, secondMomentStandardError: 0, secondMomentMethod: "")
        result.matrix = matrix
        let (seconds, applications) = try body(&result)
        result.meanEigenvalue = result.trace / Double(parameters)
        let total = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        return (result, Timings(totalSeconds: total, operatorSeconds: seconds, operatorApplications: applications,
                                communicationSeconds: (c.statistics - communicationBefore).seconds))
    }

    /// Hutchinson's estimates over `probes` Rademacher probes of the operator A of dimension N
    /// (K in sample space, or G, H, S in parameter space): tr A = N·E rᵀAr and
    /// tr(A²)/P = (N/P)·E‖Ar‖², with their standard errors. Cost: `probes` applications of A
    /// (each probe's Ar serves both moments).
    private static func hutchinson(_ operator: any LinearOperator, space: String, probes: Int, seed: UInt64,
                                   reporter: ProgressReporter?, into result: inout MomentsResult) throws -> (seconds: Double, applications: Int) {
        let op = TimedOperator(`operator`)
        let (first, second) = try Hutchinson.firstTwoMoments(op, probes: probes, seed: seed) { done in
            reporter?.report("probe \(done)/\(probes)", eta: op.seconds / Double(done) * Double(probes - done))
        }
        let N = Double(op.dimension), P = Double(result.parameters)
        result.trace = first.mean * N
        result.traceStandardError = first.standardError * N
        result.secondMoment = second.mean * N / P
        result.secondMomentStandardError = second.standardError * N / P
        result.traceMethod = "Hutchinson: E rᵀ A r over Rademacher probes in \(space), times N"
        result.secondMomentMethod = "Hutchinson: E‖A r‖² over Rademacher probes in \(space), times N/P"
        result.probes = probes
        return (op.seconds, op.applications)
    }

    /// tr(Fᵖ)/P for p = 1…4 and λ_max from every eigenvalue of K (the nonzero eigenvalues of F),
    /// when the dense solve (3 × 4/3 n³ flops) costs no more than forming K did; else the reason.
    /// `formed`: K's rows if the caller formed them (taken, and consumed by the solver); nil: the
    /// problem forms them (the MLP path hands over the Gram rows it kept from the moments).
    private static func addPowerMoments(_ problem: some ExactSampleSpaceProblem, matrix: CurvatureMatrix = .ntk, formed: inout SampleSpaceRows?,
                                        formSeconds: Double, reporter: ProgressReporter?, into result: inout MomentsResult) throws {
        let (form, solve) = ExactSpectrumJob.flops(problem, selection: .all, vectors: false)
        guard 3 * solve <= form else {
            result.powerMomentsMethod = String(format: "omitted: the dense eigensolve (%.3g flops) would cost more than forming K (%.3g flops); use wisp density \(Setting.method) exact", 3 * solve, form)
            return
        }
        var rows: SampleSpaceRows
        if let f = formed {
            rows = f
            formed = nil
        } else {
            rows = try problem.exactSampleSpaceRows(matrix)
        }
        let n = problem.sampleSpaceDimension
        reporter?.report("eigenvalues of the \(n) × \(n) sample-space matrix", force: true)
        let spectrum = try ExactSpectrumJob.solve(&rows, of: problem, matrix: matrix, selection: .all, vectors: false,
                                                  solver: ReplicatedLAPACKEigensolver(communicator: problem.communicator),
                                                  formSeconds: formSeconds)
        let kept = spectrum.values.prefix(result.parameters), P = Double(result.parameters)
        result.powerMoments = (1...4).map { p in kept.reduce(0.0) { $0 + Foundation.pow($1, Double(p)) } / P }
        result.powerMomentsMethod = "exact: Σ λ_iᵖ / P over every eigenvalue of \(matrix == .ggn ? "B K B" : "K") (\(spectrum.method))"
        result.largestEigenvalue = kept.first
    }
}
