/// J Jᵀ u for a sample-space vector u, without any P-sized vector (the lean product of
/// ``NTKGramOperator``).
///
/// Jᵀ u is the gradient whose layer-l block is G_l = c_l Δ_lᵀ H_(l−1), g_l = c_b Δ_lᵀ 1
/// (M_l × M_(l−1) and M_l), Δ_l = Δ_l(u) being the backward signals of the VJP (T × M_l) summed
/// over all processes' samples. The tangent pass along that gradient needs each block only
/// through its layer's parameter term
///
///     c_l H_(l−1) G_lᵀ + c_b 1 g_lᵀ = (c_l² H_(l−1) H_(l−1)ᵀ + c_b² 1 1ᵀ) Δ_l = F_l Δ_l,
///
/// so the product keeps the signals Δ_l (T_block × M_l each, like the forward cache) and forms
/// each layer's term by one of two routes, chosen per layer:
///
/// - **forward Gram** (T ≤ M_(l−1)): F_l, this block's rows against all T samples
///   (T_block × T, Lou et al. eq. 9's forward kernel, formed once in Float64 and stored in S),
///   times the signals of all samples, gathered from every process: 2·T_block·T·M_l flops per
///   application, T·M_l scalars gathered (Σ_l T·M_l per application instead of an allreduce of
///   P), memory T_block·T + (several processes) T·M_l.
/// - **gradient block** (T > M_(l−1), e.g. a narrow input layer): G_l formed in one
///   M_l × (M_(l−1) + 1) scratch, summed over processes (one allreduce of P_l doubles), then
///   consumed by the tangent GEMM: 4·T_block·M_l·M_(l−1) flops.
///
/// The forward-Gram route costs at most half the flops and half the communication of the
/// gradient block when T ≤ M_(l−1) (2·T·M_l against 4·M_l·M_(l−1); T·M_l gathered against an
/// allreduce moving ~2·P_l), hence the rule. Both routes add the backward recursion and the
/// tangent's dH terms, 2·T_block·Σ_(l>1) M_l M_(l−1) flops each, so one application costs
///
///     4·T_block·Σ_(l>1) M_l M_(l−1) + Σ_(Gram l) 2·T_block·T·M_l + Σ_(block l) 4·T_block·M_l M_(l−1)
///
/// flops (``flopsPerApplication``): never more than the parameter-space product
/// J (Jᵀ u) (4·T_block·(2 Σ_l M_l M_(l−1) − d M_1)), and about 4·T·M² + 4·T²·M against 12·T·M²
/// for L = 3, d = M. Setup: 2·T_block·T·M_(l−1) flops per Gram layer.
///
/// Exact for every normalization: Δ_l are the signals of the exact VJP (batch statistics
/// included), and the identity above holds whatever the samples' coupling; the tangent pass
/// applies the normalization's differential as always. Collective (all processes apply
/// together). Not thread-safe.
final class SampleSpaceProduct<S: BLASScalar> {
    typealias Route = GramLayerRoute

    let jacobian: BatchedJacobian<S>
    let communicator: any Communicator
    /// T over all processes.
    let totalSamples: Int
    /// The route of layer l at index l − 1.
    let routes: [Route]
    /// Δ_l (T_block × M_l) at index l − 1.
    private var signals: [[S]]
    /// F_l (T_block × T) for forward-Gram layers, index l − 1 (empty otherwise).
    private var forwardKernels: [[S]]
    /// Δ_l of all samples (T × M_l), for forward-Gram layers on several processes.
    private var gathered: [S]
    /// G_l and g_l (M_l × M_(l−1) then M_l) for gradient-block layers.
    private var block: [S]
    /// G_l in Float64 for the allreduce when S is Float32 and there are several processes.
    private var block64: [Double]

    /// The route rule of the type's documentation.
    static func route(layer l: Int, architecture: Architecture, totalSamples: Int) -> Route {
        totalSamples <= architecture.widths[l - 1] ? .forwardGram : .gradientBlock
    }

    /// Flops of one application on a block of `localSamples` samples (see the type's documentation).
    static func flopsPerApplication(architecture a: Architecture, localSamples: Int, totalSamples: Int,
                                    routes: [Route]? = nil) -> Double {
        let t = Double(localSamples)
        var f = 0.0
        for l in 1...a.depth {
            let mm = Double(a.widths[l]) * Double(a.widths[l - 1])
            if l > 1 { f += 4 * t * mm }
            switch routes?[l - 1] ?? route(layer: l, architecture: a, totalSamples: totalSamples) {
            case .forwardGram: f += 2 * t * Double(totalSamples) * Double(a.widths[l])
            case .gradientBlock: f += 4 * t * mm
            }
        }
        return f
    }

    /// Flops of one application of this product on this block.
    var flopsPerApplication: Double {
        Self.flopsPerApplication(architecture: jacobian.architecture, localSamples: jacobian.sampleCount,
                                 totalSamples: totalSamples, routes: routes)
    }

    /// Forms the forward Grams of the forward-Gram layers (collective: gathers H_(l−1) from every
    /// process, T·M_(l−1) values per such layer).
    /// `routes` overrides the rule (tests).
    init(jacobian: BatchedJacobian<S>, totalSamples: Int, communicator: any Communicator, routes: [Route]? = nil) {
        self.jacobian = jacobian
        self.communicator = communicator
        self.totalSamples = totalSamples
        let a = jacobian.architecture, T = jacobian.sampleCount, L = a.depth
        self.routes = routes ?? (1...L).map { Self.route(layer: $0, architecture: a, totalSamples: totalSamples) }
        precondition(self.routes.count == L)
        signals = (1...L).map { [S](repeating: 0, count: max(T * a.widths[$0], 1)) }
        var blockSize = 0, gatherSize = 0
        for l in 1...L {
            switch self.routes[l - 1] {
            case .forwardGram: gatherSize = max(gatherSize, totalSamples * a.widths[l])
            case .gradientBlock: blockSize = max(blockSize, a.layerParameterCount(l))
            }
        }
        let several = communicator.size > 1
        gathered = [S](repeating: 0, count: several ? max(gatherSize, 1) : 0)
        block = [S](repeating: 0, count: max(blockSize, 1))
        block64 = [Double](repeating: 0, count: several && S.self != Double.self ? max(blockSize, 1) : 0)
        forwardKernels = Array(repeating: [], count: L)
        for l in 1...L where self.routes[l - 1] == .forwardGram {
            forwardKernels[l - 1] = forwardKernel(layer: l)
        }
    }

    /// F_l = c_l² H_(l−1) H_(l−1)ᵀ + c_b² 1 1ᵀ, this block's rows against all samples, formed in
    /// Float64 (the Gram's sums over M_(l−1) terms keep Float64 accuracy) and stored in S.
    private func forwardKernel(layer l: Int) -> [S] {
        let a = jacobian.architecture, T = jacobian.sampleCount, fanIn = a.widths[l - 1]
        // H_(l−1) in Float64: the cached array itself when S is Double (no T × M copy).
        let hLocal: [Double] = S.self == Double.self && T > 0
            ? unsafeBitCast(l == 1 ? jacobian.inputs : jacobian.hidden[l - 2], to: [Double].self)
            : jacobian.withInputsOrHidden(l - 1) { h in
                var y = [Double](repeating: 0, count: max(T * fanIn, 1))
                if T > 0 { y.withUnsafeMutableBufferPointer { S.convert(h, to: $0.baseAddress!, count: T * fanIn) } }
                return y
            }
        let hAll: [Double]
        if communicator.size > 1 {
            let counts = (0..<communicator.size).map { communicator.block(of: totalSamples, rank: $0).count * fanIn }
            hAll = communicator.allgather(Array(hLocal.prefix(T * fanIn)), counts: counts)
        } else {
            hAll = hLocal
        }
        let cw2 = a.weightScale(l) * a.weightScale(l), cb2 = a.hasBias(l) ? a.biasScale * a.biasScale : 0
        var f = [Double](repeating: cb2, count: max(T * totalSamples, 1))
        Double.gemm(transA: false, transB: true, m: T, n: totalSamples, k: fanIn, alpha: cw2, a: hLocal, lda: fanIn,
                    b: hAll, ldb: fanIn, beta: 1, c: &f, ldc: max(totalSamples, 1))
        if S.self == Double.self { return unsafeBitCast(f, to: [S].self) }
        var out = [S](repeating: 0, count: f.count)
        out.withUnsafeMutableBufferPointer { o in f.withUnsafeBufferPointer { S.convert($0.baseAddress!, to: o.baseAddress!, count: f.count) } }
        return out
    }

    /// out ← J Jᵀ u (no 1/T), u and out being this block's T_block × C rows.
    func apply(_ u: UnsafePointer<S>, into out: UnsafeMutablePointer<S>) {
        let a = jacobian.architecture, T = jacobian.sampleCount
        jacobian.backpropagate(u) { l, delta in
            signals[l - 1].withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: delta, count: T * a.widths[l]) }
        }
        jacobian.tangentRecursion(from: 1, into: out, parameterTerm: { l, cur in
            switch routes[l - 1] {
            case .forwardGram: gramTerm(layer: l, into: cur)
            case .gradientBlock: blockTerm(layer: l, into: cur)
            }
            return true
        })
    }

    /// cur ← F_l Δ_l(all samples).
    private func gramTerm(layer l: Int, into cur: UnsafeMutablePointer<S>) {
        let T = jacobian.sampleCount, m = jacobian.architecture.widths[l], N = totalSamples
        let multiply = { (all: UnsafePointer<S>) in
            self.forwardKernels[l - 1].withUnsafeBufferPointer { f in
                S.gemm(transA: false, transB: false, m: T, n: m, k: N, alpha: 1, a: f.baseAddress!, lda: max(N, 1),
                       b: all, ldb: m, beta: 0, c: cur, ldc: m)
            }
        }
        guard communicator.size > 1 else {
            signals[l - 1].withUnsafeBufferPointer { multiply($0.baseAddress!) }
            return
        }
        let local = signals[l - 1].withUnsafeBufferPointer { s in
            var y = [Double](repeating: 0, count: T * m)
            if T > 0 { y.withUnsafeMutableBufferPointer { S.convert(s.baseAddress!, to: $0.baseAddress!, count: T * m) } }
            return y
        }
        let counts = (0..<communicator.size).map { communicator.block(of: N, rank: $0).count * m }
        let everyone = communicator.allgather(local, counts: counts)
        gathered.withUnsafeMutableBufferPointer { g in
            everyone.withUnsafeBufferPointer { S.convert($0.baseAddress!, to: g.baseAddress!, count: N * m) }
            multiply(g.baseAddress!)
        }
    }

    /// cur ← c_l H_(l−1) G_lᵀ + c_b 1 g_lᵀ with (G_l, g_l) = (c_l Δ_lᵀ H_(l−1), c_b Δ_lᵀ 1)
    /// summed over processes.
    private func blockTerm(layer l: Int, into cur: UnsafeMutablePointer<S>) {
        let a = jacobian.architecture, T = jacobian.sampleCount
        let (fanIn, m) = (a.widths[l - 1], a.widths[l]), n = a.layerParameterCount(l)
        block.withUnsafeMutableBufferPointer { g in
            let w = g.baseAddress!
            signals[l - 1].withUnsafeBufferPointer { d in
                jacobian.withInputsOrHidden(l - 1) { h in
                    S.gemm(transA: true, transB: false, m: m, n: fanIn, k: T, alpha: S(a.weightScale(l)), a: d.baseAddress!, lda: m,
                           b: h, ldb: fanIn, beta: 0, c: w, ldc: fanIn)
                }
                if a.hasBias(l) {
                    jacobian.ones.withUnsafeBufferPointer { one in
                        S.gemv(trans: true, m: T, n: m, alpha: S(a.biasScale), a: d.baseAddress!, lda: m,
                               x: one.baseAddress!, beta: 0, y: w + m * fanIn)
                    }
                }
            }
            if communicator.size > 1 {
                if S.self == Double.self {
                    communicator.allreduceSum(UnsafeMutableBufferPointer(
                        start: UnsafeMutableRawPointer(w).assumingMemoryBound(to: Double.self), count: n))
                } else {
                    block64.withUnsafeMutableBufferPointer { b in
                        S.convert(w, to: b.baseAddress!, count: n)
                        communicator.allreduceSum(UnsafeMutableBufferPointer(rebasing: b[0..<n]))
                        S.convert(b.baseAddress!, to: w, count: n)
                    }
                }
            }
            jacobian.withInputsOrHidden(l - 1) { h in
                S.gemm(transA: false, transB: true, m: T, n: m, k: fanIn, alpha: S(a.weightScale(l)), a: h, lda: fanIn,
                       b: w, ldb: fanIn, beta: 0, c: cur, ldc: m)
            }
            if a.hasBias(l) {
                jacobian.ones.withUnsafeBufferPointer { one in
                    S.ger(m: T, n: m, alpha: S(a.biasScale), x: one.baseAddress!, y: w + m * fanIn, a: cur, lda: m)
                }
            }
        }
    }
}

/// How ``SampleSpaceProduct`` forms layer l's parameter term of the tangent pass.
public enum GramLayerRoute: String, Sendable {
    /// (c_l² H_(l−1) H_(l−1)ᵀ + c_b² 11ᵀ) Δ_l, the forward Gram times the gathered signals.
    case forwardGram = "forward-gram"
    /// The gradient block G_l formed in a scratch, summed over processes, then used.
    case gradientBlock = "gradient-block"
}
