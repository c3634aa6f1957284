import ArgumentParser
import Foundation
import Wisp

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train by gradient descent or SGD (plain, momentum or Adam) and measure the loss Hessian's parts at checkpoints (Jacot et al.).",
        discussion: """
        Every --every steps (and at the first and last) θ is saved and the requested quantities \
        are measured: moments tr(Aᵏ)/P (k ≤ 4) of G, S and H on shared probes, Rayleigh quotients \
        of the top eigenvectors of G under S and vice versa, the loss on the plane of two \
        eigenvectors of G, a spectral density, the layerwise alignments A_l with the targets, and the \
        loss and accuracy on a held-out set (--validation-inputs). Writes train.json, train.csv, loss.csv and SVG \
        figures to --output-dir.
        """)

    @OptionGroup var network: NetworkOptions
    @Option(help: "Gradient steps.")
    var steps: Int = 200
    @Option(help: "Learning rate η.")
    var lr: Double = 0.1
    @Option(name: .customLong("batch-size"), help: "Minibatch size for SGD. Default: full-batch gradient descent.")
    var batchSize: Int?
    @Option(help: "Update rule: sgd (θ ← θ − η g), momentum (PyTorch's heavy ball: v ← μ v + g, θ ← θ − η v) or adam (PyTorch's defaults).")
    var optimizer: OptimizerSettings.Method = .sgd
    @Option(help: "Momentum μ (with --optimizer momentum).")
    var momentum: Double = 0.9
    @Flag(help: "Nesterov momentum: θ ← θ − η (g + μ v) (with --optimizer momentum).")
    var nesterov = false
    @Option(help: "Adam's β₁ (decay of the gradient's running mean).")
    var beta1: Double = 0.9
    @Option(help: "Adam's β₂ (decay of the squared gradient's running mean).")
    var beta2: Double = 0.999
    @Option(name: .customLong("adam-eps"), help: "Adam's ε (added to the root of the second moment).")
    var adamEps: Double = 1e-8
    @Option(name: .customLong("weight-decay"), help: "L2 weight decay λ added to the gradient (g + λ θ, as PyTorch's weight_decay), any optimizer.")
    var weightDecay: Double = 0
    @Option(name: .customLong("validation-inputs"), help: "Held-out inputs evaluated at every checkpoint (loss, and accuracy for labels), never trained on: e.g. Fashion-MNIST's t10k-images-idx3-ubyte.gz.")
    var validationInputs: String?
    @Option(name: .customLong("validation-targets"), help: "Real-valued targets of --validation-inputs (with --targets).")
    var validationTargets: String?
    @Option(name: .customLong("validation-labels"), help: "Class labels of --validation-inputs (with --labels), one-hot into the training's classes.")
    var validationLabels: String?
    @Option(name: .customLong("validation-samples"), help: "Use the first V rows of the validation files. Default: all.")
    var validationSamples: Int?
    @Option(name: .customLong("target-loss"), help: "Stop once the full loss is at most this.")
    var targetLoss: Double?
    @Option(help: "Steps between checkpoints (measurements and saved parameters).")
    var every: Int = 50
    @Option(name: .customLong("at-steps"), help: "Further checkpoint steps, comma-separated (e.g. 1,2,5,10,20).")
    var atSteps: String?
    @Option(help: "Comma-separated: moments, top, grid, density, ntk-limit (Jacot et al.'s infinite-width moments of I, once), align (layerwise alignments A_l, Lou et al.), or none.")
    var measure: String = "moments"
    @Option(help: "Rademacher probes of the moments and densities.")
    var probes: Int = 10
    @Option(name: .customLong("slq-steps"), help: "Lanczos steps per probe.")
    var slqSteps: Int = 20
    @Option(help: "Eigenvectors of G and of S for the Rayleigh quotients (with 'top'). Default: 20.")
    var top: Int?
    @Option(help: "Eigenvectors of G spanning the loss plane, 1-based (with 'grid'; Jacot et al. Fig. 3 uses 1,4).")
    var grid: String = "1,4"
    @Option(name: .customLong("grid-radius"), help: "Half-width r of the loss plane: a, b ∈ [−r, r].")
    var gridRadius: Double = 1
    @Option(name: .customLong("grid-points"), help: "Points per axis of the loss plane.")
    var gridPoints: Int = 21
    @Option(name: .customLong("density-matrix"), help: "Matrix of the density (with 'density'): fisher, ntk, ggn, hessian, residual.")
    var densityMatrix: CurvatureMatrix = .ggn
    @Option(name: .customLong("density-grid"), help: "Grid of the density: log or linear.")
    var densityGrid: GridScale = .log
    @Option(name: .customLong("align-exact-limit"), help: "With 'align': form every K_l densely when TC is at most this; else Hutchinson.")
    var alignExactLimit: Int = 4096
    @Option(name: .customLong("align-probes"), help: "With 'align': Hutchinson probes of ‖C K_l C‖_F (when TC > --align-exact-limit).")
    var alignProbes: Int = 30
    @Option(name: .customLong("output-dir"), help: "Directory of the outputs.")
    var outputDir: String = "wisp-output/train"
    @Option(help: "Write the JSON record here instead of <output-dir>/train.json.")
    var output: String?
    @Flag(name: .customLong("no-save-models"), help: "Do not save θ at each checkpoint (models/step-N.safetensors).")
    var noSaveModels = false
    @OptionGroup var checkpointing: CheckpointOptions
    @Flag(help: "No progress lines on stderr.")
    var quiet = false

    func measurementSettings() throws -> MeasurementSettings {
        var m = MeasurementSettings()
        let wanted = Set(measure.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        let known: Set = ["moments", "top", "grid", "density", "ntk-limit", "align", "none"]
        if let bad = wanted.subtracting(known).first {
            throw ValidationError("--measure: unknown quantity '\(bad)' (use moments, top, grid, density, ntk-limit, align or none)")
        }
        m.ntkLimit = wanted.contains("ntk-limit")
        m.moments = wanted.contains("moments")
        m.slq = SLQSettings(probes: probes, steps: slqSteps, seed: network.seed)
        if wanted.contains("grid") {
            let parts = grid.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard parts.count == 2, let x = parts[0], let y = parts[1] else {
                throw ValidationError("--grid must be two eigenvector indices like 1,4 (got '\(grid)')")
            }
            m.grid = .init(x: x, y: y, radius: gridRadius, points: gridPoints)
            m.top = top ?? max(20, x, y)
        } else if wanted.contains("top") {
            m.top = top ?? 20
        }
        if wanted.contains("density") {
            m.density = densityMatrix
            m.densityGrid = DensitySettings(scale: densityGrid)
        }
        if wanted.contains("align") {
            m.align = AlignSettings(exactLimit: alignExactLimit, probes: alignProbes, seed: network.seed, tolerance: m.tolerance)
        }
        return m
    }

    func run() throws {
        let measurements = try measurementSettings()
        let extra = try (atSteps?.split(separator: ",") ?? []).map { part -> Int in
            guard let s = Int(part.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("--at-steps expects integers like 1,2,5 (got '\(part)')") }
            return s
        }
        let training = TrainingSettings(steps: steps, learningRate: lr, batchSize: batchSize, targetLoss: targetLoss,
                                        every: every, checkpointSteps: extra, seed: network.seed,
                                        optimizer: OptimizerSettings(method: optimizer, momentum: momentum, nesterov: nesterov, beta1: beta1,
                                                                     beta2: beta2, epsilon: adamEps, weightDecay: weightDecay))
        let jsonPath = output ?? outputDir + "/train.json"
        if validationInputs == nil, validationTargets != nil || validationLabels != nil || validationSamples != nil {
            throw ValidationError("--validation-targets, --validation-labels and --validation-samples need --validation-inputs")
        }
        let validation = validationInputs.map {
            ValidationSettings(inputsPath: $0, targetsPath: validationTargets, labelsPath: validationLabels, samples: validationSamples)
        }
        if network.isLayerNetwork {
            return try runLayers(training: training, measurements: measurements, validation: validation, jsonPath: jsonPath)
        }
        let problem = try network.makeProblem(outputs: [jsonPath], directories: [outputDir, checkpointing.checkpoint],
                                              inputs: [validationInputs, validationTargets, validationLabels])
        try training.validate(samples: problem.totalSamples)
        try measurements.validate()
        let base = network.configuration
        let held = try validation.map { v in (v, try Runtime.communicator.agree { try v.makeProblem(training: problem, base: base) }) }
        let settings = TrainRunSettings(training: training, measurements: measurements, validation: validation)
        let checkpoint = try checkpointing.open("train", problem: problem, settings: settings,
                                                replicated: true)
            .map { TrainingCheckpoint(directory: $0, architecture: problem.architecture) }
        let architecture = problem.architecture
        let (result, timings) = try train(problem, training: training, measurements: measurements, validation: held, checkpoint: checkpoint) {
            try Network<Double>(architecture: architecture, parameters: $0).save(safetensors: $1)
        }
        guard Runtime.isLead else { return }
        try RunRecord(command: "train", problem: problem, settings: settings, timings: timings, result: result).write(to: jsonPath)
        let written = try TrainFiles.writeSeries(result, directory: outputDir)
        say(Summary.header(problem))
        summarize(result, timings: timings, jsonPath: jsonPath, written: written)
    }

    /// ``TrainJob`` on `problem` (an MLP or a layer network) with the held-out set and the
    /// checkpoints; rank 0 writes each checkpoint's files and, unless `--no-save-models`, θ to
    /// `models/step-N.safetensors` through `save(θ, path)`. Collective.
    func train<P: TrainableProblem>(_ problem: P, training: TrainingSettings, measurements: MeasurementSettings,
                                    validation: (settings: ValidationSettings, problem: P)?, checkpoint: TrainingCheckpoint?,
                                    save: @escaping ([Double], String) throws -> Void) throws -> (TrainResult, Timings) {
        let saveModels = !noSaveModels
        let directory = outputDir
        return try TrainJob.run(problem, training: training, measurements: measurements, validation: validation, checkpoint: checkpoint,
                                reporter: Runtime.progress("train", quiet: quiet)) { record, theta in
            guard Runtime.isLead else { return nil }
            try TrainFiles.writeCheckpoint(record, directory: directory)
            guard saveModels else { return nil }
            let path = directory + String(format: "/models/step-%09d.safetensors", record.step)
            try save(theta, path)
            return path
        }
    }

    /// The summary's lines after the header: training, loss, validation, moments, alignment, timing, files.
    func summarize(_ result: TrainResult, timings: Timings, jsonPath: String, written: [String]) {
        say("  training   \(result.method), η = \(lr), \(result.stepsTaken) steps (\(result.stoppedBecause))"
            + (result.resumedFrom.map { ", resumed from step \($0)" } ?? ""))
        if let first = result.series.first, let last = result.series.last {
            say(String(format: "  loss       %.6e → %.6e", first.loss, last.loss)
                + (last.accuracy.map { String(format: ", accuracy %.4f", $0) } ?? ""))
            if let v = last.validationLoss, let f = first.validationLoss {
                say(String(format: "  validation loss %.6e → %.6e", f, v) + (last.validationAccuracy.map { String(format: ", accuracy %.4f", $0) } ?? "")
                    + " (\(result.validationSamples ?? 0) held-out samples, \(validationInputs ?? ""))")
            }
            if let m = last.moments {
                for matrix in m.matrices {
                    say("  " + matrix.matrix.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0) + " " + matrix.moments.map {
                        String(format: "m%d %.4e ± %.1e", $0.order, $0.estimate, $0.standardError)
                    }.joined(separator: "  "))
                }
            }
            if let a = last.alignment {
                say("  alignment  " + a.layers.map { String(format: "A_%d %.4f", $0.layer, $0.alignment) }.joined(separator: "  ")
                    + "  (peak layer \(a.peakLayer), \(a.method))")
            }
        }
        if let limit = result.ntkLimit {
            say("  NTK limit  " + (limit.moments.map { $0.enumerated().map { String(format: "m%d %.4e", $0.offset + 1, $0.element) }.joined(separator: "  ") }
                                   ?? "not covered: \(limit.reason ?? "")"))
        }
        say(Summary.timing(timings))
        say("  output     \(jsonPath), " + written.joined(separator: ", "))
    }
}
