import Foundation

/// The kernel polynomial method's part of a checkpoint directory: `kpm.json` (rank 0) holds the
/// spectral bounds the moments were computed with and the Chebyshev moment vector of every
/// finished probe, rewritten atomically after each probe. Probe p depends only on (seed, p,
/// bounds, moments), so a rerun resumes with the same bounds and, with more `--probes`, reuses
/// the finished ones. Other ranks receive everything from rank 0. The file is a ``SealedFile``
/// (checksum and fingerprint verified before use; bounds and moments checked finite).
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
            let file = try SealedFile.readJSON(KPMFile.self, from: kpmFile, fingerprint: fingerprint)
            let lengths = Set(file.probes.values.map(\.count))
            guard file.bounds.lower.isFinite, file.bounds.upper.isFinite, file.bounds.lower < file.bounds.upper,
                  file.probes.keys.allSatisfy({ key in Int(key).map { $0 >= 0 && String($0) == key } ?? false }),
                  lengths.count <= 1, !lengths.contains(0), file.probes.values.allSatisfy({ $0.allSatisfy(\.isFinite) }) else {
                throw WispError.badInput("checkpoint file \(kpmFile) is corrupt: bounds or moments out of shape; it was not used (delete it to start over)")
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
        let file = KPMFile(bounds: bounds, probes: Dictionary(uniqueKeysWithValues: probes.map { (String($0.key), $0.value) }))
        try SealedFile.writeJSON(file, fingerprint: fingerprint, to: kpmFile)
    }
}
