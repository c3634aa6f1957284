import Foundation

/// The spectral density of F by the kernel polynomial method.
public struct KPMDensityResult: Encodable, Sendable {
    public var matrix: CurvatureMatrix
    public var space: String
    public var method = "kernel polynomial method (Chebyshev moments with moment doubling, Rademacher probes, damping kernel, DCT-III reconstruction through FFTW)"
    public var probes: Int
    /// M, the number of Chebyshev moments.
    public var chebyshevMomentCount: Int
    public var kernel: DampingKernel
    /// g_0 … g_(M−1).
    public var damping: [Double]
    /// μ_n of the (deflated) operator in its own space, averaged over probes, and their
    /// standard errors across probes.
    public var chebyshevMoments: [Double]
    public var chebyshevMomentErrors: [Double]
    public var bounds: SpectralBounds
    /// Top eigenpairs removed before the expansion (masses in F's spectrum).
    public var deflated: [DeflatedPair]
    public var densityOf = "F"
    /// 1 − TC/P when measured in sample space, included in ``density``'s zero mass.
    public var nullSpaceFraction: Double
    public var density: SpectralDensity
    /// tr(Fᵖ)/P for p = 1…4 (exact per probe given the Chebyshev moments).
    public var moments: [MomentRecord]
    /// Applications of the operator for the Chebyshev moments (probes × ⌈M/2⌉ at most).
    public var momentApplications: Int
    /// Applications of the operator for the spectral bounds (Lanczos; 0 when resumed or given).
    public var boundApplications: Int
    /// Applications of the operator for the deflated pairs (Lanczos).
    public var deflationApplications: Int
    /// Every application of the operator this result made: moments + bounds + deflation
    /// (`operator_applications`, as in every other result).
    public var operatorApplications: Int { momentApplications + boundApplications + deflationApplications }
    public var resumedProbes: Int
    public var csv: String?
    public var svg: String?
    /// The estimate against the exact spectrum (`--compare-exact`).
    public var comparison: DensityComparison?

    /// KPM's measure of F: the damped curve as point masses, the zero mass, and the deflated
    /// pairs at their eigenvalues.
    public var estimateMeasure: (nodes: [Double], weights: [Double]) {
        var m = density.measure()
        for d in deflated { m.nodes.append(d.eigenvalue); m.weights.append(d.mass) }
        return m
    }

    private enum CodingKeys: String, CodingKey {
        case comparison = "exact_comparison"
        case matrix, space, method, probes, chebyshevMomentCount = "chebyshev_moment_count", kernel, damping,
             chebyshevMoments = "chebyshev_moments", chebyshevMomentErrors = "chebyshev_moment_errors", bounds, deflated,
             densityOf = "density_of", nullSpaceFraction = "null_space_fraction", moments,
             operatorApplications = "operator_applications", momentApplications = "moment_operator_applications", boundApplications = "bound_operator_applications",
             deflationApplications = "deflation_operator_applications", resumedProbes = "resumed_probes", csv, svg
        case grid, gridScale = "grid_scale", densityValues = "density", resolution, zeroMass = "zero_mass", negativeMass = "negative_mass"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(matrix, forKey: .matrix)
        try c.encode(space, forKey: .space)
        try c.encode(method, forKey: .method)
        try c.encode(probes, forKey: .probes)
        try c.encode(chebyshevMomentCount, forKey: .chebyshevMomentCount)
        try c.encode(kernel, forKey: .kernel)
        try c.encode(damping, forKey: .damping)
        try c.encode(chebyshevMoments, forKey: .chebyshevMoments)
        try c.encode(chebyshevMomentErrors, forKey: .chebyshevMomentErrors)
        try c.encode(bounds, forKey: .bounds)
        try c.encode(deflated, forKey: .deflated)
        try c.encode(densityOf, forKey: .densityOf)
        try c.encode(nullSpaceFraction, forKey: .nullSpaceFraction)
        try c.encode(moments, forKey: .moments)
        try c.encode(operatorApplications, forKey: .operatorApplications)
        try c.encode(momentApplications, forKey: .momentApplications)
        try c.encode(boundApplications, forKey: .boundApplications)
        try c.encode(deflationApplications, forKey: .deflationApplications)
        try c.encode(resumedProbes, forKey: .resumedProbes)
        try c.encodeIfPresent(csv, forKey: .csv)
        try c.encodeIfPresent(svg, forKey: .svg)
        try c.encode(density.grid, forKey: .grid)
        try c.encode(density.scale, forKey: .gridScale)
        try c.encode(density.density, forKey: .densityValues)
        try c.encode(density.broadening, forKey: .resolution)
        try c.encode(density.zeroMass, forKey: .zeroMass)
        try c.encode(density.negativeMass, forKey: .negativeMass)
        try c.encodeIfPresent(comparison, forKey: .comparison)
    }
}

/// Where the spectral bounds come from when not estimated.
public struct KPMJobOptions: Codable, Sendable {
    public var deflate = 0
    public var boundSteps = 30
    public var lowerBound: Double? = nil
    public var upperBound: Double? = nil

    public init(deflate: Int = 0, boundSteps: Int = 30, lowerBound: Double? = nil, upperBound: Double? = nil) {
        self.deflate = deflate
        self.boundSteps = boundSteps
        self.lowerBound = lowerBound
        self.upperBound = upperBound
    }

    private enum CodingKeys: String, CodingKey {
        case deflate, boundSteps = "bound_steps", lowerBound = "lower_bound", upperBound = "upper_bound"
    }
}

public enum KPMDensityJob {
    /// KPM on F (parameter space) or K (sample space), mapped to the density of F exactly as
    /// ``DensityJob`` maps SLQ: ρ_F = s ρ_K + (1 − s) δ₀ and tr(Fᵖ)/P = s tr(Kᵖ)/TC, s = TC/P.
    /// Probes are the SLQ probes (same seed, same streams). With MPI every probe's operator
    /// applications use the sample sharding, like SLQ (see README: one reduction of M doubles
    /// per probe on top of the products' own). With `checkpoint`, bounds and finished probes'
    /// moments are restored from and saved to it.
    public static func run(_ problem: some CurvatureProblem, matrix: CurvatureMatrix, settings: KPMSettings, options: KPMJobOptions = KPMJobOptions(),
                           grid: DensitySettings, checkpoint: CheckpointDirectory? = nil,
                           reporter: ProgressReporter? = nil) throws -> (KPMDensityResult, Timings) {
        let start = DispatchTime.now().uptimeNanoseconds
        let communicationBefore = problem.communicator.statistics
        let op = TimedOperator(try problem.makeOperator(matrix))
        try problem.communicator.agree {
            // The largest of: the bounding Lanczos basis, the deflation's Lanczos basis plus its
            // Ritz vectors, and the recurrence's three vectors beside the k deflation vectors.
            let k = options.deflate
            // Before the sizes below can overflow (the measurement repeats the --deflate check).
            guard k >= 0, k < op.dimension else {
                throw WispError.invalidConfiguration("\(Setting.kpmDeflate) must be in 0 ..< \(op.dimension) (the matrix dimension) (got \(k))")
            }
            let deflation = k > 0 ? min(op.dimension, max(2 * k + 20, 40)) + 1 + k : 0
            guard options.boundSteps >= 0 else { throw WispError.invalidConfiguration("\(Setting.kpmBoundSteps) must be non-negative (got \(options.boundSteps))") }
            try TopJob.ensureBasisFits(problem: problem, op: op, vectors: max(min(options.boundSteps, op.dimension) + 1 + k, deflation, 4 + k))
            try RunMemory.checkDensity(probes: settings.probes, nodesPerProbe: settings.moments,
                                       gridPoints: max(grid.points, try MemoryBudget.count("\(Setting.kpmMoments)", 4, settings.moments), 4096))
        }
        let restored = try checkpoint?.finishedKPM()
        var finished = restored?.probes ?? [:]
        let resumed = (0..<settings.probes).filter { finished[$0]?.count == settings.moments }.count
        var computed = 0
        var usedBounds: SpectralBounds? = restored?.bounds
        let measurement = try KPMMeasurement.run(
            op, settings: settings, deflate: options.deflate, boundSteps: options.boundSteps,
            given: (options.lowerBound, options.upperBound), positiveSemidefinite: matrix.isSemidefinite, saved: restored?.bounds,
            completed: finished,
            boundsReady: { usedBounds = $0 },
            finished: { p, mu in
                computed += 1
                finished[p] = mu
                if let usedBounds { try checkpoint?.saveKPM(bounds: usedBounds, probes: finished) }
                let perProbe = op.seconds / Double(computed)
                reporter?.report("probe \(p + 1)/\(settings.probes)", eta: perProbe * Double(settings.probes - resumed - computed))
            })
        let P = Double(problem.parameterCount)
        let s = matrix == .ntk ? Double(problem.sampleSpaceDimension) / P : 1
        let density = try SpectralDensity(expansion: measurement.expansion, scale: s, extraZeroMass: 1 - s, settings: grid)
        let exactMean = matrix.sharesSpectrumWithFisher(loss: problem.matrixLoss) ? problem.exactFisherTrace(withinProducts: 256).map { $0 / P } : nil
        let moments = (1...4).map { order -> MomentRecord in
            let e = measurement.powerMoment(order).scaled(by: s)
            return MomentRecord(order: order, estimate: e.mean, standardError: e.standardError, exact: order == 1 ? exactMean : nil)
        }
        let estimates = measurement.moments.estimates
        let bounds = measurement.expansion.bounds
        var result = KPMDensityResult(
            matrix: matrix, space: matrix.space, probes: settings.probes,
            chebyshevMomentCount: settings.moments, kernel: settings.kernel, damping: measurement.expansion.damping,
            chebyshevMoments: estimates.map(\.mean), chebyshevMomentErrors: estimates.map(\.standardError), bounds: bounds,
            deflated: measurement.deflated.map { var d = $0; d.mass *= s; return d }, nullSpaceFraction: max(1 - s, 0),
            density: density, moments: moments, momentApplications: measurement.moments.operatorApplications,
            boundApplications: restored == nil ? bounds.operatorApplications : 0,
            deflationApplications: measurement.deflationApplications, resumedProbes: resumed)
        result.densityOf = ["ggn": "G", "hessian": "H", "residual": "S"][matrix.rawValue] ?? "F"
        let total = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        let communication = (problem.communicator.statistics - communicationBefore).seconds
        return (result, Timings(totalSeconds: total, operatorSeconds: op.seconds, operatorApplications: op.applications,
                                communicationSeconds: communication))
    }
}
