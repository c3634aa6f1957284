/// A Lanczos factorization with full reorthogonalization, the building block of the
/// eigensolver (``Lanczos``) and of stochastic Lanczos quadrature.
///
/// Invariant after every ``expand()``: with V the `count` orthonormal basis vectors (rows of
/// `basis`), H = Vᵀ A V (`count` × `count`) and v the next vector (row `count`, unit norm,
/// orthogonal to V),
///
///     A V = V H + β v e_countᵀ,   β = ``residualNorm``.
///
/// Before any restart H is tridiagonal (α on the diagonal, β below it); a thick restart
/// (Wu & Simon 2000) replaces V by p Ritz vectors and H by diag(θ) bordered by the couplings
/// β s_(count,i), after which H is an arrowhead matrix plus a tridiagonal tail.
///
/// Each expansion costs one operator application, the known recurrence terms (one or two
/// AXPYs; after a restart, one per kept Ritz vector), and one Gram–Schmidt sweep against the
/// whole basis (two GEMVs, 4·count·n flops, memory-bound), with a second sweep only when the
/// DGKS criterion detects cancellation; plus reductions of `count` partial inner products for
/// distributed vectors.
/// Memory: one allocation of (capacity + 1)·n doubles for the basis, of which the operating
/// system commits only the rows written so far, so a solve that converges early never holds
/// the full (capacity + 1)·n (and growing the basis never copies or zero-fills a vector).
final class LanczosFactorization {
    let op: any LinearOperator
    let space: VectorSpace
    let n: Int
    /// Maximum number of basis vectors (not counting the next vector).
    let capacity: Int
    /// The basis rows, (capacity + 1) × n; row i is always written before it is read.
    private let basis: UnsafeMutablePointer<Double>
    /// H, stored (capacity + 1)² row-major; the leading count × count block is valid.
    private(set) var projected: [Double]
    private(set) var count = 0
    private(set) var residualNorm = 0.0
    /// True until the first restart: H is tridiagonal.
    private(set) var isTridiagonal = true
    private(set) var applications = 0
    private var work: [Double]
    private var coefficients: [Double]
    private(set) var extraStarts = 0
    private let seed: UInt64

    init(operator op: any LinearOperator, capacity: Int, seed: UInt64) {
        self.op = op
        self.space = op.space
        self.n = op.space.localDimension
        self.capacity = capacity
        self.seed = seed
        basis = .allocate(capacity: max((capacity + 1) * n, 1))
        projected = [Double](repeating: 0, count: (capacity + 1) * (capacity + 1))
        work = [Double](repeating: 0, count: max(n, 1))
        coefficients = [Double](repeating: 0, count: capacity + 1)
    }

    deinit { basis.deallocate() }

    /// Row i of the basis.
    private func row(_ i: Int) -> UnsafeMutablePointer<Double> { basis + i * n }

    func h(_ i: Int, _ j: Int) -> Double { projected[i * (capacity + 1) + j] }
    private func setH(_ i: Int, _ j: Int, _ value: Double) {
        projected[i * (capacity + 1) + j] = value
        projected[j * (capacity + 1) + i] = value
    }

    /// Starts from x/‖x‖ (x given as the local part); returns false if x is zero.
    @discardableResult
    func start(with x: [Double]) -> Bool {
        precondition(x.count == n)
        count = 0
        isTridiagonal = true
        row(0).update(from: x, count: n)
        return normalizeNext()
    }

    /// Starts from a Gaussian vector of stream (seed, lanczos start) keyed by global index.
    func startRandom() {
        count = 0
        isTridiagonal = true
        fillRandom(row(0), stream: 0)
        _ = normalizeNext()
    }

    private func fillRandom(_ x: UnsafeMutablePointer<Double>, stream: Int) {
        CounterRandom(seed: seed &+ UInt64(stream), stream: .lanczosStart)
            .fillNormal(UnsafeMutableBufferPointer(start: x, count: n), first: space.local.lowerBound)
    }

    private func normalizeNext() -> Bool {
        let v = row(count)
        let norm = space.dot(v, v).squareRoot()
        guard norm > 0, norm.isFinite else { return false }
        Double.scal(n: n, alpha: 1 / norm, x: v)
        return true
    }

    /// Removes from the vector at `target` its components along the first `k` basis vectors by
    /// classical Gram–Schmidt (two GEMVs per sweep), sweeping a second time only when the
    /// first removed more than 1 − 1/√2 of the norm, the sign that cancellation may have left
    /// it non-orthogonal (Daniel, Gragg, Kaufman & Stewart 1976; "twice is enough"). Adds the
    /// removed components to `coefficients[0..<k]` and returns the norm left.
    @discardableResult
    private func orthogonalize(_ target: UnsafeMutablePointer<Double>, against k: Int, accumulate: Bool) -> Double {
        var norm = space.dot(target, target).squareRoot()
        guard k > 0 else { return norm }
        var pass = [Double](repeating: 0, count: k)
        for _ in 0..<2 {
            pass.withUnsafeMutableBufferPointer { p in
                Double.gemv(trans: false, m: k, n: n, alpha: 1, a: basis, lda: max(n, 1), x: target, beta: 0, y: p.baseAddress!)
                space.reduce(p)
                Double.gemv(trans: true, m: k, n: n, alpha: -1, a: basis, lda: max(n, 1), x: p.baseAddress!, beta: 1, y: target)
            }
            if accumulate { for i in 0..<k { coefficients[i] += pass[i] } }
            let after = space.dot(target, target).squareRoot()
            defer { norm = after }
            if after >= 0.5.squareRoot() * norm { break }
        }
        return norm
    }

    /// What to do when the Krylov space becomes invariant (β ≈ 0).
    enum BreakdownPolicy { case stop, continueWithRandomVector }

    /// Adds the next vector to the basis: w = A v, H's new column = Vᵀ w, β = ‖w − V Vᵀ w‖.
    /// Returns false (and adds nothing more) on breakdown with `.stop` or when count == N.
    @discardableResult
    func expand(onBreakdown policy: BreakdownPolicy) -> Bool {
        precondition(count < capacity)
        let j = count
        work.withUnsafeMutableBufferPointer { op.apply(row(j), into: $0.baseAddress!) }
        applications += 1
        // First the components H already knows (β v_(j−1), or the couplings to the kept Ritz
        // vectors after a restart) and α_j v_j, each a cheap update; then one Gram–Schmidt
        // sweep against the whole basis removes the rounding-level rest.
        for i in 0...j { coefficients[i] = 0 }
        let known = (0..<j).filter { h($0, j) != 0 }
        work.withUnsafeMutableBufferPointer { w in
            let w = w.baseAddress!
            for i in known { Double.axpy(n: n, alpha: -h(i, j), x: row(i), y: w) }
            let alpha = space.dot(row(j), w)
            Double.axpy(n: n, alpha: -alpha, x: row(j), y: w)
            coefficients[j] = alpha
        }
        let beta = work.withUnsafeMutableBufferPointer { orthogonalize($0.baseAddress!, against: j + 1, accumulate: true) }
        // H stays symmetric: entries above the diagonal come from earlier steps (β and, after a
        // restart, the couplings); the diagonal is the new Rayleigh quotient α_j.
        for i in 0...j { setH(i, j, i == j ? coefficients[i] : (isTridiagonal && i < j - 1 ? 0 : h(i, j))) }
        count = j + 1
        let scale = (0..<count).reduce(0.0) { max($0, abs(h($1, $1))) } + beta
        if count == space.dimension || beta <= 1e-13 * scale || !beta.isFinite {
            residualNorm = 0
            guard policy == .continueWithRandomVector, count < space.dimension else { return false }
            extraStarts += 1
            fillRandom(row(count), stream: extraStarts)
            orthogonalize(row(count), against: count, accumulate: false)
            isTridiagonal = false
            return normalizeNext()
        }
        residualNorm = beta
        work.withUnsafeBufferPointer { row(count).update(from: $0.baseAddress!, count: n) }
        Double.scal(n: n, alpha: 1 / beta, x: row(count))
        if count < capacity { setH(count, count - 1, beta) }
        return true
    }

    /// Eigen-decomposition of H: Ritz values ascending and eigenvectors (count × count,
    /// row-major, column i for value i). Tridiagonal H goes to `dstev`, arrowhead to `dsyevd`.
    /// Throws `WispError.nonFinite` when H holds NaN or ±∞ (the operator returned
    /// non-finite values), so no solver ever reports eigenvalues of a broken factorization.
    func ritz() throws -> (values: [Double], vectors: [Double]) {
        let m = count
        for i in 0..<m { for j in 0...i where !h(i, j).isFinite {
            throw WispError.nonFinite("the Lanczos matrix holds \(h(i, j)) after \(applications) operator applications: the operator returned non-finite values (overflow in the network passes: inputs or weights too large?)")
        } }
        if isTridiagonal {
            let d = (0..<m).map { h($0, $0) }
            let e = (0..<max(m - 1, 0)).map { h($0 + 1, $0) }
            return try LAPACK.tridiagonalEigen(diagonal: d, offDiagonal: e)
        }
        var dense = [Double](repeating: 0, count: m * m)
        for i in 0..<m { for j in 0..<m { dense[i * m + j] = h(i, j) } }
        return try LAPACK.symmetricEigen(dense, n: m, vectors: true)
    }

    /// Local parts of the Ritz vectors V s for the given columns of `vectors` (count × count).
    func ritzVectors(_ vectors: [Double], columns: [Int]) -> [Double] {
        let m = count, p = columns.count
        var s = [Double](repeating: 0, count: p * m)   // p × m: row i = eigenvector columns[i]
        for (i, c) in columns.enumerated() { for r in 0..<m { s[i * m + r] = vectors[r * m + c] } }
        var y = [Double](repeating: 0, count: max(p * n, 1))
        Double.gemm(transA: false, transB: false, m: p, n: n, k: m, alpha: 1, a: s, lda: m,
                    b: basis, ldb: max(n, 1), beta: 0, c: &y, ldc: max(n, 1))
        return y
    }

    /// Thick restart: keeps the Ritz pairs `columns` (values θ, eigenvectors of H) as the new
    /// basis, bordered by couplings β s_(count−1, i) to the current next vector.
    func restart(values: [Double], vectors: [Double], columns: [Int]) {
        let m = count, p = columns.count
        precondition(p < m)
        let kept = ritzVectors(vectors, columns: columns)
        let beta = residualNorm
        row(p).update(from: row(m), count: n)   // the next vector moves to row p
        kept.withUnsafeBufferPointer { basis.update(from: $0.baseAddress!, count: p * n) }
        for i in 0..<(capacity + 1) * (capacity + 1) { projected[i] = 0 }
        for (i, c) in columns.enumerated() {
            setH(i, i, values[c])
            setH(p, i, beta * vectors[(m - 1) * m + c])
        }
        count = p
        isTridiagonal = false
    }

    /// Everything needed to continue exactly where this factorization stands.
    func snapshot() -> LanczosState {
        LanczosState(localDimension: n, capacity: capacity, count: count, residualNorm: residualNorm,
                     isTridiagonal: isTridiagonal, applications: applications, extraStarts: extraStarts, restarts: 0,
                     basis: Array(UnsafeBufferPointer(start: basis, count: (count + 1) * n)), projected: projected)
    }

    /// Continues from `state` (same operator layout and capacity, checked by the caller).
    func restore(_ state: LanczosState) {
        precondition(state.localDimension == n && state.capacity == capacity)
        count = state.count
        residualNorm = state.residualNorm
        isTridiagonal = state.isTridiagonal
        applications = state.applications
        extraStarts = state.extraStarts
        precondition(state.basis.count == (state.count + 1) * n)
        state.basis.withUnsafeBufferPointer { if let b = $0.baseAddress { basis.update(from: b, count: $0.count) } }
        projected = state.projected
    }
}

/// A Lanczos factorization's state between two expansions: the basis (this process's rows,
/// (count + 1) × localDimension), the projected matrix H ((capacity + 1)², row-major) and
/// the counters. Restoring it and continuing gives bit-for-bit the numbers of a run that was
/// never interrupted.
public struct LanczosState: Sendable, Equatable {
    public var localDimension: Int
    public var capacity: Int
    public var count: Int
    public var residualNorm: Double
    public var isTridiagonal: Bool
    public var applications: Int
    public var extraStarts: Int
    public var restarts: Int
    public var basis: [Double]
    public var projected: [Double]

    /// Why this state cannot be a factorization (a count above the capacity, arrays of the
    /// wrong length, non-finite numbers), or nil. Checked before any state read from a file is
    /// used: restoring an inconsistent one would write past the basis.
    public var inconsistency: String? {
        let cap = capacity, n = localDimension
        guard cap >= 1, cap < Int(Int32.max), n >= 0, count >= 0, applications >= 0, extraStarts >= 0, restarts >= 0 else {
            return "negative or zero sizes (capacity \(capacity), count \(count), length \(localDimension))"
        }
        guard count <= cap else { return "count \(count) exceeds the capacity \(cap)" }
        let (rows, o1) = (count + 1).multipliedReportingOverflow(by: n)
        guard !o1, basis.count == rows else { return "the basis holds \(basis.count) numbers, not (count + 1) × \(n)" }
        let (side, o2) = (cap + 1).multipliedReportingOverflow(by: cap + 1)
        guard !o2, projected.count == side else { return "the projected matrix holds \(projected.count) numbers, not (capacity + 1)²" }
        guard residualNorm.isFinite, residualNorm >= 0, basis.allSatisfy(\.isFinite), projected.allSatisfy(\.isFinite) else {
            return "it holds non-finite numbers"
        }
        return nil
    }

    public init(localDimension: Int, capacity: Int, count: Int, residualNorm: Double, isTridiagonal: Bool,
                applications: Int, extraStarts: Int, restarts: Int, basis: [Double], projected: [Double]) {
        self.localDimension = localDimension
        self.capacity = capacity
        self.count = count
        self.residualNorm = residualNorm
        self.isTridiagonal = isTridiagonal
        self.applications = applications
        self.extraStarts = extraStarts
        self.restarts = restarts
        self.basis = basis
        self.projected = projected
    }
}
