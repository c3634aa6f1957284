import Foundation
import RealModule

/// Intensive principal component analysis (InPCA; Quinn, Clement, De Bernardis, Niemack & Sethna,
/// "Visualizing probabilistic models and data with Intensive Principal Component Analysis",
/// PNAS 116 (2019) 13762), the embedding Cowlagi & Chaudhari use to compare a trained network's
/// predictions with those of its reductions on the top FIM eigenvectors (their Fig. 3; their text,
/// "Model reduction", names the method and cites Quinn et al. but writes no formula: (1)–(2) below
/// are Quinn et al.'s construction).
///
/// n points, each a probability model: a product of m independent factors (one per sample) of a
/// ``Family`` over C outcomes. Their squared distance is the intensive Bhattacharyya distance,
/// the Bhattacharyya distance of the product distributions per factor,
///
///     d²(i, j) = (1/m) Σ_t D_B(p_it, p_jt),   D_B(p, q) = −log Σ_x √(p(x) q(x))          (1)
///
/// (additive over independent factors, so (1) is D_B of the joint distributions divided by m).
/// Quinn et al. obtain it as the zero-replica limit of the squared Hellinger distance per replica,
/// lim_(N→0) d²_Hel(P^N, Q^N)/N, which is −log Σ √(PQ) times their Hellinger normalization's
/// constant: a constant factor scales every coordinate by its square root and changes no
/// explained fraction, and Wisp takes the factor 1 (the convention of the Chaudhari group's
/// InPCA of networks' predictions, Mao et al. 2024, where each point is a model and the mean
/// runs over the samples). Then, as in classical multidimensional scaling,
///
///     W = −½ Π D Π,   Π = I − (1/n) 1 1ᵀ,   W = U Λ Uᵀ,   x_ik = √|λ_k| u_ik               (2)
///
/// with the eigenvalues ordered by |λ_k| descending and **kept with their signs**: D is not a
/// Euclidean distance matrix, W is indefinite, and the embedding is in a Minkowski space,
/// d²(i, j) = Σ_k sign(λ_k) (x_ik − x_jk)² exactly when every component is kept. The explained
/// fraction of component k is |λ_k| / Σ_l |λ_l|.
///
/// Each factor's D_B, written through the squared Hellinger distance so that identical
/// distributions are exactly 0 apart and near ones keep their relative accuracy:
///
///     categorical (softmax, C ≥ 2):   D_B = −log(1 − h²),          h² = ½ Σ_c (√p_c − √q_c)²
///     bernoulli (C independent σ):    D_B = −Σ_c log(1 − h_c²),    h_c² = ½[(√p_c − √q_c)² + (√(1−p_c) − √(1−q_c))²]
///     gaussian (unit variance):       D_B = ‖f − g‖² / 8
///
/// The Gaussian is the regression model whose negative log-likelihood is the mse loss
/// ½‖y − f‖² (and whose Fisher is F = (1/T) JᵀJ): for it InPCA is classical PCA of the outputs,
/// scaled by 1/√8. (Σ_c p_c = 1 is assumed for the categorical form; softmax rows sum to 1 to
/// rounding, an O(Cε) difference from Σ √(pq).)
///
/// Cost: the distances n²mC/2 square-root differences and n²m/2 logarithms (the square roots
/// taken once, nmC); the centring O(n²); one LAPACK `dsyevd` with vectors of the n × n matrix
/// (≈ 4/3 n³ + 4 n³ flops), and the kept components' residuals 2n²·components. Memory ≈ 5 n²
/// doubles (D, W, LAPACKE's row-major copy, dsyevd's workspace ≈ 2n²); checked before allocation.
public enum IntensivePCA {
    /// The distribution of one factor (one sample's prediction) over its C outcomes.
    public enum Family: String, Codable, Sendable {
        /// C ≥ 2 class probabilities summing to 1 (softmax; cross-entropy).
        case categorical
        /// C independent Bernoulli probabilities σ(f_c) (bce).
        case bernoulli
        /// Unit-variance Gaussians with means f_c (mse regression).
        case gaussian
    }

    /// The embedding of n points.
    public struct Embedding: Sendable {
        public var points: Int
        /// Every eigenvalue of W (n), ordered by |λ| descending (ties by ascending value), signed.
        public var eigenvalues: [Double]
        /// |λ_k| / Σ_l |λ_l| for every eigenvalue, in the same order.
        public var explainedFractions: [Double]
        /// The number of coordinates kept per point.
        public var components: Int
        /// n × components, row-major: x_ik = √|λ_k| u_ik, each eigenvector u_k signed so that
        /// its largest-magnitude entry is positive (the first of those within 1e-8 of it).
        public var coordinates: [Double]
        /// ‖W u_k − λ_k u_k‖ for the kept components (u_k unit vectors).
        public var residuals: [Double]
        /// max_ij |W_ij|, the scale of the residuals.
        public var scale: Double
    }

    /// The n × n matrix of squared distances (1) between n points, `values` holding n × m × C
    /// numbers (point-major, then factor, then outcome): probabilities for categorical and
    /// bernoulli, means for gaussian. A probability outside [0, 1] or a non-finite value is an
    /// error naming the point, factor and outcome; two points with disjoint supports (an infinite
    /// distance) are an error naming both. Cost n²mC/2.
    public static func distances(_ values: [Double], points n: Int, factors m: Int, outcomes C: Int, family: Family) throws -> [Double] {
        precondition(n >= 0 && m >= 1 && C >= 1 && values.count == n * m * C)
        let stride = m * C
        for (index, v) in values.enumerated() where !v.isFinite || (family != .gaussian && (v < 0 || v > 1)) {
            throw WispError.badInput("InPCA: point \(index / stride), factor \((index % stride) / C), outcome \(index % C) has \(family == .gaussian ? "mean" : "probability") \(v)")
        }
        // √p (and √(1 − p) for bernoulli), once per value.
        let root = family == .gaussian ? values : values.map { $0.squareRoot() }
        let coRoot = family == .bernoulli ? values.map { (1 - $0).squareRoot() } : []
        var d = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in (i + 1)..<max(n, i + 1) {
                var total = 0.0
                for t in 0..<m {
                    let a = i * stride + t * C, b = j * stride + t * C
                    switch family {
                    case .categorical:
                        var h = 0.0
                        for c in 0..<C { let e = root[a + c] - root[b + c]; h += e * e }
                        total -= Double.log(onePlus: -0.5 * h)
                    case .bernoulli:
                        for c in 0..<C {
                            let e = root[a + c] - root[b + c], f = coRoot[a + c] - coRoot[b + c]
                            total -= Double.log(onePlus: -0.5 * (e * e + f * f))
                        }
                    case .gaussian:
                        var s = 0.0
                        for c in 0..<C { let e = values[a + c] - values[b + c]; s += e * e }
                        total += s / 8
                    }
                }
                guard total.isFinite else {
                    throw WispError.numerical("InPCA: the predictions of points \(i) and \(j) have disjoint supports (Bhattacharyya coefficient 0, infinite distance)")
                }
                d[i * n + j] = total / Double(m)
                d[j * n + i] = total / Double(m)
            }
        }
        return d
    }

    /// W = −½ Π D Π (2): W_ij = −½ (D_ij − r_i − r_j + s), r the row means of D and s its mean.
    /// O(n²), in place.
    public static func doubleCentre(_ d: inout [Double], n: Int) {
        precondition(d.count == n * n)
        guard n > 0 else { return }
        var r = [Double](repeating: 0, count: n)
        for i in 0..<n {
            var s = 0.0
            for j in 0..<n { s += d[i * n + j] }
            r[i] = s / Double(n)
        }
        let s = r.reduce(0, +) / Double(n)
        for i in 0..<n { for j in 0..<n { d[i * n + j] = -0.5 * (d[i * n + j] - r[i] - r[j] + s) } }
    }

    /// The bytes ``embed(distances:points:components:)`` needs for n points (≈ 5 n² doubles).
    public static func bytes(points n: Int) throws -> Int { try MemoryBudget.bytes("the InPCA matrices", 5, n, n, 8) }

    /// InPCA (2) of a matrix of squared distances (n × n, symmetric, zero diagonal), keeping
    /// `components` coordinates per point (at most n). Checks the memory first.
    public static func embed(distances d: [Double], points n: Int, components: Int) throws -> Embedding {
        precondition(d.count == n * n && components >= 0)
        try MemoryBudget.require(try bytes(points: n), for: "the InPCA embedding of \(n) points")
        let q = min(components, n)
        var w = d
        doubleCentre(&w, n: n)
        let scale = w.reduce(0) { max($0, abs($1)) }
        let (ascending, z) = try LAPACK.symmetricEigen(w, n: n, vectors: true)
        // Order by |λ| descending; equal magnitudes by ascending value, then index (deterministic).
        let order = (0..<n).sorted { a, b in
            let (x, y) = (abs(ascending[a]), abs(ascending[b]))
            return x != y ? x > y : (ascending[a] != ascending[b] ? ascending[a] < ascending[b] : a < b)
        }
        let values = order.map { ascending[$0] }
        if let bad = values.first(where: { !$0.isFinite }) { throw WispError.nonFinite("InPCA: an eigenvalue of the centred matrix is \(bad)") }
        let total = values.reduce(0) { $0 + abs($1) }
        var coordinates = [Double](repeating: 0, count: n * q)
        var residuals = [Double](repeating: 0, count: q)
        var u = [Double](repeating: 0, count: n), wu = [Double](repeating: 0, count: n)
        for k in 0..<q {
            let column = order[k]
            for i in 0..<n { u[i] = z[i * n + column] }
            // The first entry within 1e-8 of the largest magnitude: entries equal in exact
            // arithmetic (symmetric points) are told apart by index, not by their rounding.
            let largest = u.reduce(0) { max($0, abs($1)) }
            let big = u.firstIndex { abs($0) >= largest * (1 - 1e-8) } ?? 0
            if u[big] < 0 { for i in 0..<n { u[i] = -u[i] } }
            Double.gemv(trans: false, m: n, n: n, alpha: 1, a: w, lda: n, x: u, beta: 0, y: &wu)
            var r = 0.0
            for i in 0..<n { let e = wu[i] - values[k] * u[i]; r += e * e }
            residuals[k] = r.squareRoot()
            let root = abs(values[k]).squareRoot()
            for i in 0..<n { coordinates[i * q + k] = root * u[i] }
        }
        return Embedding(points: n, eigenvalues: values, explainedFractions: values.map { total > 0 ? abs($0) / total : 0 },
                         components: q, coordinates: coordinates, residuals: residuals, scale: scale)
    }

    /// InPCA of n points given as n × m × C values of `family` (``distances(_:points:factors:outcomes:family:)``
    /// then ``embed(distances:points:components:)``).
    public static func embed(_ values: [Double], points n: Int, factors m: Int, outcomes C: Int, family: Family,
                             components: Int) throws -> Embedding {
        try MemoryBudget.require(try bytes(points: n), for: "the InPCA embedding of \(n) points")
        return try embed(distances: try distances(values, points: n, factors: m, outcomes: C, family: family), points: n,
                         components: components)
    }
}
