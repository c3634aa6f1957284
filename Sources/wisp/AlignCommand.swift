import ArgumentParser
import Foundation
import Wisp

struct Align: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Layerwise centered kernel alignment A_l of the tangent kernels K_l with the targets, their stable ranks and the peak layer (Lou et al. eq. 6–7).",
        discussion: "With the MLP flags or --architecture/--model (a network given as layers: its layers are the modules with parameters, named by state-dict prefix). Exact when TC ≤ --exact-limit (K_l formed from its forward and backward kernels, eq. 9; on layers from per-layer factors); otherwise Hutchinson estimates of ‖C K_l C‖_F with error bars. Writes JSON, CSV and an SVG chart.")

    @OptionGroup var network: NetworkOptions
    @Option(name: .customLong("exact-limit"), help: "Form every K_l densely when TC is at most this; else estimate ‖C K_l C‖_F by Hutchinson.")
    var exactLimit: Int = 4096
    @Option(help: "Hutchinson probes (the same for every layer) when ‖C K_l C‖_F is estimated.")
    var probes: Int = 30
    @Option(help: "Relative residual tolerance of λ_max(C K_l C) (Lanczos). Default: 1e-6, or 100·ε of --precision where larger.")
    var tol: Double?
    @OptionGroup var out: OutputOptions

    func run() throws {
        if network.isLayerNetwork { return try runLayers() }
        let path = out.output ?? "wisp-output/align.json"
        let problem = try network.makeProblem(outputs: [path], siblings: ["csv", "svg"])
        let tol = solverTolerance(self.tol, fallback: 1e-6, precision: problem.configuration.precision)
        let settings = AlignSettings(exactLimit: exactLimit, probes: probes, seed: network.seed, tolerance: tol)
        let result = try AlignJob.run(problem, settings: settings, reporter: Runtime.progress("align", quiet: out.quiet))
        guard Runtime.isLead else { return }
        try RunRecord(command: "align", problem: problem, settings: settings, timings: result.timings, result: result).write(to: path)
        let files = try AlignmentFiles.write(result, jsonPath: path,
                                             title: "Layerwise alignment A_l (\(result.method)), L = \(problem.architecture.depth), T = \(problem.totalSamples)")
        say(Summary.header(problem))
        say("  targets    \(result.targets)")
        for l in result.layers {
            let error = result.method == "exact" ? "" : String(format: " ± %.2e", l.alignmentStandardError)
            say(String(format: "  layer %-3d A = %.6f%@   stable rank %.4g   λ_max %.6e (residual %.1e%@)%@", l.layer, l.alignment, error,
                       l.stableRank, l.lambdaMax, l.lambdaMaxResidual, l.lambdaMaxConverged ? "" : ", not converged",
                       l.layer == result.peakLayer ? "   ← peak" : ""))
        }
        say("  method     \(result.methodDetail)")
        say(Summary.timing(result.timings))
        say("  output     \([path, files.csv, files.svg].filter { !$0.isEmpty }.joined(separator: ", "))")
    }
}

extension Align {
    /// `wisp align` on a network given as layers: the layers are the modules that own
    /// parameters (named by their state-dict prefix), K_l formed exactly site by site
    /// (``LayerTangentKernel``) when TC ≤ --exact-limit, else matrix-free
    /// (``ParameterBlockGramOperator``). The targets: the labels or targets file, else the
    /// teacher network's outputs for --loss (as `top --matrix ggn`).
    func runLayers() throws {
        let file = network.layerFile
        let path = out.output ?? "wisp-output/align.json"
        let problem = try network.makeLayerProblem(outputs: [path], siblings: ["csv", "svg"], matrix: .ggn)
        let tol = solverTolerance(self.tol, fallback: 1e-6, precision: problem.precision)
        let settings = AlignSettings(exactLimit: exactLimit, probes: probes, seed: network.seed, tolerance: tol)
        let result = try AlignJob.run(problem, settings: settings, reporter: Runtime.progress("align", quiet: out.quiet))
        guard Runtime.isLead else { return }
        try RunRecord(command: "align", problem: problem, settings: settings, timings: result.timings, result: result).write(to: path)
        let files = try AlignmentFiles.write(result, jsonPath: path,
                                             title: "Layerwise alignment A_l (\(result.method)), \((file as NSString).lastPathComponent), L = \(result.layers.count), T = \(problem.totalSamples)")
        say(LayerSummary.header(problem, file: file))
        say("  targets    \(result.targets)")
        let nameWidth = result.layers.map { ($0.name ?? "").count }.max() ?? 0
        for l in result.layers {
            let error = result.method == "exact" ? "" : String(format: " ± %.2e", l.alignmentStandardError)
            let name = (l.name ?? "").padding(toLength: nameWidth, withPad: " ", startingAt: 0)
            say(String(format: "  layer %-3d %@  A = %.6f%@   stable rank %.4g   λ_max %.6e (residual %.1e%@)%@", l.layer, name, l.alignment, error,
                       l.stableRank, l.lambdaMax, l.lambdaMaxResidual, l.lambdaMaxConverged ? "" : ", not converged",
                       l.layer == result.peakLayer ? "   ← peak" : ""))
        }
        say("  method     \(result.methodDetail)")
        say(Summary.timing(result.timings))
        say("  output     \([path, files.csv, files.svg].filter { !$0.isEmpty }.joined(separator: ", "))")
    }
}
