import ArgumentParser
import Foundation
import Wisp

/// The built-in default job: Karakida et al.'s setting at a size that runs in about a minute
/// on two cores. Every flag of the network can still be overridden.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The default job: λ_max, exact moments and the SLQ density of F (the default subcommand).")

    @OptionGroup var network: NetworkOptions
    @Option(name: .customLong("output-dir"), help: "Directory for run.json, density.json/.csv/.svg.")
    var outputDir: String = "wisp-output"
    @Option(help: "SLQ probes.")
    var probes: Int = 20
    @Option(help: "SLQ Lanczos steps per probe.")
    var steps: Int = 64
    @Flag(help: "No progress lines on stderr.")
    var quiet = false

    func run() throws {
        let runPath = outputDir + "/run.json", densityPath = outputDir + "/density.json"
        let problem = try network.makeProblem(outputs: [runPath, densityPath], siblings: ["csv", "svg"], directories: [outputDir])
        let lead = Runtime.isLead
        if lead { say(Summary.header(problem)) }

        let (moments, momentTimings) = try MomentsJob.run(problem, exactLimit: 8192, probes: 30, seed: network.seed,
                                                          reporter: Runtime.progress("moments", quiet: quiet))
        let (top, topTimings) = try TopJob.run(problem, matrix: .ntk, settings: LanczosSettings(count: 1, tolerance: 1e-10, seed: network.seed),
                                               reporter: Runtime.progress("top", quiet: quiet))
        if lead { say(String(format: "  λ_max      %.10e   residual %.2e (%d Lanczos applications)", top.eigenvalues[0], top.residuals[0],
                     top.operatorApplications))
            say(String(format: "  mean λ     %.10e   (%@)", moments.meanEigenvalue,
                       moments.traceStandardError > 0 ? "Hutchinson tr F / P" : "exact tr F / P"))
            say(String(format: "  tr(F²)/P   %.10e   (%@)", moments.secondMoment, moments.secondMomentMethod))
        }

        let (density, densityTimings) = try DensityJob.run(
            problem, matrix: .ntk, settings: SLQSettings(probes: probes, steps: steps, seed: network.seed),
            grid: DensitySettings(), reporter: Runtime.progress("density", quiet: quiet))
        let theory = TheoryBlock.make(for: problem).comparing([
            "lambda_max": top.eigenvalues[0], "mean_eigenvalue": moments.meanEigenvalue, "second_moment": moments.secondMoment,
        ])
        guard lead else { return }
        let written = try DensityOutput.write(density, timings: densityTimings, problem: problem, jsonPath: densityPath, command: "run",
                                              settings: ["matrix": "ntk", "probes": "\(probes)", "steps": "\(steps)", "grid": "log"],
                                              theory: theory, markers: [("λ_max", top.eigenvalues[0])])
        say(Summary.density(written))
        say(Summary.theory(theory))

        let timings = momentTimings + topTimings + densityTimings
        try RunRecord(command: "run", problem: problem, settings: ["probes": "\(probes)", "steps": "\(steps)"], timings: timings,
                      theory: theory, result: DefaultJobResult(top: top, moments: moments, densityFile: densityPath)).write(to: runPath)
        say(Summary.timing(timings))
        if let svg = written.svg { say("  plot       \(svg)") }
        say("  output     \(runPath), \(densityPath)")
    }
}

/// The default job's record: the top eigenpair and the moments; the density has its own file.
struct DefaultJobResult: Encodable {
    var top: TopResult
    var moments: MomentsResult
    var densityFile: String
    private enum CodingKeys: String, CodingKey { case top, moments, densityFile = "density_file" }
}
