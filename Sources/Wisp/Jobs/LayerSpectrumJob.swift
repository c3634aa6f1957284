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

/// The JSON record of a run on a layer network: what ran (the architecture as read, the
/// configuration and settings), how long it took, and the result.
public struct LayerRunRecord<Result: Encodable>: Encodable {
    public var command: String
    public var arguments: [String]
    public var problem: LayerProblem
    public var settings: [String: String]
    public var timings: Timings
    public var result: Result

    public init(command: String, arguments: [String], problem: LayerProblem, settings: [String: String], timings: Timings, result: Result) {
        self.command = command
        self.arguments = arguments
        self.problem = problem
        self.settings = settings
        self.timings = timings
        self.result = result
    }

    private enum Keys: String, CodingKey {
        case wispVersion = "wisp_version", command, arguments, architecture, configuration, settings, timings, result, memory,
             parameters, samples, parallel
    }

    private struct Configuration: Encodable {
        var input_shape: [Int]
        var samples: Int
        var data: LayerInputSource
        var seed: UInt64
        var precision: String
        var parameters: Int
        var outputs: Int
        var parameter_names: [String]
        var weights: String
        /// The loss of ggn, hessian and residual (mse: F and K).
        var loss: Loss
        var targets: LayerTargetSource?
    }

    private struct Parallel: Encodable {
        var ranks: Int
        var samples_per_rank: [Int]
        var communication_calls: Int
        var communication_bytes: Int
        /// Flops of one operator application over all ranks.
        var flops_per_product: Double
    }

    private struct TimingRecord: Encodable {
        var total_seconds: Double
        var operator_seconds: Double
        var operator_applications: Int
        var communication_seconds: Double
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(wispVersion, forKey: .wispVersion)
        try c.encode(command, forKey: .command)
        try c.encode(arguments, forKey: .arguments)
        try c.encode(problem.architecture.jsonValue, forKey: .architecture)
        try c.encode(Configuration(input_shape: problem.architecture.input.dimensions, samples: problem.totalSamples, data: problem.inputSource,
                                   seed: problem.seed, precision: problem.precision.rawValue, parameters: problem.parameterCount,
                                   outputs: problem.outputCount, parameter_names: problem.parameterNames,
                                   weights: problem.weightSource.description, loss: problem.loss ?? .mse, targets: problem.targetSource),
                     forKey: .configuration)
        try c.encode(problem.parameterCount, forKey: .parameters)
        try c.encode(problem.totalSamples, forKey: .samples)
        let comm = problem.communicator
        try c.encode(Parallel(ranks: comm.size, samples_per_rank: (0..<comm.size).map { comm.block(of: problem.totalSamples, rank: $0).count },
                              communication_calls: comm.statistics.calls, communication_bytes: comm.statistics.bytes,
                              flops_per_product: problem.flopsPerSample * Double(problem.totalSamples)), forKey: .parallel)
        try c.encode(settings, forKey: .settings)
        try c.encode(TimingRecord(total_seconds: timings.totalSeconds, operator_seconds: timings.operatorSeconds,
                                  operator_applications: timings.operatorApplications, communication_seconds: timings.communicationSeconds),
                     forKey: .timings)
        try c.encode(["peak_bytes": ResourceUsage.peakResidentBytes()], forKey: .memory)
        try c.encode(result, forKey: .result)
    }

    /// Writes the record atomically (`-`: stdout); a non-finite number is an error naming its
    /// field, before anything is written.
    public func write(to path: String) throws {
        let data = try CanonicalJSON.encode(self, pretty: true)
        try AtomicFile.createDirectory(forFile: path)
        try AtomicFile.write(data, to: path)
    }
}
