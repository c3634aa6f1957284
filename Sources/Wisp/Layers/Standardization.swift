/// The standardization shared by ``LayerNorm`` and ``BatchNorm``: each group G of entries of
/// the batch is centred and scaled by its own mean and variance, then an elementwise affine
/// map is applied,
///
///     μ = mean_G z,   σ² = mean_G (z − μ)²,   s = (σ² + ε)^(−1/2),   ẑ = s (z − μ),   y = γ ⊙ ẑ + β
///
/// (the biased variance, as PyTorch normalizes in training). The normalization N(z) = ẑ has
/// the symmetric Jacobian J_N = s (I − 11ᵀ/|G| − ẑ ẑᵀ/|G|) on each group, so with means over G
///
///     JVP     ẏ = γ ⊙ N'ż + γ̇ ⊙ ẑ + β̇,        N'ż = s (ż − mean ż − ẑ · mean(ẑ ż))
///     VJP     x̄ = N'(γ ⊙ ȳ),   γ̄ = α Σ ȳ ⊙ ẑ,   β̄ = α Σ ȳ
///     R-op    with g = γ ⊙ ȳ, Rg = γ ⊙ Rȳ + γ̇ ⊙ ȳ, a = mean(ẑ ż), m = mean(ẑ g), ẑ̇ = N'ż:
///             R{x̄} = N'(Rg) − s a x̄ − s (ẑ̇ m + ẑ · mean(ẑ̇ g))
///             R{γ̄} = α Σ (Rȳ ⊙ ẑ + ȳ ⊙ ẑ̇),   R{β̄} = α Σ Rȳ
///
/// (from ṡ = −s² a and ẑ̇ = s (ż − mean ż − a ẑ)). The batch is a sequence of runs of
/// `runLength` contiguous entries; run r belongs to group ``group(ofRun:)``; γ and β are indexed
/// by the entry's position in its run (layer norm: a group is one run) or by its group (batch
/// norm: a channel's runs are its planes in every sample). Groups that span samples (batch
/// norm) take their sums over every process's samples through `reduce`; the sums of each pass
/// are taken in Float64 and reduced in one call (two in the forward pass and the R-op), which
/// every process makes whatever its share of samples, so the calls match across processes.
/// Cost per pass: a few multiply-adds per entry. Memory: ẑ (one scalar per entry), one
/// scalar per group, and for the VJP and R-op up to three scratch blocks the size of the batch.
final class Standardization<S: BLASScalar> {
    /// Entries per run.
    let runLength: Int
    /// Runs per sample.
    let runsPerSample: Int
    /// Groups that span samples: group of run r is r mod `channels`; nil: group of run r is r.
    let channels: Int?
    let epsilon: Double
    /// Sums over every process's samples (batch statistics), or nil (per-sample groups).
    var reduce: ((UnsafeMutableBufferPointer<Double>) -> Void)?
    private(set) var batch = 0
    /// Entries per group (over all processes).
    private(set) var groupSize = 1.0
    /// s per group.
    private(set) var inverseDeviation: [Double] = []
    private(set) var mean: [Double] = []
    /// ẑ, the batch's standardized entries.
    let normalized = LayerBuffer<S>()
    private let scratch = [LayerBuffer<S>(), LayerBuffer<S>(), LayerBuffer<S>()]

    init(runLength: Int, runsPerSample: Int, channels: Int?, epsilon: Double) {
        self.runLength = runLength
        self.runsPerSample = runsPerSample
        self.channels = channels
        self.epsilon = epsilon
    }

    var groupCount: Int { channels ?? batch * runsPerSample }
    var entries: Int { batch * runsPerSample * runLength }

    @inline(__always) func group(ofRun r: Int) -> Int { channels.map { r % $0 } ?? r }
    /// γ's index for entry k of run r and its stride along the run.
    @inline(__always) func affine(ofRun r: Int) -> (base: Int, stride: Int) { channels == nil ? (0, 1) : (r % channels!, 0) }

    /// Per-group sums Σ a ⊙ b (b nil: Σ a; a nil: zero) for each term, reduced in one call.
    private func sums(_ terms: [(UnsafePointer<S>?, UnsafePointer<S>?)], extra: [Double] = []) -> [[Double]] {
        let G = groupCount, L = runLength
        var out = [Double](repeating: 0, count: terms.count * G + extra.count)
        for (j, (a, b)) in terms.enumerated() {
            guard let a else { continue }
            for r in 0..<(batch * runsPerSample) {
                let g = j * G + group(ofRun: r), o = r * L
                var s = 0.0
                if let b { for k in 0..<L { s += Double(a[o + k]) * Double(b[o + k]) } } else { for k in 0..<L { s += Double(a[o + k]) } }
                out[g] += s
            }
        }
        for (i, e) in extra.enumerated() { out[terms.count * G + i] = e }
        if let reduce { out.withUnsafeMutableBufferPointer { reduce($0) } }
        return (0..<(terms.count + (extra.isEmpty ? 0 : 1))).map { j in
            j < terms.count ? Array(out[(j * G)..<((j + 1) * G)]) : Array(out[(terms.count * G)...])
        }
    }

    /// out = s (a − mean a − ẑ · mean(ẑ a)) per group, from the sums Σ a and Σ ẑ a.
    private func project(_ a: UnsafePointer<S>?, sum: [Double], zSum: [Double], into out: UnsafeMutablePointer<S>) {
        let z = normalized.pointer, L = runLength
        for r in 0..<(batch * runsPerSample) {
            let g = group(ofRun: r), o = r * L, s = inverseDeviation[g]
            let (m1, m2) = (sum[g] / groupSize, zSum[g] / groupSize)
            if let a {
                for k in 0..<L { out[o + k] = S(s * (Double(a[o + k]) - m1 - Double(z[o + k]) * m2)) }
            } else {
                for k in 0..<L { out[o + k] = S(s * (-m1 - Double(z[o + k]) * m2)) }
            }
        }
    }

    /// y = γ ⊙ ẑ + β (γ, β nil: 1, 0); caches ẑ and s.
    func forward(_ x: UnsafePointer<S>, scale gamma: UnsafePointer<S>?, shift beta: UnsafePointer<S>?, batch n: Int,
                 into y: UnsafeMutablePointer<S>) {
        batch = n
        let L = runLength
        // A channel's entries here: n samples × its runs per sample × L; summed over processes.
        let first = sums([(x, nil)], extra: channels.map { [Double(n * (runsPerSample / $0) * L)] } ?? [])
        groupSize = channels == nil ? Double(L) : max(first[1][0], 1)
        mean = first[0].map { $0 / groupSize }
        let z = normalized.reserve(entries)
        for r in 0..<(n * runsPerSample) {
            let o = r * L, m = mean[group(ofRun: r)]
            for k in 0..<L { z[o + k] = S(Double(x[o + k]) - m) }
        }
        let second = sums([(UnsafePointer(z), UnsafePointer(z))])[0]
        inverseDeviation = second.map { 1 / ($0 / groupSize + epsilon).squareRoot() }
        for r in 0..<(n * runsPerSample) {
            let o = r * L, s = inverseDeviation[group(ofRun: r)], (base, stride) = affine(ofRun: r)
            for k in 0..<L {
                z[o + k] = S(Double(z[o + k]) * s)
                let i = base + k * stride
                y[o + k] = (gamma?[i] ?? 1) * z[o + k] + (beta?[i] ?? 0)
            }
        }
    }

    /// ẏ = γ ⊙ N'ż + γ̇ ⊙ ẑ + β̇.
    func jvp(_ dz: UnsafePointer<S>?, scale gamma: UnsafePointer<S>?, scaleTangent dgamma: UnsafePointer<S>?,
             shiftTangent dbeta: UnsafePointer<S>?, into dy: UnsafeMutablePointer<S>) {
        let z = UnsafePointer(normalized.pointer), L = runLength
        let m = sums([(dz, nil), (dz, z)])
        project(dz, sum: m[0], zSum: m[1], into: dy)
        for r in 0..<(batch * runsPerSample) {
            let o = r * L, (base, stride) = affine(ofRun: r)
            for k in 0..<L {
                let i = base + k * stride
                dy[o + k] = (gamma?[i] ?? 1) * dy[o + k] + (dgamma?[i] ?? 0) * z[o + k] + (dbeta?[i] ?? 0)
            }
        }
    }

    /// g = γ ⊙ ȳ (+ γ̇ ⊙ ȳ2) into `out`.
    private func scaled(_ dy: UnsafePointer<S>?, _ gamma: UnsafePointer<S>?, plus dy2: UnsafePointer<S>? = nil,
                        times dgamma: UnsafePointer<S>? = nil, into out: UnsafeMutablePointer<S>) {
        let L = runLength
        for r in 0..<(batch * runsPerSample) {
            let o = r * L, (base, stride) = affine(ofRun: r)
            for k in 0..<L {
                let i = base + k * stride
                var v: S = 0
                if let dy { v = (gamma?[i] ?? 1) * dy[o + k] }
                if let dy2, let dgamma { v += dgamma[i] * dy2[o + k] }
                out[o + k] = v
            }
        }
    }

    /// γ̄ += α Σ a ⊙ b and β̄ += α Σ a per affine index (b nil: only β̄), over this process's entries.
    private func affineSums(_ a: UnsafePointer<S>, _ b: UnsafePointer<S>?, scale: UnsafeMutablePointer<S>?,
                            shift: UnsafeMutablePointer<S>?, alpha: S) {
        let L = runLength
        for r in 0..<(batch * runsPerSample) {
            let o = r * L, (base, stride) = affine(ofRun: r)
            for k in 0..<L {
                let i = base + k * stride
                if let scale, let b { scale[i] += alpha * a[o + k] * b[o + k] }
                if let shift { shift[i] += alpha * a[o + k] }
            }
        }
    }

    /// x̄ = N'(γ ⊙ ȳ); γ̄ = α Σ ȳ ⊙ ẑ, β̄ = α Σ ȳ (overwritten; `affineCount` entries each).
    func vjp(_ dy: UnsafePointer<S>, scale gamma: UnsafePointer<S>?, affineCount: Int, inputCotangent dx: UnsafeMutablePointer<S>?,
             scaleCotangent dgamma: UnsafeMutablePointer<S>?, shiftCotangent dbeta: UnsafeMutablePointer<S>?, alpha: S) {
        let z = UnsafePointer(normalized.pointer)
        let g = scratch[0].reserve(entries)
        scaled(dy, gamma, into: g)
        let m = sums([(UnsafePointer(g), nil), (UnsafePointer(g), z)])
        if let dx { project(UnsafePointer(g), sum: m[0], zSum: m[1], into: dx) }
        dgamma?.update(repeating: 0, count: affineCount)
        dbeta?.update(repeating: 0, count: affineCount)
        affineSums(dy, z, scale: dgamma, shift: dbeta, alpha: alpha)
    }

    /// x̄, R{x̄} and α R{γ̄}, α R{β̄} (see the type's documentation).
    func rOperator(inputTangent dz: UnsafePointer<S>?, scale gamma: UnsafePointer<S>?, scaleTangent dgamma: UnsafePointer<S>?,
                   cotangent dy: UnsafePointer<S>, cotangentTangent rdy: UnsafePointer<S>?, affineCount: Int,
                   inputCotangent xbar: UnsafeMutablePointer<S>?, inputCotangentTangent rxbar: UnsafeMutablePointer<S>?,
                   scaleCotangentTangent rgamma: UnsafeMutablePointer<S>?, shiftCotangentTangent rbeta: UnsafeMutablePointer<S>?,
                   alpha: S) {
        let z = UnsafePointer(normalized.pointer), L = runLength, n = entries
        let g = scratch[0].reserve(n), rg = scratch[1].reserve(n), zdot = scratch[2].reserve(n)
        scaled(dy, gamma, into: g)
        scaled(rdy, gamma, plus: dy, times: dgamma, into: rg)
        let m = sums([(UnsafePointer(g), nil), (UnsafePointer(g), z), (UnsafePointer(rg), nil), (UnsafePointer(rg), z), (dz, nil), (dz, z)])
        project(dz, sum: m[4], zSum: m[5], into: zdot)
        let b = sums([(UnsafePointer(zdot), UnsafePointer(g))])[0]
        if let rxbar {
            // N'(Rg), then − s a x̄ − s (ẑ̇ m + ẑ b), with x̄ = N'g recomputed in place.
            project(UnsafePointer(rg), sum: m[2], zSum: m[3], into: rxbar)
            for r in 0..<(batch * runsPerSample) {
                let grp = group(ofRun: r), o = r * L, s = inverseDeviation[grp]
                let (mg, mz, a, bb) = (m[0][grp] / groupSize, m[1][grp] / groupSize, m[5][grp] / groupSize, b[grp] / groupSize)
                for k in 0..<L {
                    let zk = Double(z[o + k])
                    let w = s * (Double(g[o + k]) - mg - zk * mz)
                    rxbar[o + k] -= S(s * a * w + s * (Double(zdot[o + k]) * mz + zk * bb))
                }
            }
        }
        if let xbar { project(UnsafePointer(g), sum: m[0], zSum: m[1], into: xbar) }
        rgamma?.update(repeating: 0, count: affineCount)
        rbeta?.update(repeating: 0, count: affineCount)
        if let rdy { affineSums(rdy, z, scale: rgamma, shift: rbeta, alpha: alpha) }
        affineSums(dy, UnsafePointer(zdot), scale: rgamma, shift: nil, alpha: alpha)
    }
}
