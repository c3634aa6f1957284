/// The centered kernel alignment of Lou et al. eq. 6–7 (Cortes et al. 2012; Baratin et al. 2021)
/// between a sample-space kernel K (TC × TC) and the labels:
///
///     A(K, Y Yᵀ) = ⟨C K C, C Y Yᵀ C⟩_F / (‖C K C‖_F ‖C Y Yᵀ C‖_F) = Ỹᵀ K Ỹ / (‖C K C‖_F ‖Ỹ‖²),
///
/// with C = I − (1/TC) 1 1ᵀ. **Convention for C outputs** (Lou et al. §2.1–2.2): the kernel is
/// over (sample, output) pairs and Y ∈ ℝ^(TC) is the concatenation of the target rows y_t (one-hot
/// vectors for labels) in sample-space order t·C + k; Y Yᵀ is rank one and C centers over all TC
/// entries at once (for balanced one-hot labels Ỹ = Y − 1/C, the paper's (1/k)1 − Y up to sign).
/// The second equality uses C² = C and Cᵀ = C.
public enum KernelAlignment {
    /// Ỹ = C Y for this process's block of Y (the targets' values, row-major T_block × C, are
    /// already in sample-space order), and ‖Ỹ‖² over all processes. One sum over processes each.
    public static func centeredLabels(_ targets: Targets, totalEntries: Int, communicator: any Communicator) -> (labels: [Double], normSquared: Double) {
        var y = targets.values
        let space = VectorSpace(dimension: totalEntries, local: 0..<y.count, communicator: communicator.size > 1 ? communicator : nil)
        y.withUnsafeMutableBufferPointer { if let p = $0.baseAddress { CenteredOperator.center(p, space: space) } }
        let local = y.reduce(0) { $0 + $1 * $1 }
        return (y, communicator.sum(local))
    }

    /// Ỹᵀ K Ỹ and ‖C K C‖²_F from this process's rows of a symmetric K ((T_block·C) × N, N = TC)
    /// and the whole centered label vector Ỹ (N). With m_i the row means of K and g their mean,
    /// (C K C)_ij = K_ij − m_i − m_j + g. `rowCounts[r]`: rows held by process r (its row means
    /// are gathered). Cost 4·rows·N flops and one allgather of the row means.
    public static func dense(rows: [Double], columns N: Int, rowCounts: [Int], labels: [Double],
                             communicator: any Communicator) -> (numerator: Double, centeredFrobeniusSquared: Double) {
        let n = N > 0 ? rows.count / N : 0
        var means = [Double](repeating: 0, count: n)
        var numerator = 0.0
        rows.withUnsafeBufferPointer { r in
            for i in 0..<n {
                var sum = 0.0
                for j in 0..<N { sum += r[i * N + j] }
                means[i] = sum / Double(N)
            }
        }
        let allMeans = communicator.allgather(means, counts: rowCounts)
        let first = rowCounts[..<communicator.rank].reduce(0, +)
        let grand = allMeans.reduce(0, +) / Double(N)
        var frobenius = 0.0
        rows.withUnsafeBufferPointer { r in
            for i in 0..<n {
                let row = r.baseAddress! + i * N
                let shift = grand - allMeans[first + i]
                var s = 0.0, ky = 0.0
                for j in 0..<N {
                    let c = row[j] + shift - allMeans[j]
                    s += c * c
                    ky += row[j] * labels[j]
                }
                frobenius += s
                numerator += labels[first + i] * ky
            }
        }
        var sums = [numerator, frobenius]
        sums.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
        return (sums[0], sums[1])
    }

    /// Ỹᵀ K Ỹ with one application of K (exact). `labels`: this process's block of Ỹ.
    public static func labelProjection(_ op: any LinearOperator, labels: [Double]) -> Double {
        let n = op.space.localDimension
        var ky = [Double](repeating: 0, count: max(n, 1))
        var y = labels.isEmpty ? [0] : labels
        y.withUnsafeMutableBufferPointer { yp in ky.withUnsafeMutableBufferPointer { op.apply(yp.baseAddress!, into: $0.baseAddress!) } }
        return y.withUnsafeBufferPointer { yp in ky.withUnsafeBufferPointer { op.space.dot(yp.baseAddress!, $0.baseAddress!) } }
    }

    /// ‖C K C‖²_F = tr((C K C)²) = E‖C K C r‖² (Hutchinson) over Rademacher probes r, probe p
    /// from stream (seed, probe p) at the global index, so the same probes serve every layer and
    /// every rank count. One application of K per probe.
    public static func centeredFrobeniusSquared(_ op: any LinearOperator, probes: Int, seed: UInt64,
                                                progress: ((Int) -> Void)? = nil) throws -> Estimate {
        guard probes >= 2 else { throw WispError.invalidConfiguration("\(Setting.alignProbes) must be at least 2 for an error bar (got \(probes))") }
        let centered = CenteredOperator(op)
        let space = op.space, n = space.localDimension
        var r = [Double](repeating: 0, count: max(n, 1)), ar = r
        var samples = [Double]()
        for p in 0..<probes {
            r.withUnsafeMutableBufferPointer {
                CounterRandom(seed: seed, stream: .probe(p)).fillRademacher(UnsafeMutableBufferPointer(rebasing: $0[0..<n]), first: space.local.lowerBound)
            }
            r.withUnsafeBufferPointer { rp in ar.withUnsafeMutableBufferPointer { centered.apply(rp.baseAddress!, into: $0.baseAddress!) } }
            samples.append(ar.withUnsafeBufferPointer { space.dot($0.baseAddress!, $0.baseAddress!) })
            progress?(p + 1)
        }
        return Estimate(samples)
    }

    /// A = n / (√D ‖Ỹ‖²) with D = ‖C K C‖²_F estimated (mean D̂, standard error s): the
    /// first-order (delta-method) standard error |∂A/∂D| s = A s / (2 D̂). Exact D (s = 0) gives 0.
    public static func alignment(numerator: Double, centeredFrobeniusSquared d: Estimate, labelNormSquared: Double) -> Estimate {
        guard d.mean > 0, labelNormSquared > 0 else { return Estimate(mean: .nan, standardError: .nan, samples: d.samples) }
        let a = numerator / (d.mean.squareRoot() * labelNormSquared)
        return Estimate(mean: a, standardError: abs(a) * d.standardError / (2 * d.mean), samples: d.samples)
    }
}
