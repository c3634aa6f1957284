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
        let path = out.output ?? "wisp-output/align.json"
        if network.isLayerNetwork {
            let file = network.layerFile
            let problem = try network.makeLayerProblem(outputs: [path], siblings: ["csv", "svg"], matrix: .ggn)
            try align(problem, precision: problem.precision, path: path, subject: { RunSubject(problem: problem) },
                      header: { LayerSummary.header(problem, file: file) }, networkName: (file as NSString).lastPathComponent + ", ")
        } else {
            let problem = try network.makeProblem(outputs: [path], siblings: ["csv", "svg"])
            try align(problem, precision: problem.configuration.precision, path: path, subject: { RunSubject(problem: problem) },
                      header: { Summary.header(problem) }, networkName: "")
        }
    }

    /// ``AlignJob`` on `problem` (an MLP, or a network given as layers: its layers are the modules
    /// that own parameters, named by their state-dict prefix; K_l formed exactly when TC ≤
    /// --exact-limit, else matrix-free), then rank 0 writes the record, CSV and chart and prints
    /// the summary. The targets: the labels or targets file, else the teacher network's outputs
    /// for --loss (as `top --matrix ggn`). Collective.
    func align<P: AlignmentProblem>(_ problem: P, precision: Precision, path: String, subject: () -> RunSubject,
                                    header: () -> String, networkName name: String) throws {
        let tol = solverTolerance(self.tol, fallback: 1e-6, precision: precision)
        let settings = AlignSettings(exactLimit: exactLimit, probes: probes, seed: network.seed, tolerance: tol)
        let result = try AlignJob.run(problem, settings: settings, reporter: Runtime.progress("align", quiet: out.quiet))
        guard Runtime.isLead else { return }
        try RunRecord(command: "align", subject: subject(), settings: settings, timings: result.timings, result: result).write(to: path)
        let files = try AlignmentFiles.write(result, jsonPath: path,
                                             title: "Layerwise alignment A_l (\(result.method)), \(name)L = \(result.layers.count), T = \(problem.totalSamples)")
        say(header())
        say("  targets    \(result.targets)")
        let nameWidth = result.layers.map { ($0.name ?? "").count }.max() ?? 0
        for l in result.layers {
            let error = result.method == "exact" ? "" : String(format: " ± %.2e", l.alignmentStandardError)
            let name = nameWidth == 0 ? "" : (l.name ?? "").padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  "
            say(String(format: "  layer %-3d %@A = %.6f%@   stable rank %.4g   λ_max %.6e (residual %.1e%@)%@", l.layer, name, l.alignment, error,
                       l.stableRank, l.lambdaMax, l.lambdaMaxResidual, l.lambdaMaxConverged ? "" : ", not converged",
                       l.layer == result.peakLayer ? "   ← peak" : ""))
        }
        say("  method     \(result.methodDetail)")
        say(Summary.timing(result.timings))
        say("  output     \([path, files.csv, files.svg].filter { !$0.isEmpty }.joined(separator: ", "))")
    }
}
