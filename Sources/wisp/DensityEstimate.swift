import Wisp

/// What `wisp density` measured: an exact or SLQ density (``DensityResult``), or KPM's
/// (``KPMDensityResult``).
enum DensityEstimate {
    case quadrature(DensityResult)
    case kpm(KPMDensityResult)
}

extension Density {
    /// The density of `--matrix` on `problem` (an MLP or a layer network) by `--method`: the
    /// choice between exact and the estimator (``MethodChoice``), then the exact spectrum
    /// (``DensityJob/runExact(_:matrix:grid:solver:reporter:)``), SLQ (``DensityJob``) or KPM
    /// (``KPMDensityJob``), the estimators resumable from the checkpoint `open` makes of their
    /// fingerprint settings, and with `--compare-exact` the exact spectrum beside the estimate
    /// (``DensityComparison``). Returns the settings the record states. Collective.
    func estimate(_ problem: some CurvatureProblem, open: (any Encodable) throws -> CheckpointDirectory?)
        throws -> (DensityEstimate, Timings, DensityRunSettings, MethodChoice) {
        let solver = try eigen.solver(dimension: problem.sampleSpaceDimension)
        let iterative = method == .kpm ? "kpm" : "slq"
        let applications = method == .kpm ? probes * ((kpm.moments ?? 256) / 2) + (kpm.boundSteps ?? 30) : probes * steps
        let choice = try MethodChoice.choose(problem, matrix: matrix, requested: method.rawValue, iterative: iterative,
                                             iterativeApplications: applications, selection: .all, vectors: false, solver: solver)
        let gridSettings = DensitySettings(scale: grid, points: gridPoints, broadening: broadening)
        let reporter = Runtime.progress("density", quiet: out.quiet)
        /// The exact spectrum for --compare-exact, refused (one line) where exact is not possible.
        func exactReference() throws -> (density: DensityResult, seconds: Double) {
            _ = try MethodChoice.choose(problem, matrix: matrix, requested: "exact", iterative: iterative, iterativeApplications: applications,
                                        selection: .all, vectors: false, solver: solver)
            let (exact, t) = try DensityJob.runExact(problem, matrix: matrix, grid: gridSettings, solver: solver, reporter: reporter)
            return (exact, t.totalSeconds)
        }
        if method == .kpm {
            let settings = kpmSettings, k = kpmSettings.kpm!
            // The kernel only acts on the reconstruction: a rerun with another kernel reuses the moments.
            var (result, timings) = try KPMDensityJob.run(problem, matrix: matrix, settings: k.expansion, options: k.options, grid: settings.grid,
                                                          checkpoint: try open(settings.kpmResumable!), reporter: reporter)
            if compareExact {
                let exact = try exactReference()
                result.comparison = DensityComparison.compare(result, exact: exact.density, parameters: problem.parameterCount,
                                                              exactSeconds: exact.seconds)
            }
            return (.kpm(result), timings, settings, choice)
        }
        var settings = DensityRunSettings(matrix: matrix, method: method, grid: gridSettings, slq: nil, kpm: nil, compareExact: compareExact)
        var result: DensityResult, timings: Timings
        if choice.isExact {
            (result, timings) = try DensityJob.runExact(problem, matrix: matrix, grid: gridSettings, solver: solver, reporter: reporter)
        } else {
            // Probe p depends on (seed, p, steps) only: a rerun with more --probes reuses the finished ones.
            settings.slq = SLQSettings(probes: probes, steps: steps, seed: network.seed)
            (result, timings) = try DensityJob.run(problem, matrix: matrix, settings: settings.slq!, grid: gridSettings,
                                                   checkpoint: try open(settings.slqResumable!), reporter: reporter)
            if compareExact {
                let exact = try exactReference()
                result.comparison = DensityComparison.compare(result, exact: exact.density, parameters: problem.parameterCount,
                                                              exactSeconds: exact.seconds)
            }
        }
        result.methodChoice = choice
        return (.quadrature(result), timings, settings, choice)
    }

    /// The settings a KPM run records (and, through ``DensityRunSettings/kpmResumable``, fingerprints).
    var kpmSettings: DensityRunSettings {
        let expansion = KPMSettings(probes: probes, moments: kpm.moments ?? 256, kernel: kpm.kernel ?? .jackson, seed: network.seed)
        return DensityRunSettings(matrix: matrix, method: method, grid: DensitySettings(scale: grid, points: gridPoints), slq: nil,
                                  kpm: KPMRunSettings(expansion: expansion, options: kpm.options), compareExact: compareExact)
    }
}
