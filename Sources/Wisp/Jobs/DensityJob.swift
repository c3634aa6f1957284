import Foundation

/// One moment tr(Fᵖ)/P: the SLQ estimate with its standard error, and the exact value where
/// Wisp computes it.
public struct MomentRecord: Codable, Sendable {
    public var order: Int
    public var estimate: Double
    public var standardError: Double
    public var exact: Double?

    private enum CodingKeys: String, CodingKey { case order, estimate, standardError = "standard_error", exact }
}

/// The spectral density of F by stochastic Lanczos quadrature.
public struct DensityResult: Encodable, Sendable {
    public var matrix: CurvatureMatrix
    public var space: String
    public var method = "stochastic Lanczos quadrature (Rademacher probes, Gauss nodes, Gaussian broadening)"
    public var probes: Int
    public var steps: Int
    /// "F" for fisher and ntk (in sample space, ρ_F = (TC/P) ρ_K + (1 − TC/P) δ₀), else the
    /// matrix measured: "G", "H" or "S".
    public var densityOf = "F"
    /// 1 − TC/P when the density was measured in sample space (the exact null space of F
    /// outside K's range), included in ``density``'s zero mass; 0 in parameter space.
    public var nullSpaceFraction: Double
    public var density: SpectralDensity
    /// tr(Fᵖ)/P for p = 1…4.
    public var moments: [MomentRecord]
    /// The largest Gauss node over all probes (a lower bound on λ_max, close to it).
    public var largestNode: Double
    public var operatorApplications: Int
    /// Probes restored from a checkpoint instead of computed in this run.
    public var resumedProbes: Int
    public var csv: String?
    public var svg: String?
    /// The exact path's eigenvalues of the sample-space matrix (all TC, descending), written in
    /// full to ``eigenvaluesFile`` beside the JSON; nil for SLQ.
    public var exactEigenvalues: [Double]?
    public var eigenvaluesFile: String?
    /// Which path ran and why (`--method auto`).
    public var methodChoice: MethodChoice?
    /// The estimate against the exact spectrum (`--compare-exact`).
    public var comparison: DensityComparison?
    /// SLQ's measure of the density's matrix: every probe's Gauss nodes with weights τ_j / n_v
    /// (scaled by TC/P in sample space, the null space 1 − TC/P as a node at 0), written as
    /// `nodes` and `weights` so that any other broadening or statistic can be computed from the
    /// record (as `train` records it at each checkpoint); nil for the exact path and KPM.
    public var estimateMeasure: (nodes: [Double], weights: [Double])?

    private enum CodingKeys: String, CodingKey {
        case matrix, space, method, probes, steps, densityOf = "density_of", nullSpaceFraction = "null_space_fraction",
             moments, largestNode = "largest_node", operatorApplications = "operator_applications", resumedProbes = "resumed_probes", csv, svg
        case grid, gridScale = "grid_scale", densityValues = "density", broadening, zeroMass = "zero_mass", negativeMass = "negative_mass"
        case eigenvaluesFile = "eigenvalues_file", eigenvalueCount = "eigenvalue_count", methodChoice = "method_choice",
             comparison = "exact_comparison", nodes, weights
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(matrix, forKey: .matrix)
        try c.encode(space, forKey: .space)
        try c.encode(method, forKey: .method)
        // Probes, steps and resumed probes are SLQ's: an exact spectrum has none to report.
        if exactEigenvalues == nil {
            try c.encode(probes, forKey: .probes)
            try c.encode(steps, forKey: .steps)
        }
        try c.encode(densityOf, forKey: .densityOf)
        try c.encode(nullSpaceFraction, forKey: .nullSpaceFraction)
        try c.encode(moments, forKey: .moments)
        try c.encode(largestNode, forKey: .largestNode)
        try c.encode(operatorApplications, forKey: .operatorApplications)
        if exactEigenvalues == nil { try c.encode(resumedProbes, forKey: .resumedProbes) }
        try c.encodeIfPresent(csv, forKey: .csv)
        try c.encodeIfPresent(svg, forKey: .svg)
        try c.encode(density.grid, forKey: .grid)
        try c.encode(density.scale, forKey: .gridScale)
        try c.encode(density.density, forKey: .densityValues)
        try c.encode(density.broadening, forKey: .broadening)
        try c.encode(density.zeroMass, forKey: .zeroMass)
        try c.encode(density.negativeMass, forKey: .negativeMass)
        try c.encodeIfPresent(eigenvaluesFile, forKey: .eigenvaluesFile)
        try c.encodeIfPresent(exactEigenvalues?.count, forKey: .eigenvalueCount)
        try c.encodeIfPresent(methodChoice, forKey: .methodChoice)
        try c.encodeIfPresent(comparison, forKey: .comparison)
        try c.encodeIfPresent(estimateMeasure?.nodes, forKey: .nodes)
        try c.encodeIfPresent(estimateMeasure?.weights, forKey: .weights)
    }
}

public enum DensityJob {
    /// The exact density of F (or G) from all TC eigenvalues of the sample-space matrix
    /// (``ExactSpectrumJob``): F has the min(TC, P) largest of them and max(P − TC, 0) zeros, so
    ///     ρ_F = (1/P) Σ_i δ(λ − λ_i) + (1 − min(TC, P)/P) δ₀,   tr(Fᵖ)/P = (1/P) Σ_i λ_iᵖ,
    /// drawn on the same grid and broadening as SLQ. Moments are exact (standard error 0).
    public static func runExact(_ problem: some ExactSampleSpaceProblem, matrix: CurvatureMatrix, grid: DensitySettings,
                                solver: any SymmetricEigensolver, reporter: ProgressReporter? = nil) throws -> (DensityResult, Timings) {
        let start = DispatchTime.now().uptimeNanoseconds
        let communicationBefore = problem.communicator.statistics
        try problem.communicator.agree {
            try RunMemory.checkDensity(probes: 1, nodesPerProbe: problem.sampleSpaceDimension, gridPoints: grid.points)
        }
        let spectrum = try ExactSpectrumJob.run(problem, matrix: matrix, selection: .all, vectors: false, solver: solver, reporter: reporter)
        let P = problem.parameterCount
        let kept = Array(spectrum.values.prefix(P))
        let s = Double(kept.count) / Double(P)
        let density = try SpectralDensity(nodes: kept, weights: [Double](repeating: 1 / Double(P), count: kept.count),
                                          extraZeroMass: 1 - s, settings: grid)
        let moments = (1...4).map { order -> MomentRecord in
            let m = kept.reduce(0.0) { $0 + Foundation.pow($1, Double(order)) } / Double(P)
            return MomentRecord(order: order, estimate: m, standardError: 0, exact: m)
        }
        var result = DensityResult(matrix: matrix, space: "sample", probes: 0, steps: 0, nullSpaceFraction: max(1 - s, 0), density: density,
                                   moments: moments, largestNode: kept.first ?? 0, operatorApplications: 0, resumedProbes: 0)
        result.method = spectrum.method
        result.densityOf = ["ggn": "G", "hessian": "H", "residual": "S"][matrix.rawValue] ?? "F"
        result.exactEigenvalues = spectrum.values
        let total = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        let communication = (problem.communicator.statistics - communicationBefore).seconds
        return (result, Timings(totalSeconds: total, operatorSeconds: spectrum.formSeconds, operatorApplications: spectrum.formApplications,
                                communicationSeconds: communication))
    }

    /// SLQ on F (parameter space) or K (sample space), mapped to the density of F.
    ///
    /// In sample space every SLQ node θ of K is an eigenvalue of F with weight scaled by
    /// s = TC/P, and F has the extra mass 1 − s at zero:
    ///     ρ_F = s ρ_K + (1 − s) δ₀,   tr(Fᵖ)/P = s · tr(Kᵖ)/TC.
    /// With `checkpoint`, finished probes are restored from and saved to it.
    public static func run(_ problem: some CurvatureProblem, matrix: CurvatureMatrix, settings: SLQSettings, grid: DensitySettings,
                           checkpoint: CheckpointDirectory? = nil,
                           reporter: ProgressReporter? = nil) throws -> (DensityResult, Timings) {
        let start = DispatchTime.now().uptimeNanoseconds
        let communicationBefore = problem.communicator.statistics
        let op = TimedOperator(try problem.makeOperator(matrix))
        try problem.communicator.agree {
            try TopJob.ensureBasisFits(problem: problem, op: op, vectors: min(settings.steps, op.dimension) + 1)
            try RunMemory.checkDensity(probes: settings.probes, nodesPerProbe: min(settings.steps, op.dimension), gridPoints: grid.points)
        }
        var finished = try checkpoint?.finishedProbes() ?? [:]
        let resumed = (0..<settings.probes).filter { finished[$0] != nil }.count
        var computed = 0
        let slq = try StochasticLanczosQuadrature.run(op, settings: settings, completed: finished) { p, rule in
            computed += 1
            finished[p] = rule
            try checkpoint?.saveProbes(finished)
            let perProbe = op.seconds / Double(computed)
            reporter?.report("probe \(p + 1)/\(settings.probes)", eta: perProbe * Double(settings.probes - resumed - computed))
        }
        let P = Double(problem.parameterCount)
        let s = matrix == .ntk ? Double(problem.sampleSpaceDimension) / P : 1
        let (nodes, weights) = SpectralDensity.pooled(slq.rules)
        let density = try SpectralDensity(nodes: nodes, weights: weights.map { $0 * s }, extraZeroMass: 1 - s, settings: grid)
        // The exact mean costs nothing extra without batch coupling, TC products with it.
        // tr G = tr F for mse; the Hessian's trace has no cheap exact form.
        let exactMean = matrix.sharesSpectrumWithFisher(loss: problem.matrixLoss) ? problem.exactFisherTrace(withinProducts: 256).map { $0 / P } : nil
        let moments = (1...4).map { order -> MomentRecord in
            let e = slq.normalizedMoment(order).scaled(by: s)
            return MomentRecord(order: order, estimate: e.mean, standardError: e.standardError, exact: order == 1 ? exactMean : nil)
        }
        var result = DensityResult(matrix: matrix, space: matrix.space, probes: settings.probes,
                                   steps: min(settings.steps, op.dimension), nullSpaceFraction: max(1 - s, 0), density: density,
                                   moments: moments, largestNode: nodes.max() ?? 0, operatorApplications: slq.operatorApplications,
                                   resumedProbes: resumed)
        result.densityOf = ["ggn": "G", "hessian": "H", "residual": "S"][matrix.rawValue] ?? "F"
        result.estimateMeasure = (nodes + [0], weights.map { $0 * s } + [max(1 - s, 0)])
        let total = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        let communication = (problem.communicator.statistics - communicationBefore).seconds
        return (result, Timings(totalSeconds: total, operatorSeconds: op.seconds, operatorApplications: op.applications,
                            communicationSeconds: communication))
    }
}
