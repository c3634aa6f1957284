import Foundation

/// A directory that lets a killed run resume with exactly the numbers of an uninterrupted one
/// (`--checkpoint DIR`).
///
/// - `manifest.json` (rank 0): the fingerprint of the run (command, configuration, solver
///   settings, Wisp version). A rerun with another fingerprint is refused, naming the first
///   setting that differs.
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
    private let fingerprint: [String: String]
    private var lastSave = DispatchTime.now().uptimeNanoseconds
    private var generation = 0
    private let replicated: Bool

    /// Opens or creates the directory and checks its fingerprint (collective, agreed).
    public init(path: String, fingerprint: [String: String], communicator: any Communicator, interval: Double = 300,
                replicatedVectors: Bool) throws {
        self.path = path
        self.communicator = communicator
        self.interval = interval
        self.replicated = replicatedVectors
        var fp = fingerprint
        fp["wisp_version"] = wispVersion
        self.fingerprint = fp
        try communicator.agree {
            guard communicator.rank == 0 else { return }
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            let manifest = path + "/manifest.json"
            if FileManager.default.fileExists(atPath: manifest) {
                let stored = try Self.readStrings(manifest)
                for key in Set(stored.keys).union(fp.keys).sorted() where stored[key] != fp[key] {
                    throw WispError.invalidConfiguration(
                        "checkpoint \(path) belongs to a different run: \(key) is \(stored[key] ?? "unset") there and \(fp[key] ?? "unset") here (use another --checkpoint directory)")
                }
            } else {
                try Self.writeJSON(fp, to: manifest)
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
            let data = try AtomicFile.read(path: file)
            guard let saved = try? JSONDecoder().decode([String: QuadratureRule].self, from: data) else {
                throw WispError.badInput("\(file): corrupt checkpoint (not a map of probe rules); delete it to start over")
            }
            for (key, rule) in saved.sorted(by: { $0.key < $1.key }) {
                guard let p = Int(key), rule.nodes.count == rule.weights.count else {
                    throw WispError.badInput("\(file): corrupt checkpoint entry '\(key)'; delete it to start over")
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
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let keyed = Dictionary(uniqueKeysWithValues: rules.map { (String($0.key), $0.value) })
        try AtomicFile.write(try encoder.encode(keyed), to: path + "/slq.json")
    }

    // MARK: JSON helpers

    static func readStrings(_ file: String) throws -> [String: String] {
        let data = try AtomicFile.read(path: file)
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: String] else {
            throw WispError.badInput("\(file): corrupt checkpoint manifest; delete the directory to start over")
        }
        return object
    }

    static func writeJSON(_ object: [String: String], to file: String) throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
        try AtomicFile.write(data, to: file)
    }
}

extension CheckpointDirectory: LanczosCheckpoint {
    private func stateFile(generation g: Int, rank r: Int) -> String {
        path + "/lanczos-g\(g)-r\(replicated ? 0 : r).safetensors"
    }

    public func restore() throws -> LanczosState? {
        try communicator.agree { () throws -> LanczosState? in
            let pointer = path + "/lanczos.json"
            guard FileManager.default.fileExists(atPath: pointer) else { return nil }
            let info = try Self.readStrings(pointer)
            guard let g = info["generation"].flatMap(Int.init), let ranks = info["ranks"].flatMap(Int.init) else {
                throw WispError.badInput("\(pointer): corrupt checkpoint; delete it to start over")
            }
            if !replicated && ranks != communicator.size {
                throw WispError.invalidConfiguration("checkpoint \(path) was written by \(ranks) ranks; resume it with \(ranks) ranks")
            }
            generation = g
            let file = try SafeTensorsFile.read(path: stateFile(generation: g, rank: communicator.rank))
            func int(_ key: String) throws -> Int {
                guard let v = file.metadata[key].flatMap(Int.init) else { throw WispError.badInput("\(path): checkpoint lacks '\(key)'") }
                return v
            }
            guard let basis = file.tensors["basis"], let projected = file.tensors["projected"],
                  let beta = file.tensors["residual_norm"]?.values.first else {
                throw WispError.badInput("\(path): checkpoint generation \(g) is incomplete; delete it to start over")
            }
            return LanczosState(localDimension: try int("local_dimension"), capacity: try int("capacity"), count: try int("count"),
                                residualNorm: beta, isTridiagonal: file.metadata["tridiagonal"] == "true",
                                applications: try int("applications"), extraStarts: try int("extra_starts"),
                                restarts: try int("restarts"), basis: basis.values, projected: projected.values)
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
            try SafeTensorsFile(tensors: [
                "basis": SafeTensor(dtype: .f64, shape: [state.count + 1, state.localDimension], values: state.basis),
                "projected": SafeTensor(dtype: .f64, shape: [state.capacity + 1, state.capacity + 1], values: state.projected),
                "residual_norm": SafeTensor(dtype: .f64, shape: [1], values: [state.residualNorm]),
            ], metadata: metadata).write(to: stateFile(generation: g, rank: communicator.rank))
        }
        // Every rank's generation g is complete: point at it, then drop g − 1.
        try communicator.agree {
            guard communicator.rank == 0 else { return }
            try Self.writeJSON(["generation": "\(g)", "ranks": "\(communicator.size)"], to: path + "/lanczos.json")
        }
        if writes { try? FileManager.default.removeItem(atPath: stateFile(generation: g - 1, rank: communicator.rank)) }
        generation = g
        lastSave = DispatchTime.now().uptimeNanoseconds
    }
}
