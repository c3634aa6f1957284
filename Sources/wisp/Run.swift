import ArgumentParser
import Foundation
import Wisp

/// The built-in default job: Karakida et al.'s setting at a size that runs in seconds on two
/// cores. Every flag of the network can still be overridden.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The default job: λ_max, the exact moments and spectrum of F, and the SLQ estimate beside it (the default subcommand).",
        discussion: "On an MLP (the flags, or --model) or a network given as layers (--architecture FILE or a layer --model).")

    @OptionGroup var network: NetworkOptions
    @Option(name: .customLong("output-dir"), help: "Directory for run.json, density.json/.csv/.svg/.eigenvalues.csv and density-slq.json/.csv/.svg.")
    var outputDir: String = "wisp-output"
    @Option(help: "SLQ probes of the estimate shown beside the exact spectrum.")
    var probes: Int = 10
    @Option(help: "SLQ Lanczos steps per probe.")
    var steps: Int = 32
    @Flag(help: "No progress lines on stderr.")
    var quiet = false
    @OptionGroup var eigen: EigensolverOptions

    func run() throws {
        let runPath = outputDir + "/run.json", densityPath = outputDir + "/density.json", slqPath = outputDir + "/density-slq.json"
        let outputs = [runPath, densityPath, slqPath], siblings = ["csv", "svg", "eigenvalues.csv"]
        let exactLimit = 8192, momentProbes = 30, seed = network.seed, quiet = quiet
        let reporter = Runtime.progress("moments", quiet: quiet)
        if network.isLayerNetwork {
            let problem = try network.makeLayerProblem(outputs: outputs, siblings: siblings, directories: [outputDir])
            try defaultJob(problem, NetworkContext(problem, file: network.layerFile, checkpointing: nil)) {
                try MomentsJob.run(sampleSpaceOf: problem, exactLimit: exactLimit, probes: momentProbes, seed: seed, reporter: reporter)
            }
        } else {
            let problem = try network.makeProblem(outputs: outputs, siblings: siblings, directories: [outputDir])
            try defaultJob(problem, NetworkContext(problem, checkpointing: nil)) {
                try MomentsJob.run(problem, exactLimit: exactLimit, probes: momentProbes, seed: seed, reporter: reporter)
            }
        }
    }

    /// The default job on `problem` (an MLP or a layer network): the moments of F (`moments`:
    /// exact from the formed K when it fits, else Hutchinson), λ_max (exact or Lanczos, by cost),
    /// the exact density when K fits with the SLQ estimate beside it and compared, and the
    /// mean-field theory where it covers the network. Collective; rank 0 writes and prints.
    func defaultJob(_ problem: some CurvatureProblem, _ context: NetworkContext,
                    moments measure: () throws -> (MomentsResult, Timings)) throws {
        let runPath = outputDir + "/run.json", densityPath = outputDir + "/density.json", slqPath = outputDir + "/density-slq.json"
        let lead = Runtime.isLead
        if lead { say(context.header) }
        let n = problem.sampleSpaceDimension
        let solver = try eigen.solver(dimension: n)

        let (moments, momentTimings) = try measure()
        // λ_max: exact when K fits and is cheaper (auto), else Lanczos in sample space.
        let topChoice = try MethodChoice.choose(problem, matrix: .ntk, requested: "auto", iterative: "lanczos", iterativeApplications: 80,
                                                selection: .indices((n - 1)..<n), vectors: true, solver: solver)
        var (top, topTimings) = topChoice.isExact
            ? try TopJob.runExact(problem, matrix: .ntk, count: 1, which: .largest, tolerance: 1e-10, solver: solver,
                                  reporter: Runtime.progress("top", quiet: quiet))
            : try TopJob.run(problem, matrix: .ntk, settings: LanczosSettings(count: 1, tolerance: 1e-10, seed: network.seed),
                             reporter: Runtime.progress("top", quiet: quiet))
        top.methodChoice = topChoice
        if lead {
            say(String(format: "  λ_max      %.10e   residual %.2e (%@)", top.eigenvalues[0], top.residuals[0],
                       topChoice.isExact ? "exact, residual with the matrix-free K" : "\(top.operatorApplications) Lanczos applications"))
            say(String(format: "  mean λ     %.10e   (%@)", moments.meanEigenvalue,
                       moments.traceStandardError > 0 ? "Hutchinson tr F / P" : "exact tr F / P"))
            say(String(format: "  tr(F²)/P   %.10e   (%@)", moments.secondMoment, moments.secondMomentMethod))
        }

        // The density: exact when K fits (auto), and the SLQ estimate beside it, compared.
        let grid = DensitySettings()
        let densityChoice = try MethodChoice.choose(problem, matrix: .ntk, requested: "auto", iterative: "slq",
                                                    iterativeApplications: probes * steps, selection: .all, vectors: false, solver: solver)
        let slqSettings = SLQSettings(probes: probes, steps: steps, seed: network.seed)
        let (slq, slqTimings) = try DensityJob.run(problem, matrix: .ntk, settings: slqSettings,
                                                   grid: grid, reporter: Runtime.progress("density", quiet: quiet))
        var exact: (DensityResult, Timings)? = nil
        if densityChoice.isExact {
            exact = try DensityJob.runExact(problem, matrix: .ntk, grid: grid, solver: solver, reporter: Runtime.progress("density", quiet: quiet))
        }
        let theory = context.theory?(.fisher).comparing([
            "lambda_max": top.eigenvalues[0], "mean_eigenvalue": moments.meanEigenvalue, "second_moment": moments.secondMoment,
        ])
        guard lead else { return }
        var estimate = slq
        estimate.methodChoice = MethodChoice(requested: "slq", method: "slq", reason: "the estimate shown beside the exact spectrum",
                                             iterativeFlops: Double(probes * steps) * problem.productFlops)
        var timings = momentTimings + topTimings + slqTimings
        var densityFile = slqPath
        if let (exactDensity, exactTimings) = exact {
            estimate.comparison = DensityComparison.compare(slq, exact: exactDensity, parameters: problem.parameterCount,
                                                            exactSeconds: exactTimings.totalSeconds)
            var d = exactDensity
            d.methodChoice = densityChoice
            let written = try DensityOutput.write(d, timings: exactTimings, subject: context.subject, network: context.caption,
                                                  jsonPath: densityPath, command: "run",
                                                  settings: DensityRunSettings(matrix: .ntk, method: .exact, grid: grid, slq: nil, kpm: nil,
                                                                               compareExact: false),
                                                  theory: theory, markers: [("λ_max", top.eigenvalues[0])],
                                                  overlay: ("SLQ \(probes)×\(steps)", "exact", slq.density))
            say(Summary.density(written))
            timings = timings + exactTimings
            densityFile = densityPath
        } else {
            say("  density    no exact spectrum: \(densityChoice.reason)")
        }
        let writtenSLQ = try DensityOutput.write(estimate, timings: slqTimings, subject: context.subject, network: context.caption,
                                                 jsonPath: slqPath, command: "run",
                                                 settings: DensityRunSettings(matrix: .ntk, method: .slq, grid: grid, slq: slqSettings, kpm: nil,
                                                                              compareExact: exact != nil),
                                                 theory: theory, markers: [("λ_max", top.eigenvalues[0])])
        say(Summary.density(writtenSLQ))
        if let c = writtenSLQ.comparison { say(Summary.comparison(c)) }
        say(theory.map { Summary.theory($0) } ?? "  theory     none: Karakida et al.'s mean-field theory describes MLPs at initialization, not networks given as layers")

        try RunRecord(command: "run", subject: context.subject, settings: DefaultRunSettings(slq: slqSettings), timings: timings,
                      theory: theory, result: DefaultJobResult(top: top, moments: moments, densityFile: densityFile, estimateFile: slqPath))
            .write(to: runPath)
        say(Summary.timing(timings))
        say("  plot       \(OutputPath.sibling(of: densityFile, extension: "svg"))")
        say("  output     \(runPath), \(densityPath), \(slqPath)")
    }
}

/// The default job's record: the top eigenpair and the moments; the densities have their own files.
struct DefaultJobResult: Encodable {
    var top: TopResult
    var moments: MomentsResult
    var densityFile: String
    var estimateFile: String
    private enum CodingKeys: String, CodingKey { case top, moments, densityFile = "density_file", estimateFile = "estimate_file" }
}
