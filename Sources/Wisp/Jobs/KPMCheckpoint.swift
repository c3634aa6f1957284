import Foundation

/// The kernel polynomial method's part of a checkpoint directory: `kpm.json` (rank 0) holds the
/// spectral bounds the moments were computed with and the Chebyshev moment vector of every
/// finished probe, rewritten atomically after each probe. Probe p depends only on (seed, p,
/// bounds, moments), so a rerun resumes with the same bounds and, with more `--probes`, reuses
/// the finished ones. Other ranks receive everything from rank 0.
extension CheckpointDirectory {
    struct KPMFile: Codable {
        var bounds: SpectralBounds
        var probes: [String: [Double]]
    }

    private var kpmFile: String { path + "/kpm.json" }

    /// The saved bounds and finished probes' moments (on every process), or nil.
    public func finishedKPM() throws -> (bounds: SpectralBounds, probes: [Int: [Double]])? {
        var saved: KPMFile? = nil
        try communicator.agree {
            guard communicator.rank == 0, FileManager.default.fileExists(atPath: kpmFile) else { return }
            let decoder = JSONDecoder()
            decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            guard let file = try? decoder.decode(KPMFile.self, from: try AtomicFile.read(path: kpmFile)),
                  file.probes.keys.allSatisfy({ Int($0) != nil }) else {
                throw WispError.badInput("\(kpmFile): corrupt checkpoint (not KPM bounds and moments); delete it to start over")
            }
            saved = file
        }
        // Flattened for the broadcast: [lower, upper, (p, M, μ_0 … μ_(M−1))…]; the other
        // fields of the bounds are reported by rank 0 only.
        var flat = [Double]()
        if let saved {
            flat = [saved.bounds.lower, saved.bounds.upper]
            for (key, mu) in saved.probes.sorted(by: { Int($0.key)! < Int($1.key)! }) { flat += [Double(Int(key)!), Double(mu.count)] + mu }
        }
        flat = communicator.broadcastFromLead(flat)
        guard flat.count >= 2 else { return nil }
        var probes = [Int: [Double]]()
        var i = 2
        while i < flat.count {
            let p = Int(flat[i]), m = Int(flat[i + 1])
            probes[p] = Array(flat[(i + 2)..<(i + 2 + m)])
            i += 2 + m
        }
        let bounds = saved?.bounds ?? SpectralBounds(lower: flat[0], upper: flat[1], source: "checkpoint")
        return (bounds, probes)
    }

    /// Records the bounds and finished probes (rank 0 writes; the file is always complete).
    public func saveKPM(bounds: SpectralBounds, probes: [Int: [Double]]) throws {
        guard communicator.rank == 0 else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let file = KPMFile(bounds: bounds, probes: Dictionary(uniqueKeysWithValues: probes.map { (String($0.key), $0.value) }))
        try AtomicFile.write(try encoder.encode(file), to: kpmFile)
    }
}
