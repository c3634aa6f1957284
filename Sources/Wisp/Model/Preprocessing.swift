/// Input preprocessing, applied to the T × d input matrix X in this order:
///
/// 1. `pool` K: average pooling of T × h × w images over disjoint K × K windows,
///    x'(t, i, j) = (1/K²) Σ_(a,b < K) x(t, K i + a, K j + b), giving (h/K) × (w/K) features
///    (h and w must be multiples of K). Local to each sample.
/// 2. `scalePixels`: x ← x / m with m = max_(t,j) x_tj over all T samples (all processes).
///    The divisor is the data's own maximum, not its storage type's range: the digits store
///    grey levels 0…16 in unsigned bytes, so dividing by 255 would leave them in [0, 0.063];
///    for MNIST (0…255) m = 255. Pixels must be non-negative, so the result lies in [0, 1].
///    With `scaleDivisor` set, m is that number instead (a held-out set scaled as its
///    training set was, ``ValidationSettings``; its values may then exceed 1).
/// 3. `standardize`: per feature j, x_tj ← (x_tj − μ_j) / σ_j with μ_j = (1/T) Σ_t x_tj and
///    σ_j² = (1/T) Σ_t (x_tj − μ_j)² (population variance, two passes) over all T samples.
///    A feature that is constant over the samples (σ_j ≤ 10⁻¹⁰ |μ_j|, the rounding noise of
///    the mean of equal numbers, or σ_j = 0) is set to 0 rather than divided by its rounding
///    noise: it carries no information, and zero keeps it out of every spectrum.
///
/// Targets and labels are never preprocessed. Steps 2 and 3 are collective (sums and extremes
/// over the processes' sample blocks); cost O(T d) plus an allreduce of d doubles (twice) and
/// an allgather of two doubles per process.
public struct Preprocessing: Codable, Sendable, Equatable {
    public var pool: Int
    public var scalePixels: Bool
    public var standardize: Bool
    /// A fixed divisor m for `scalePixels` (nil: the largest value over all samples).
    public var scaleDivisor: Double? = nil

    public init(pool: Int = 1, scalePixels: Bool = false, standardize: Bool = false, scaleDivisor: Double? = nil) {
        self.scaleDivisor = scaleDivisor
        self.pool = pool
        self.scalePixels = scalePixels
        self.standardize = standardize
    }

    /// What the collective steps found, for the record.
    public struct Summary: Codable, Sendable, Equatable {
        /// m, the divisor of `scalePixels`.
        public var scaleDivisor: Double?
        /// The features standardization set to 0 because they are constant.
        public var constantFeatures: [Int]?

        private enum CodingKeys: String, CodingKey {
            case scaleDivisor = "scale_divisor", constantFeatures = "constant_features"
        }
    }

    /// Average-pools `rows` images of height × width (row-major, one image per row of `x`) by
    /// `factor`. Cost O(rows × height × width).
    public static func averagePool(_ x: [Double], rows: Int, height: Int, width: Int, factor k: Int) throws -> [Double] {
        guard k >= 1 else { throw WispError.invalidConfiguration("\(Setting.pool) must be at least 1 (got \(k))") }
        guard height % k == 0, width % k == 0 else {
            throw WispError.invalidConfiguration("\(Setting.pool) \(k) does not divide the \(height) × \(width) images")
        }
        precondition(x.count == rows * height * width)
        if k == 1 { return x }
        let h = height / k, w = width / k, scale = 1 / Double(k * k)
        var out = [Double](repeating: 0, count: rows * h * w)
        for t in 0..<rows {
            let image = t * height * width, pooled = t * h * w
            for r in 0..<height {
                let outRow = pooled + (r / k) * w
                for c in 0..<width { out[outRow + c / k] += x[image + r * width + c] }
            }
        }
        for i in out.indices { out[i] *= scale }
        return out
    }

    /// Applies the collective steps (scale, standardize) in place to this process's `rows` ×
    /// `columns` block of the T × d inputs. Collective on every process, whatever the
    /// settings' outcome: the same calls in the same order everywhere. A failure that depends
    /// on the global statistics (negative pixels, all-zero inputs) is thrown identically on
    /// every process after the collectives.
    public func applyCollective(_ x: inout [Double], rows: Int, columns: Int, totalSamples: Int,
                                communicator: any Communicator) throws -> Summary {
        precondition(x.count == rows * columns)
        var summary = Summary()
        if scalePixels {
            var low = Double.infinity, high = -Double.infinity
            for v in x { low = min(low, v); high = max(high, v) }
            let all = communicator.allgather([low, high], counts: Array(repeating: 2, count: communicator.size))
            let globalLow = stride(from: 0, to: all.count, by: 2).map { all[$0] }.min() ?? 0
            let globalHigh = stride(from: 1, to: all.count, by: 2).map { all[$0] }.max() ?? 0
            guard globalLow >= 0 else {
                throw WispError.badInput("\(Setting.scalePixels) needs non-negative pixel values, but the inputs reach \(globalLow)")
            }
            let m = scaleDivisor ?? globalHigh
            guard m > 0, m.isFinite else { throw WispError.badInput("\(Setting.scalePixels): every input value is 0") }
            for i in x.indices { x[i] /= m }   // correctly rounded quotients (exact for m = 2ᵏ)
            summary.scaleDivisor = m
        }
        if standardize {
            let (mean, sd) = Self.moments(x, rows: rows, columns: columns, totalSamples: totalSamples, communicator: communicator)
            var constant = [Int]()
            var inverse = [Double](repeating: 0, count: columns)
            for j in 0..<columns {
                if sd[j] == 0 || sd[j] <= 1e-10 * abs(mean[j]) { constant.append(j) } else { inverse[j] = 1 / sd[j] }
            }
            for t in 0..<rows {
                for j in 0..<columns { x[t * columns + j] = (x[t * columns + j] - mean[j]) * inverse[j] }
            }
            summary.constantFeatures = constant
        }
        return summary
    }

    /// Per-feature mean and population standard deviation over all T samples, by two passes
    /// (the mean, then the squared deviations from it): one allreduce of d doubles each.
    public static func moments(_ x: [Double], rows: Int, columns: Int, totalSamples: Int,
                               communicator: any Communicator) -> (mean: [Double], sd: [Double]) {
        var mean = [Double](repeating: 0, count: columns)
        let ones = [Double](repeating: 1, count: max(rows, 1))
        if rows > 0 {
            x.withUnsafeBufferPointer { xp in
                Double.gemv(trans: true, m: rows, n: columns, alpha: 1 / Double(totalSamples), a: xp.baseAddress!, lda: columns,
                            x: ones, beta: 0, y: &mean)
            }
        }
        mean.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
        var variance = [Double](repeating: 0, count: columns)
        for t in 0..<rows {
            for j in 0..<columns {
                let d = x[t * columns + j] - mean[j]
                variance[j] += d * d
            }
        }
        variance.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
        return (mean, variance.map { ($0 / Double(totalSamples)).squareRoot() })
    }
}
