import Foundation

/// `wisp top` and `wisp density` on a network given as layers (``LayerProblem``): thick-restart
/// Lanczos or stochastic Lanczos quadrature on the matrix-free F = (1/T) JᵀJ or
/// K = (1/T) J Jᵀ (mse), or the loss matrices G, H = G + S and S (``LayerProblem`` made with a
/// loss), or the exact sample-space path for F and K (``LayerProblem``'s
/// ``ExactSampleSpaceProblem`` conformance, shared with the MLP path), and their JSON record
/// (``LayerRunRecord``).
public enum LayerSpectrumJob {
    /// The k extreme eigenpairs of F or K by the exact path (``TopJob/runExact(_:matrix:count:which:tolerance:solver:reporter:)``):
    /// K formed from the per-layer factors, LAPACK or ScaLAPACK, each pair's residual from the
    /// matrix-free ``LayerGramOperator``.
    public static func topExact(_ problem: LayerProblem, matrix: CurvatureMatrix, count k: Int, which: SpectrumEnd, tolerance: Double,
                                solver: any SymmetricEigensolver, reporter: ProgressReporter? = nil) throws -> (LayerTopResult, Timings) {
        let (top, timings) = try TopJob.runExact(problem, matrix: matrix, count: k, which: which, tolerance: tolerance, solver: solver,
                                                 reporter: reporter)
        var result = LayerTopResult(matrix: matrix, eigenvalues: top.eigenvalues, residuals: top.residuals, converged: top.converged,
                                    atRoundingFloor: top.atRoundingFloor, residualFloor: top.residualFloor, tolerance: tolerance,
                                    operatorApplications: 0, basisSize: 0)
        result.method = top.method
        return (result, timings)
    }

    /// The extreme eigenpairs of `matrix` by Lanczos.
    public static func top(_ problem: LayerProblem, matrix: CurvatureMatrix, settings: LanczosSettings,
                           reporter: ProgressReporter? = nil) throws -> (LayerTopResult, Timings) {
        let start = DispatchTime.now().uptimeNanoseconds
        let communicationBefore = problem.communicator.statistics
        let op = TimedOperator(try problem.makeOperator(matrix))
        try problem.communicator.agree {
            let m = min(op.dimension, settings.basisSize ?? max(2 * settings.count + 20, 40)) + 1
            try MemoryBudget.allocation("the Lanczos basis (\(m) vectors of \(op.space.localDimension))",
                                        count: try MemoryBudget.count("the Lanczos basis", m, op.space.localDimension))
        }
        let pairs = try Lanczos.solve(op, settings: settings) { p in
            reporter?.report(String(format: "%d applications, worst residual %.2e", p.operatorApplications, p.worstRelativeResidual), eta: nil)
        }
        let result = LayerTopResult(matrix: matrix, eigenvalues: pairs.values, residuals: pairs.residuals, converged: pairs.converged,
                                    atRoundingFloor: pairs.atRoundingFloor, residualFloor: pairs.residualFloor, tolerance: settings.tolerance,
                                    operatorApplications: pairs.operatorApplications, basisSize: pairs.basisSize)
        let total = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        return (result, Timings(totalSeconds: total, operatorSeconds: op.seconds, operatorApplications: op.applications,
                                communicationSeconds: (problem.communicator.statistics - communicationBefore).seconds))
    }

    /// The spectral density of F by SLQ on `matrix` (fisher: probes in parameter space; ntk: in
    /// sample space, with F's extra mass 1 − TC/P at zero: ρ_F = s ρ_K + (1 − s) δ₀, s = TC/P).
    public static func density(_ problem: LayerProblem, matrix: CurvatureMatrix, settings: SLQSettings, grid: DensitySettings,
                               reporter: ProgressReporter? = nil) throws -> (DensityResult, Timings) {
        let start = DispatchTime.now().uptimeNanoseconds
        let communicationBefore = problem.communicator.statistics
        let op = TimedOperator(try problem.makeOperator(matrix))
        try problem.communicator.agree {
            let m = min(settings.steps, op.dimension) + 1
            try MemoryBudget.allocation("the Lanczos basis (\(m) vectors of \(op.space.localDimension))",
                                        count: try MemoryBudget.count("the Lanczos basis", m, op.space.localDimension))
            try RunMemory.checkDensity(probes: settings.probes, nodesPerProbe: min(settings.steps, op.dimension), gridPoints: grid.points)
        }
        var computed = 0
        let slq = try StochasticLanczosQuadrature.run(op, settings: settings, completed: [:]) { p, _ in
            computed += 1
            reporter?.report("probe \(p + 1)/\(settings.probes)", eta: op.seconds / Double(computed) * Double(settings.probes - computed))
        }
        let P = Double(problem.parameterCount)
        let s = matrix == .ntk ? min(Double(problem.sampleSpaceDimension) / P, 1) : 1
        let (nodes, weights) = SpectralDensity.pooled(slq.rules)
        let density = try SpectralDensity(nodes: nodes, weights: weights.map { $0 * s }, extraZeroMass: 1 - s, settings: grid)
        let moments = (1...4).map { order -> MomentRecord in
            let e = slq.normalizedMoment(order).scaled(by: s)
            return MomentRecord(order: order, estimate: e.mean, standardError: e.standardError, exact: nil)
        }
        var result = DensityResult(matrix: matrix, space: matrix.space, probes: settings.probes, steps: min(settings.steps, op.dimension),
                                   nullSpaceFraction: max(1 - s, 0), density: density, moments: moments, largestNode: nodes.max() ?? 0,
                                   operatorApplications: slq.operatorApplications, resumedProbes: 0)
        result.method = "stochastic Lanczos quadrature (Rademacher probes, Gauss nodes, Gaussian broadening) on the matrix-free layer passes"
        result.densityOf = ["ggn": "G", "hessian": "H", "residual": "S"][matrix.rawValue] ?? "F"
        let total = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        return (result, Timings(totalSeconds: total, operatorSeconds: op.seconds, operatorApplications: op.applications,
                                communicationSeconds: (problem.communicator.statistics - communicationBefore).seconds))
    }
}

/// The eigenpairs of `wisp top` on a layer network, each with its residual.
public struct LayerTopResult: Encodable, Sendable {
    public var matrix: CurvatureMatrix
    public var method = "thick-restart Lanczos on the matrix-free layer passes"
    /// Descending.
    public var eigenvalues: [Double]
    /// ‖A y − θ y‖ for each pair.
    public var residuals: [Double]
    public var converged: [Bool]
    public var atRoundingFloor: [Bool]
    public var residualFloor: Double
    public var tolerance: Double
    public var operatorApplications: Int
    public var basisSize: Int
    /// Which path ran (exact or Lanczos) and why.
    public var methodChoice: MethodChoice?

    private enum CodingKeys: String, CodingKey {
        case matrix, method, eigenvalues, residuals, converged, atRoundingFloor = "at_rounding_floor", residualFloor = "residual_floor",
             tolerance, operatorApplications = "operator_applications", basisSize = "basis_size", methodChoice = "method_choice"
    }
}

