import Foundation

/// tr F, m_λ = tr F / P and tr(F²)/P: exact where Wisp can afford it, else estimated.
public struct MomentsResult: Encodable, Sendable {
    public var parameters: Int
    public var trace: Double
    public var meanEigenvalue: Double
    /// tr(F²)/P: exact (‖K‖²_F/P) or the Hutchinson estimate, as `secondMomentMethod` says.
    public var secondMoment: Double
    public var secondMomentStandardError: Double
    public var secondMomentMethod: String
    public var traceMethod = "exact: (1/T) Σ_t Σ_k ‖∇θ f_k(x_t)‖² from per-sample gradient norms"
    public var probes: Int?

    private enum CodingKeys: String, CodingKey {
        case parameters, trace, meanEigenvalue = "mean_eigenvalue", secondMoment = "second_moment",
             secondMomentStandardError = "second_moment_standard_error", secondMomentMethod = "second_moment_method",
             traceMethod = "trace_method", probes
    }
}

public enum MomentsJob {
    /// Exact tr F always; exact tr(F²) = ‖K‖²_F when TC ≤ `exactLimit` (memory per process
    /// ~ 2·T_block·C·TC doubles plus the gathered factors TC·M), else Hutchinson's E‖K r‖² with `probes` Rademacher probes.
    public static func run(_ problem: Problem, exactLimit: Int, probes: Int, seed: UInt64,
                           reporter: ProgressReporter? = nil) throws -> (MomentsResult, Timings) {
        let start = DispatchTime.now().uptimeNanoseconds
        let communicationBefore = problem.communicator.statistics
        let P = Double(problem.parameterCount)
        let trace = problem.exactTrace()
        let n = problem.sampleSpaceDimension
        var result = MomentsResult(parameters: problem.parameterCount, trace: trace, meanEigenvalue: trace / P,
                                   secondMoment: 0, secondMomentStandardError: 0, secondMomentMethod: "")
        var opSeconds = 0.0, applications = 0
        if n <= exactLimit {
            reporter?.report("forming the \(n) × \(n) NTK Gram matrix", force: true)
            result.secondMoment = problem.exactSecondMoment()
            result.secondMomentMethod = "exact: ‖K‖²_F / P with K formed from per-layer Gram matrices"
        } else {
            let op = TimedOperator(problem.makeOperator(.ntk))
            let (_, second) = try Hutchinson.firstTwoMoments(op, probes: probes, seed: seed) { done in
                reporter?.report("probe \(done)/\(probes)", eta: op.seconds / Double(done) * Double(probes - done))
            }
            let s = Double(n) / P
            result.secondMoment = second.mean * s
            result.secondMomentStandardError = second.standardError * s
            result.secondMomentMethod = "Hutchinson: E‖K r‖² over Rademacher probes in sample space, times TC/P"
            result.probes = probes
            opSeconds = op.seconds
            applications = op.applications
        }
        let total = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        let communication = (problem.communicator.statistics - communicationBefore).seconds
        return (result, Timings(totalSeconds: total, operatorSeconds: opSeconds, operatorApplications: applications,
                            communicationSeconds: communication))
    }
}
