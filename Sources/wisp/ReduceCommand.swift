import ArgumentParser
import Foundation
import Wisp

struct Reduce: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Model reduction (Cowlagi & Chaudhari): project a trained model on the top-k eigenvectors of its Fisher matrix and evaluate it.",
        discussion: """
        The FIM is F = (1/T) Jᵀ J for --loss mse and the classification Fisher G = (1/T) Jᵀ H_ℓ J for cross-entropy. \
        Variants: weights, w ≈ Σ_(i≤k) ⟨w, e_i⟩ e_i (the paper's), and with --init, change, \
        w ≈ w₀ + Σ_(i≤k) ⟨w − w₀, e_i⟩ e_i. Writes JSON, and with --sweep a CSV and an SVG of loss and accuracy against k. \
        With --inpca, the InPCA embedding (Quinn et al. 2019; Cowlagi & Chaudhari Fig. 3) of the full and every reduced \
        model's predicted distributions, each (model, sample) a point: <output>.inpca.csv and an SVG scatter coloured by label. \
        On a network given as layers (--model of a layer model file, or --architecture FILE with the data flags): the same, \
        --init a layer model of the same architecture, --save-reduced a layer model file; with BatchNorm every model is \
        evaluated with the batch statistics of all T samples.
        """)

    @OptionGroup var network: NetworkOptions
    @Option(name: .customLong("init"), help: "The initial model (e.g. train's models/step-000000000.safetensors) for the change variant; for a layer network, a model file of the same architecture.")
    var initial: String?
    @Option(help: "Eigenvectors kept: a count k or a percentage of P (e.g. 40 or 5%).")
    var keep: String = "5%"
    @Option(help: "Comma-separated k (counts or percentages) for the curve of loss and accuracy against k.")
    var sweep: String?
    @Option(name: .customLong("dense-limit"), help: "Form the FIM densely and find all eigenpairs with LAPACK when P is at most this; else Lanczos for the top k.")
    var denseLimit: Int = 4096
    @Option(help: "Relative residual tolerance of the Lanczos eigenpairs (P > --dense-limit). Default: 1e-8, or 100·ε of --precision where larger.")
    var tol: Double?
    @Option(name: .customLong("save-reduced"), help: "Write the reduced model at --keep to this .safetensors file (for a layer network, a layer model file that --model reads back).")
    var saveReduced: String?
    @Option(help: "Variant written by --save-reduced: weights or change (default: change with --init, else weights).")
    var variant: String?
    @Flag(help: "Embed the predictions of the full and reduced models by InPCA (Bhattacharyya distances, double-centred, signed eigenvalues): <output>.inpca.csv and .inpca.svg. Costs one dense eigendecomposition of (models × samples)² points.")
    var inpca = false
    @Option(name: .customLong("inpca-samples"), help: "Embed only the first S samples (default: all T).")
    var inpcaSamples: Int?
    @OptionGroup var out: OutputOptions

    func run() throws {
        guard network.model != nil || network.architecture != nil else {
            throw ValidationError("wisp reduce needs the trained model: --model FILE.safetensors (an MLP's, or a layer network's with or without --architecture FILE)")
        }
        let keepCount = try KeepCount(parsing: keep)
        let sweepCounts = try (sweep ?? "").split(separator: ",").map { try KeepCount(parsing: String($0)) }
        if sweep != nil, sweepCounts.isEmpty { throw ValidationError("--sweep needs at least one k") }
        guard denseLimit >= 0 else { throw ValidationError("--dense-limit must be non-negative (got \(denseLimit))") }
        let chosen = variant ?? (initial != nil ? "change" : "weights")
        guard chosen == "weights" || chosen == "change" else { throw ValidationError("--variant must be weights or change (got \(chosen))") }
        if chosen == "change", initial == nil { throw ValidationError("--variant change needs --init FILE (the initial model)") }
        if inpcaSamples != nil, !inpca { throw ValidationError("--inpca-samples needs --inpca") }
        let path = out.output ?? "wisp-output/reduce.json"
        let siblings = (sweepCounts.isEmpty ? [] : ["csv", "svg"]) + (inpca ? ["inpca.csv", "inpca.svg"] : [])
        let job = Job(keep: keepCount, sweep: sweepCounts, variant: chosen, path: path)
        if network.isLayerNetwork {
            // --architecture alone reduces the Gaussian initial network (a test of the path); the loss needs its targets.
            let file = network.layerFile
            let problem = try network.makeLayerProblem(outputs: [path], siblings: siblings, files: [saveReduced], inputs: [initial], withLoss: true)
            try run(job, problem, header: LayerSummary.header(problem, file: file)) {
                try RunRecord(command: "reduce", problem: problem, settings: $0, timings: $1, result: $2).write(to: path)
            }
        } else {
            let problem = try network.makeProblem(outputs: [path], siblings: siblings, files: [saveReduced], inputs: [initial])
            try run(job, problem, header: Summary.header(problem)) {
                try RunRecord(command: "reduce", problem: problem, settings: $0, timings: $1, result: $2).write(to: path)
            }
        }
    }

    /// The checked settings of one run.
    private struct Job {
        var keep: KeepCount
        var sweep: [KeepCount]
        var variant: String
        var path: String
    }

    /// The reduction on an MLP or a layer network (``ModelReduction/run(_:initial:settings:reporter:)``),
    /// its files and summary; `record` writes the run record (rank 0).
    private func run(_ job: Job, _ problem: some ReducibleProblem, header: @autoclosure () -> String,
                     record: (ReduceRunSettings, Timings, ReductionResult) throws -> Void) throws {
        let (keepCount, sweepCounts, chosen, path) = (job.keep, job.sweep, job.variant, job.path)
        let start = DispatchTime.now().uptimeNanoseconds
        let init0 = try problem.communicator.agree { try initial.map { try ModelReduction.loadInitial($0, problem: problem) } }
        let tol = solverTolerance(self.tol, fallback: 1e-8, precision: problem.passPrecision)
        let settings = ReductionSettings(keep: keepCount, sweep: sweepCounts, denseLimit: denseLimit, tolerance: tol, seed: network.seed,
                                         inpca: inpca ? InPCASettings(samples: inpcaSamples) : nil)
        var (result, basis, reducedParameters) = try ModelReduction.run(problem, initial: init0, settings: settings,
                                                                        reporter: Runtime.progress("reduce", quiet: out.quiet))
        if let file = saveReduced {
            result.savedVariant = chosen
            result.reducedModel = file
            if Runtime.isLead { try problem.saveModel(reducedParameters[chosen]!, to: file, dtype: network.saveDtype) }
        }
        guard Runtime.isLead else { return }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        if result.inpca != nil, !OutputPath.isStandardOutput(path) {
            (result.inpca!.csvFile, result.inpca!.svgFile) = InPCAFiles.paths(jsonPath: path)
        }
        let timings = Timings(totalSeconds: seconds, operatorSeconds: basis.operatorSeconds, operatorApplications: basis.operatorApplications)
        try record(ReduceRunSettings(keep: keepCount, sweep: sweepCounts, denseLimit: denseLimit, tolerance: tol, initial: initial,
                                     variant: chosen, inpca: inpca, inpcaSamples: result.inpca?.samples),
                   timings, result)
        var files = [path]
        if !result.sweep.isEmpty {
            let f = try ReductionFiles.write(result, jsonPath: path,
                                             title: "Model reduction on the top-k eigenvectors of \(result.matrix.rawValue), P = \(result.parameters), T = \(problem.totalSamples)")
            files += [f.csv, f.svg].filter { !$0.isEmpty }
        }
        if let e = result.inpca {
            let f = try InPCAFiles.write(e, jsonPath: path,
                                         title: "InPCA of the predictions of the full and reduced models (\(e.models.count) models × \(e.samples) samples)")
            files += [f.csv, f.svg].filter { !$0.isEmpty }
        }
        func accuracy(_ a: Double?) -> String { a.map { String(format: ", accuracy %.4f", $0) } ?? "" }
        say(header())
        say("  FIM        \(result.matrixDescription)")
        say("  method     \(result.method)")
        say(String(format: "  λ          %@ … (worst residual %.1e)", result.eigenvalues.prefix(3).map { String(format: "%.4e", $0) }.joined(separator: ", "),
                   result.worstResidual))
        say(String(format: "  full       loss %.6g%@", result.full.loss, accuracy(result.full.accuracy)))
        if let i = result.initial { say(String(format: "  init       loss %.6g%@; ‖w₀‖/‖w‖ = %.3f, ‖w − w₀‖/‖w‖ = %.3f", i.loss, accuracy(i.accuracy),
                                               result.initialNormRatio ?? 0, result.changeNormRatio ?? 0)) }
        for m in result.reduced {
            say(String(format: "  k = %-6d %-8@ loss %.6g%@, ‖w_k − w‖/‖w‖ = %.3f", m.k, m.variant, m.loss, accuracy(m.accuracy), m.relativeDistance))
        }
        if let e = result.inpca {
            say(String(format: "  InPCA      %d points; λ %@; negative share %.3f", e.points,
                       zip(e.eigenvalues, e.explainedFractions).prefix(3).map { String(format: "%.4g (%.1f %%)", $0, 100 * $1) }.joined(separator: ", "),
                       e.negativeFraction))
            say("  distance   from the full model: " + zip(e.models, e.modelLevel.distanceFromFull).dropFirst()
                .map { String(format: "%@ %.4g", $0.name, $1) }.joined(separator: ", "))
        }
        if let file = result.reducedModel { say("  reduced    \(chosen) variant written to \(file)") }
        say(Summary.timing(timings))
        say("  output     \(files.joined(separator: ", "))")
    }
}
