import Foundation

/// Where `wisp train --checkpoint DIR` keeps what a killed run needs to continue: the
/// directory's manifest (``CheckpointDirectory``: a rerun with other settings is refused,
/// naming the setting), `train-step-<s>.safetensors` with θ at the last checkpoint s (one
/// flat tensor `parameters` [P], and the optimizer's vectors [P] each: `velocity` for
/// momentum, `exp_avg` and `exp_avg_sq` for Adam, with its update count in the metadata
/// `optimizer_steps`), and `train-state.json` (s, the measured series and the loss
/// curve so far), written in that order, atomically, so a kill at any moment leaves a
/// consistent pair. Both are ``SealedFile``s: their checksums and the run's fingerprint are
/// verified, and P, the step and every number checked, before anything is used; a bad file
/// is refused with one error naming it. All processes read the files on resume (the
/// directory must be shared); rank 0 writes them.
public final class TrainingCheckpoint {
    public let directory: CheckpointDirectory
    /// The MLP's architecture, if any (the fingerprint of the directory identifies the network).
    public let architecture: Architecture?

    /// The state of a run at a checkpoint.
    public struct Saved: Codable, Sendable {
        public var step: Int
        public var model: String
        public var series: [CheckpointRecord]
        public var lossCurve: [StepLoss]
        /// θ, not in the JSON (read from `model`).
        public var parameters: [Double] = []
        /// The optimizer's state at `step`, not in the JSON (read from `model`).
        public var optimizer = OptimizerState()

        private enum CodingKeys: String, CodingKey { case step, model, series, lossCurve = "loss_curve" }
    }

    public init(directory: CheckpointDirectory, architecture: Architecture? = nil) {
        self.directory = directory
        self.architecture = architecture
    }

    private var stateFile: String { directory.path + "/train-state.json" }

    /// The saved state, or nil when the directory holds none (collective, agreed).
    func restore(parameterCount: Int, optimizer method: OptimizerSettings.Method) throws -> Saved? {
        try directory.communicator.agree { () throws -> Saved? in
            guard FileManager.default.fileExists(atPath: stateFile) else { return nil }
            var saved = try SealedFile.readJSON(Saved.self, from: stateFile, fingerprint: directory.fingerprint)
            func bad(_ why: String) -> WispError {
                .badInput("checkpoint file \(stateFile) is corrupt: \(why); it was not used (delete the checkpoint directory to start over)")
            }
            guard saved.step >= 0, saved.model == Self.modelName(step: saved.step) else {
                throw bad("step \(saved.step) and model '\(saved.model)' do not belong together")
            }
            guard saved.series.last?.step == saved.step, saved.lossCurve.count <= saved.step,
                  saved.lossCurve.allSatisfy({ $0.loss.isFinite }) else {
                throw bad("its series does not end at step \(saved.step)")
            }
            let name = directory.path + "/" + saved.model
            let file = try SealedFile.readSafeTensors(from: name, fingerprint: directory.fingerprint)
            guard let theta = file.tensors["parameters"], theta.values.count == parameterCount,
                  file.metadata["step"] == "\(saved.step)" else {
                throw WispError.badInput("checkpoint file \(name) is corrupt: it does not hold the \(parameterCount) parameters of step \(saved.step); it was not used (delete the checkpoint directory to start over)")
            }
            guard theta.values.allSatisfy(\.isFinite) else {
                throw WispError.badInput("checkpoint file \(name) holds non-finite parameters; it was not used (delete the checkpoint directory to start over)")
            }
            saved.parameters = theta.values
            // The optimizer's vectors: exactly those of its method (the fingerprint fixed the
            // method), P finite values each, and one update per step taken.
            let names = OptimizerState.vectorNames(method)
            guard Set(file.tensors.keys) == Set(["parameters"] + names), file.metadata["optimizer_steps"] == "\(saved.step)" else {
                throw WispError.badInput("checkpoint file \(name) is corrupt: it does not hold the \(method.rawValue) optimizer's state (\(names.isEmpty ? "none" : names.joined(separator: ", "))) after \(saved.step) updates; it was not used (delete the checkpoint directory to start over)")
            }
            var state = OptimizerState(steps: saved.step)
            for n in names {
                let v = file.tensors[n]!.values
                guard v.count == parameterCount, v.allSatisfy(\.isFinite) else {
                    throw WispError.badInput("checkpoint file \(name) is corrupt: the optimizer's '\(n)' is not \(parameterCount) finite numbers; it was not used (delete the checkpoint directory to start over)")
                }
                state.vectors[n] = v
            }
            saved.optimizer = state
            return saved
        }
    }

    static func modelName(step: Int) -> String { String(format: "train-step-%09d.safetensors", step) }

    /// Saves θ and the series at checkpoint `step` (collective, agreed; rank 0 writes).
    func save(step: Int, parameters: [Double], optimizer: OptimizerState, series: [CheckpointRecord], lossCurve: [StepLoss]) throws {
        try directory.communicator.agree {
            guard directory.communicator.rank == 0 else { return }
            let previous = FileManager.default.fileExists(atPath: stateFile)
                ? (try? SealedFile.readJSON(Saved.self, from: stateFile, fingerprint: directory.fingerprint))?.model : nil
            let model = Self.modelName(step: step)
            var tensors = ["parameters": SafeTensor(dtype: .f64, shape: [parameters.count], values: parameters)]
            for (n, v) in optimizer.vectors { tensors[n] = SafeTensor(dtype: .f64, shape: [v.count], values: v) }
            let file = SafeTensorsFile(tensors: tensors, metadata: ["step": "\(step)", "optimizer_steps": "\(optimizer.steps)"])
            try SealedFile.writeSafeTensors(file, fingerprint: directory.fingerprint, to: directory.path + "/" + model)
            let saved = Saved(step: step, model: model, series: series, lossCurve: lossCurve)
            try SealedFile.writeJSON(saved, fingerprint: directory.fingerprint, to: stateFile)
            if let previous, previous != model, previous == Self.modelName(step: Int(previous.dropFirst(11).prefix(9)) ?? -1) {
                try? FileManager.default.removeItem(atPath: directory.path + "/" + previous)
            }
        }
    }
}
