import Foundation

/// Gauss–Hermite quadrature for the standard normal measure Du = e^(−u²/2) du / √(2π), the
/// Gaussian integrals of the mean-field recursions (Karakida et al. eq. 5–7):
///
///     ∫Du g(u) ≈ Σ_i w_i g(x_i),   exact when g is a polynomial of degree ≤ 2n − 1.
///
/// Nodes and weights come from Golub–Welsch: the nodes are the eigenvalues of the n × n Jacobi
/// matrix of the monic probabilists' Hermite polynomials (p_(k+1) = u p_k − k p_(k−1): zero
/// diagonal, off-diagonal √k), computed by ``LAPACK/tridiagonalEigenvalues(diagonal:offDiagonal:)``
/// (`dsterf`, no vectors, O(n²) once per order). The weights are recomputed from the Christoffel function
/// w_i = 1 / Σ_(k<n) ψ_k(x_i)² (ψ_k the orthonormal Hermite polynomials), which keeps full
/// relative accuracy for the tiny tail weights that eigenvector components lose; the rule is
/// then symmetrized (x_i = −x_(n−1−i), equal weights) so odd moments vanish exactly.
///
/// Rules are cached per order (``rule(order:)``), so the eigensolve runs once per order
/// per process. Applying a rule costs n evaluations in 1-D and n² in 2-D.
///
/// Accuracy: for g analytic in the strip |Im u| < d the error decays like exp(−κ d √(2n)) with
/// κ ≈ 1.3 (measured on tanh); since d shrinks as 1/√q for g(u) = φ(√q u), the order needed for
/// a fixed accuracy grows linearly in q (``ActivationMoments`` chooses it). Functions with kinks
/// (ReLU) converge only algebraically: use closed forms.
///
/// ``gaussianExpectation(variance:covariance:_:_:)`` skips the nodes whose weight is below
/// 1e−25 (|x| ≳ 10.5): for integrands bounded by a quadratic in the nodes, as all activation
/// moments are, that changes the result by < 1e−15 even at n = 2048, and it cuts a 2-D rule of
/// order 1024 from 1,048,576 to ~45,000 evaluations. ``integrate(_:)`` and ``integrate2D(_:)``
/// use every node (exact for polynomials of degree ≤ 2n − 1).
public struct GaussHermite: Sendable, Equatable {
    /// n, the number of nodes.
    public let order: Int
    /// x_i, ascending.
    public let nodes: [Double]
    /// w_i, summing to 1 (the standard normal measure has mass 1).
    public let weights: [Double]
    /// The indices of the nodes with weight ≥ 1e−25, used by ``gaussianExpectation``.
    public let significant: Range<Int>

    /// The default order of ``rule(order:)``.
    public static let defaultOrder = 128

    /// Orders accepted by ``init(order:)``: the eigensolve is O(n²) and the 2-D rule n².
    public static let maximumOrder = 2048

    /// Builds the n-point rule (no cache; see ``rule(order:)``). Cost O(n²).
    public init(order n: Int) throws {
        guard n >= 1, n <= Self.maximumOrder else {
            throw WispError.invalidConfiguration("Gauss–Hermite order must be in 1...\(Self.maximumOrder) (got \(n))")
        }
        let off = (1..<max(n, 1)).map { Double($0).squareRoot() }
        // Nodes only: the weights come from the Christoffel function below, not from eigenvectors.
        var x = try LAPACK.tridiagonalEigenvalues(diagonal: [Double](repeating: 0, count: n), offDiagonal: off)
        // Symmetrize: the exact nodes are symmetric about 0 (and 0 itself is a node for odd n).
        for i in 0..<n / 2 {
            let m = (x[n - 1 - i] - x[i]) / 2
            x[i] = -m
            x[n - 1 - i] = m
        }
        if n % 2 == 1 { x[n / 2] = 0 }
        var w = x.map { Self.christoffelWeight(at: $0, order: n) }
        for i in 0..<n / 2 {
            let m = (w[i] + w[n - 1 - i]) / 2
            w[i] = m
            w[n - 1 - i] = m
        }
        // Σ w_i = 1 analytically; remove the last rounding so constants integrate exactly.
        let total = w.reduce(0, +)
        guard total.isFinite, total > 0 else {
            throw WispError.numerical("Gauss–Hermite weights of order \(n) do not sum to a positive number")
        }
        self.order = n
        self.nodes = x
        let normalized = w.map { $0 / total }
        self.weights = normalized
        let first = normalized.firstIndex { $0 >= 1e-25 } ?? 0
        let last = normalized.lastIndex { $0 >= 1e-25 } ?? (n - 1)
        self.significant = first..<(last + 1)
    }

    /// w(x) = 1 / Σ_(k=0)^(n−1) ψ_k(x)² with ψ_0 = 1, ψ_1 = x,
    /// ψ_(k+1) = (x ψ_k − √k ψ_(k−1)) / √(k+1) (orthonormal under Du). The running values are
    /// rescaled when they grow past 1e150; a rescaled sum means a weight below ~1e−300, i.e. 0.
    private static func christoffelWeight(at x: Double, order n: Int) -> Double {
        var previous = 0.0, current = 1.0
        var sum = 1.0
        var logScale = 0.0  // the true values are the stored ones times exp(logScale)
        for k in 0..<(n - 1) {
            let next = (x * current - Double(k).squareRoot() * previous) / Double(k + 1).squareRoot()
            previous = current
            current = next
            sum += current * current
            if abs(current) > 1e150 {
                previous *= 1e-150
                current *= 1e-150
                sum *= 1e-300
                logScale += 150 * log(10.0)
            }
        }
        if logScale > 0 { return 0 }
        return 1 / sum
    }

    // MARK: Cache

    private final class Cache: @unchecked Sendable {
        let lock = NSLock()
        var rules: [Int: GaussHermite] = [:]
    }
    private static let cache = Cache()

    /// The n-point rule, built once per order per process (thread-safe).
    public static func rule(order n: Int = defaultOrder) throws -> GaussHermite {
        cache.lock.lock()
        if let r = cache.rules[n] { cache.lock.unlock(); return r }
        cache.lock.unlock()
        let r = try GaussHermite(order: n)
        cache.lock.lock()
        cache.rules[n] = r
        cache.lock.unlock()
        return r
    }

    // MARK: Integrals

    /// ∫Du g(u) ≈ Σ_i w_i g(x_i). Cost: n evaluations of g.
    public func integrate(_ g: (Double) -> Double) -> Double {
        var s = 0.0
        for i in 0..<order { s += weights[i] * g(nodes[i]) }
        return s
    }

    /// ∫Dx∫Dy g(x, y) by the tensor-product rule. Cost: n² evaluations of g.
    public func integrate2D(_ g: (Double, Double) -> Double) -> Double {
        var s = 0.0
        for i in 0..<order {
            var inner = 0.0
            let x = nodes[i]
            for j in 0..<order { inner += weights[j] * g(x, nodes[j]) }
            s += weights[i] * inner
        }
        return s
    }

    /// E[f(u) g(v)] for (u, v) centred Gaussian with Var u = Var v = a and Cov(u, v) = b — the
    /// integral I[a, b] of Karakida et al. §2.2 generalized to two functions:
    ///
    ///     I_(f,g)[a, b] = ∫Dy Dx f(√a x) g(√a (c x + √(1−c²) y)),   c = b/a.
    ///
    /// Edge cases are exact: a = 0 gives f(0) g(0) (u = v = 0 surely); c is clamped to [−1, 1]
    /// (rounding can push |b| past a) and c = ±1 reduces to the 1-D rule ∫Du f(√a u) g(±√a u).
    /// Cost: n_s² evaluations of g and n_s of f (n_s for each at c = ±1), n_s = |significant|.
    public func gaussianExpectation(variance a: Double, covariance b: Double,
                                    _ f: (Double) -> Double, _ g: (Double) -> Double) -> Double {
        guard a > 0 else { return f(0) * g(0) }
        let c = min(1, max(-1, b / a))
        let s = a.squareRoot()
        var total = 0.0
        if c == 1 || c == -1 {
            for i in significant { total += weights[i] * f(s * nodes[i]) * g(c * s * nodes[i]) }
            return total
        }
        let r = ((1 - c) * (1 + c)).squareRoot()
        for i in significant {
            let x = nodes[i]
            let fx = f(s * x)
            if fx == 0 { continue }
            var inner = 0.0
            for j in significant { inner += weights[j] * g(s * (c * x + r * nodes[j])) }
            total += weights[i] * fx * inner
        }
        return total
    }
}
