import Foundation

/// A directory that lets a killed run resume with exactly the numbers of an uninterrupted one
/// (`--checkpoint DIR`).
///
/// Every file in it is a ``SealedFile``: it carries its SHA-256 and the run's full
/// ``RunFingerprint`` (command, configuration, solver settings, Wisp version, canonically
/// encoded), both verified before any number in it is used, and it is written atomically.
/// A corrupt file, or one from another run, is refused with one error naming it (never used,
/// never silently recomputed over); every count read from a file is checked before use.
///
/// - `manifest.json` (rank 0): the fingerprint. A rerun with another fingerprint is refused,
///   naming the first setting that differs; a missing manifest is rewritten, and each other
///   file still proves its own run.
/// - `slq.json` (rank 0): the quadrature rule of every finished probe, rewritten atomically
///   after each probe. Probe p depends only on (seed, p), so a rerun with more `--probes`
///   reuses the finished ones too. Other ranks receive the rules from rank 0, so only rank 0
///   needs to see the directory for SLQ.
/// - `lanczos-g<gen>-r<rank>.safetensors` and `lanczos.json`: the Lanczos factorization,
///   saved when rank 0's clock says it is due. Every rank writes its own rows of the basis
///   (for replicated parameter-space vectors only rank 0 writes and all ranks read that file,
///   so the directory must then be shared), then rank 0 points `lanczos.json` at the new
///   generation and the previous one is deleted: a kill at any moment leaves one complete
///   generation. Resuming needs the same number of ranks for sample-space vectors.
public final class CheckpointDirectory {
    public let path: String
    public let communicator: any Communicator
    /// Seconds between Lanczos saves (0: after every expansion).
    public let interval: Double
    /// The run's fingerprint, carried and verified by every file.
    public let fingerprint: RunFingerprint
    private var lastSave = DispatchTime.now().uptimeNanoseconds
    private var generation = 0
    private let replicated: Bool

    /// Opens or creates the directory and checks its fingerprint (collective, agreed).
    public init(path: String, fingerprint: RunFingerprint, communicator: any Communicator, interval: Double = 300,
                replicatedVectors: Bool) throws {
        self.path = path
        self.communicator = communicator
        self.interval = interval
        self.replicated = replicatedVectors
        self.fingerprint = fingerprint
        try communicator.agree {
            guard communicator.rank == 0 else { return }
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            let manifest = path + "/manifest.json"
            if FileManager.default.fileExists(atPath: manifest) {
                _ = try SealedFile.readJSON(String.self, from: manifest, fingerprint: fingerprint)
            } else {
                try SealedFile.writeJSON("wisp checkpoint", fingerprint: fingerprint, to: manifest)
            }
        }
    }

    // MARK: SLQ

    /// The finished probes' rules (on every process).
    public func finishedProbes() throws -> [Int: QuadratureRule] {
        var flat = [Double]()
        try communicator.agree {
            guard communicator.rank == 0 else { return }
            let file = path + "/slq.json"
            guard FileManager.default.fileExists(atPath: file) else { return }
            let saved = try SealedFile.readJSON([String: QuadratureRule].self, from: file, fingerprint: fingerprint)
            for (key, rule) in saved.sorted(by: { $0.key < $1.key }) {
                guard let p = Int(key), p >= 0, String(p) == key, rule.nodes.count == rule.weights.count, !rule.nodes.isEmpty,
                      rule.nodes.allSatisfy(\.isFinite), rule.weights.allSatisfy(\.isFinite) else {
                    throw WispError.badInput("checkpoint file \(file) is corrupt: entry '\(key)' is not a probe's quadrature rule; it was not used (delete it to start over)")
                }
                flat += [Double(p), Double(rule.nodes.count)] + rule.nodes + rule.weights
            }
        }
        flat = communicator.broadcastFromLead(flat)
        var rules = [Int: QuadratureRule]()
        var i = 0
        while i < flat.count {
            let p = Int(flat[i]), m = Int(flat[i + 1])
            rules[p] = QuadratureRule(nodes: Array(flat[(i + 2)..<(i + 2 + m)]), weights: Array(flat[(i + 2 + m)..<(i + 2 + 2 * m)]))
            i += 2 + 2 * m
        }
        return rules
    }

    /// Records finished probes (rank 0 writes; the file always holds complete rules).
    public func saveProbes(_ rules: [Int: QuadratureRule]) throws {
        guard communicator.rank == 0 else { return }
        let keyed = Dictionary(uniqueKeysWithValues: rules.map { (String($0.key), $0.value) })
        try SealedFile.writeJSON(keyed, fingerprint: fingerprint, to: path + "/slq.json")
    }
}

/// `lanczos.json`: the generation of the Lanczos files that is complete.
struct LanczosPointer: Codable {
    var generation: Int
    var ranks: Int
}

extension CheckpointDirectory: LanczosCheckpoint {
    private func stateFile(generation g: Int, rank r: Int) -> String {
        path + "/lanczos-g\(g)-r\(replicated ? 0 : r).safetensors"
    }

    public func restore() throws -> LanczosState? {
        try communicator.agree { () throws -> LanczosState? in
            let pointer = path + "/lanczos.json"
            guard FileManager.default.fileExists(atPath: pointer) else { return nil }
            let info = try SealedFile.readJSON(LanczosPointer.self, from: pointer, fingerprint: fingerprint)
            let g = info.generation, ranks = info.ranks
            guard g >= 1, ranks >= 1 else {
                throw WispError.badInput("checkpoint file \(pointer) is corrupt: generation \(g), ranks \(ranks); it was not used (delete it to start over)")
            }
            if !replicated && ranks != communicator.size {
                throw WispError.invalidConfiguration("checkpoint \(path) was written by \(ranks) ranks; resume it with \(ranks) ranks")
            }
            generation = g
            let name = stateFile(generation: g, rank: communicator.rank)
            let file = try SealedFile.readSafeTensors(from: name, fingerprint: fingerprint)
            func bad(_ why: String) -> WispError {
                .badInput("checkpoint file \(name) is corrupt: \(why); it was not used (delete it to start over)")
            }
            func int(_ key: String) throws -> Int {
                guard let v = file.metadata[key].flatMap(Int.init), v >= 0 else { throw bad("'\(key)' is not a non-negative integer") }
                return v
            }
            guard let basis = file.tensors["basis"], let projected = file.tensors["projected"],
                  let norm = file.tensors["residual_norm"], norm.values.count == 1 else {
                throw bad("generation \(g) is incomplete")
            }
            let state = LanczosState(localDimension: try int("local_dimension"), capacity: try int("capacity"), count: try int("count"),
                                     residualNorm: norm.values[0], isTridiagonal: file.metadata["tridiagonal"] == "true",
                                     applications: try int("applications"), extraStarts: try int("extra_starts"),
                                     restarts: try int("restarts"), basis: basis.values, projected: projected.values)
            if let problem = state.inconsistency { throw bad(problem) }
            return state
        }
    }

    public func isDue() -> Bool {
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - lastSave) * 1e-9
        let lead = communicator.rank == 0 && elapsed >= interval
        return communicator.allreduceMin(communicator.rank == 0 ? (lead ? 0 : 1) : 1) == 0
    }

    public func save(_ state: LanczosState) throws {
        let g = generation + 1
        let writes = replicated ? communicator.rank == 0 : true
        try communicator.agree {
            guard writes else { return }
            let metadata = ["local_dimension": "\(state.localDimension)", "capacity": "\(state.capacity)", "count": "\(state.count)",
                            "tridiagonal": "\(state.isTridiagonal)", "applications": "\(state.applications)",
                            "extra_starts": "\(state.extraStarts)", "restarts": "\(state.restarts)"]
            let file = SafeTensorsFile(tensors: [
                "basis": SafeTensor(dtype: .f64, shape: [state.count + 1, state.localDimension], values: state.basis),
                "projected": SafeTensor(dtype: .f64, shape: [state.capacity + 1, state.capacity + 1], values: state.projected),
                "residual_norm": SafeTensor(dtype: .f64, shape: [1], values: [state.residualNorm]),
            ], metadata: metadata)
            try SealedFile.writeSafeTensors(file, fingerprint: fingerprint, to: stateFile(generation: g, rank: communicator.rank))
        }
        // Every rank's generation g is complete: point at it, then drop g − 1.
        try communicator.agree {
            guard communicator.rank == 0 else { return }
            try SealedFile.writeJSON(LanczosPointer(generation: g, ranks: communicator.size), fingerprint: fingerprint,
                                     to: path + "/lanczos.json")
        }
        if writes { try? FileManager.default.removeItem(atPath: stateFile(generation: g - 1, rank: communicator.rank)) }
        generation = g
        lastSave = DispatchTime.now().uptimeNanoseconds
    }
}
