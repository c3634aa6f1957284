import ArgumentParser
import Foundation
import Wisp

/// `wisp train` with `--architecture FILE`: the same job as on an MLP (``TrainJob``) on a network
/// given as layers (``LayerProblem``); `top`, `density`, `moments`, `align`, `reduce` and `run`
/// have one body for both kinds (most through ``NetworkContext``).
extension NetworkOptions {
    /// Reads and checks the description (`--architecture`, or the one `--model` records) and
    /// the model's θ, after checking every output path (rank 0), then the inputs (collective:
    /// each process its rows), and builds this process's part of the problem; all processes
    /// agree on success at each step. Saves the network if asked (rank 0). `matrix`'s loss
    /// matrices, and training (`withLoss`), get `--loss` and the targets (the file's, else a
    /// teacher network's). `files`: further binary files the run writes; `inputs`: further
    /// files the run reads (none may be an output).
    func makeLayerProblem(outputs: [String?], siblings: [String] = [], files: [String?] = [], directories: [String?] = [], inputs extraInputs: [String?] = [],
                          matrix: CurvatureMatrix = .fisher, withLoss: Bool = false) throws -> LayerProblem {
        let communicator = Runtime.communicator
        if outputs.contains(where: { $0.map(OutputPath.isStandardOutput) ?? false }) { Runtime.summaryToStandardError = true }
        let c = dataConfiguration
        let (description, weights) = try communicator.agree { () throws -> (LayerArchitecture, LayerWeightSource) in
            if Runtime.isLead {
                try OutputOptions.check(outputs: outputs, siblings: siblings, files: [saveModel] + files, directories: directories,
                                        inputs: [architecture, model, c.inputsPath, c.targetsPath, c.labelsPath] + extraInputs)
            }
            let given = try architecture.map { try LayerArchitecture.read(path: $0) }
            guard let model else { return (given!, .initial) }
            let loaded = try LayerModelFile.load(path: model, architecture: given, architectureFile: architecture)
            return (loaded.architecture, .loaded(path: model, dtype: loaded.dtype, parameters: loaded.parameters))
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let inputs = try LayerProblem.loadInputs(c, architecture: description, communicator: communicator)
        let problem = try communicator.agree {
            try LayerProblem(architecture: description, inputs: inputs, weights: weights, seed: seed, precision: precision, communicator: communicator,
                             loss: matrix.needsLoss || withLoss ? loss : nil)
        }
        problem.setupSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        if Runtime.isLead, let path = saveModel {
            try LayerModelFile.save(problem.parameters(), architecture: description, to: path, dtype: saveDtype)
        }
        return problem
    }

    /// The file that names the layers: `--architecture`, else `--model`.
    var layerFile: String { architecture ?? model! }
}

enum LayerSummary {
    /// One line per layer kind chain, then the data and the sizes.
    static func header(_ p: LayerProblem, file: String) -> String {
        """
        Wisp \(wispVersionAndCommit)
          network    layers from \(file): input \(p.architecture.input), \(describe(p.architecture.layers)), C=\(p.outputCount)
          data       T=\(p.totalSamples), \(p.inputSource.description(input: p.architecture.input)), seed \(p.seed), \(p.precision.rawValue)
          weights    \(weights(p.weightSource))
          P          \(p.parameterCount) parameters (TC = \(p.sampleSpaceDimension))\(lossLine(p))
        """
    }

    /// The loss and where its targets came from, for the loss matrices (empty otherwise).
    static func lossLine(_ p: LayerProblem) -> String {
        guard let loss = p.loss else { return "" }
        return "\n  loss       \(loss.rawValue), targets from \(p.targetSource?.description ?? "nowhere")"
    }

    static func weights(_ source: LayerWeightSource) -> String {
        switch source {
        case .initial: return "He/LeCun Gaussian (kaiming_normal_, fan_in)"
        case .loaded: return source.description
        }
    }

    static func describe(_ specs: [LayerSpec]) -> String {
        specs.map { spec in
            switch spec {
            case let .dense(_, out, _): return "dense(\(out))"
            case let .conv2D(_, out, k, s, p, _): return "conv2d(\(out), k\(k.map(String.init).joined(separator: "×")), s\(s.map(String.init).joined(separator: "×")), p\(p.map(String.init).joined(separator: "×")))"
            case let .residual(body, projection): return "residual[\(describe(body))\(projection.map { " | " + describe([$0]) } ?? "")]"
            default: return spec.kind
            }
        }.joined(separator: " → ")
    }
}

extension Train {
    /// `wisp train` on a layer network (``TrainJob`` on a ``LayerProblem``): the same optimizers,
    /// minibatches, held-out set, checkpoints and files as on an MLP; θ saved at checkpoints
    /// with ``LayerModelFile`` (so `--model` reads it back). The loss is `--loss` (mse by default)
    /// with the file's targets, else a teacher network's. Refused before any work: measurements
    /// the layer path lacks (``LayerProblem/checkTraining(_:)``).
    func runLayers(training: TrainingSettings, measurements: MeasurementSettings, validation: ValidationSettings?, jsonPath: String) throws {
        if measurements.ntkLimit { throw ValidationError("--measure ntk-limit is not available for --architecture networks yet") }
        let file = network.layerFile
        let problem = try network.makeLayerProblem(outputs: [jsonPath], directories: [outputDir, checkpointing.checkpoint],
                                                   inputs: [validationInputs, validationTargets, validationLabels], withLoss: true)
        try training.validate(samples: problem.totalSamples)
        try measurements.validate()
        try problem.checkTraining(measurements)
        let base = network.dataConfiguration
        let held = try validation.map { v in (v, try Runtime.communicator.agree { try v.makeProblem(training: problem, base: base) }) }
        let settings = TrainRunSettings(training: training, measurements: measurements, validation: validation)
        let checkpoint = try checkpointing.open("train", problem: problem, settings: settings, replicated: true)
            .map { TrainingCheckpoint(directory: $0) }
        let architecture = problem.architecture
        let (result, timings) = try train(problem, training: training, measurements: measurements, validation: held, checkpoint: checkpoint) {
            try LayerModelFile.save($0, architecture: architecture, to: $1)
        }
        guard Runtime.isLead else { return }
        try RunRecord(command: "train", problem: problem, settings: settings, timings: timings, result: result).write(to: jsonPath)
        let written = try TrainFiles.writeSeries(result, directory: outputDir)
        say(LayerSummary.header(problem, file: file))
        summarize(result, timings: timings, jsonPath: jsonPath, written: written)
    }
}
