import Foundation

/// Where `wisp train --checkpoint DIR` keeps what a killed run needs to continue: the
/// directory's manifest (``CheckpointDirectory``: a rerun with other settings is refused,
/// naming the setting), `train-step-<s>.safetensors` with θ at the last checkpoint s, and
/// `train-state.json` (s, the measured series and the loss curve so far), written in that
/// order, atomically, so a kill at any moment leaves a consistent pair. All processes read
/// the files on resume (the directory must be shared); rank 0 writes them.
public final class TrainingCheckpoint {
    public let directory: CheckpointDirectory
    public let architecture: Architecture

    /// The state of a run at a checkpoint.
    public struct Saved: Codable, Sendable {
        public var step: Int
        public var model: String
        public var series: [CheckpointRecord]
        public var lossCurve: [StepLoss]
        /// θ, not in the JSON (read from `model`).
        public var parameters: [Double] = []

        private enum CodingKeys: String, CodingKey { case step, model, series, lossCurve = "loss_curve" }
    }

    public init(directory: CheckpointDirectory, architecture: Architecture) {
        self.directory = directory
        self.architecture = architecture
    }

    private var stateFile: String { directory.path + "/train-state.json" }

    /// Non-finite numbers (a stable rank of a vanishing kernel) are written as strings, like the run record's.
    private static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return decoder
    }

    /// The saved state, or nil when the directory holds none (collective, agreed).
    func restore(problem: Problem) throws -> Saved? {
        try directory.communicator.agree { () throws -> Saved? in
            guard FileManager.default.fileExists(atPath: stateFile) else { return nil }
            let data = try AtomicFile.read(path: stateFile)
            var saved: Saved
            do { saved = try Self.decoder().decode(Saved.self, from: data) } catch {
                throw WispError.badInput("\(stateFile): corrupt training state (\(error)); delete the checkpoint directory to start over")
            }
            let c = problem.configuration
            let network = try Network<Double>.load(safetensors: directory.path + "/" + saved.model, activation: c.activation,
                                                   parametrization: c.parametrization, sigmaW2: c.sigmaW2, sigmaB2: c.sigmaB2,
                                                   normalization: c.normalization)
            guard network.architecture.widths == problem.architecture.widths else {
                throw WispError.badInput("\(saved.model): layer widths \(network.architecture.widths) differ from the run's \(problem.architecture.widths)")
            }
            saved.parameters = network.parameters
            return saved
        }
    }

    /// Saves θ and the series at checkpoint `step` (collective, agreed; rank 0 writes).
    func save(step: Int, parameters: [Double], series: [CheckpointRecord], lossCurve: [StepLoss]) throws {
        let previous = FileManager.default.fileExists(atPath: stateFile)
            ? (try? Self.decoder().decode(Saved.self, from: AtomicFile.read(path: stateFile)))?.model : nil
        try directory.communicator.agree {
            guard directory.communicator.rank == 0 else { return }
            let model = String(format: "train-step-%09d.safetensors", step)
            try Network<Double>(architecture: architecture, parameters: parameters).save(safetensors: directory.path + "/" + model)
            let saved = Saved(step: step, model: model, series: series, lossCurve: lossCurve)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            try AtomicFile.write(try encoder.encode(saved), to: stateFile)
            if let previous, previous != model { try? FileManager.default.removeItem(atPath: directory.path + "/" + previous) }
        }
    }
}
