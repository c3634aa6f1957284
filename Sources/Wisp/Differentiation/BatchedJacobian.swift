/// Hand-written forward, tangent (JVP) and adjoint (VJP) passes of a ``Network`` over a block
/// of samples at once. Samples are the rows of every activation matrix, so each layer of each
/// pass is one or two GEMMs of shape (samples × fan_in) · (fan_in × fan_out); nothing loops
/// over samples around BLAS level 2.
///
/// With c_l = c_w^l and c_b from ``Architecture`` (Karakida et al. eq. 1):
///
///     forward   U^l = c_l H^(l−1) W^lᵀ + c_b 1 b^lᵀ,   H^l = φ(U^l),   f = U^L
///     JVP       dU^l = c_l (H^(l−1) dW^lᵀ + dH^(l−1) W^lᵀ) + c_b 1 db^lᵀ,   dH^l = φ'(U^l) ⊙ dU^l
///     VJP       Δ^L = u,  ∇W^l = c_l Δ^lᵀ H^(l−1),  ∇b^l = c_b Δ^lᵀ 1,  Δ^(l−1) = φ'(U^(l−1)) ⊙ (c_l Δ^l W^l)
///
/// With a ``Normalization``, layer l's pre-activations U^l are standardized before φ (or
/// before the output): N(U) = (U − μ)/σ over samples (batch norm) or over units (layer norm),
/// or only centered over samples. Its derivative is the symmetric map
///     dN = (1/σ) (dU − E[dU] − Ẑ ⊙ E[Ẑ ⊙ dU]),   Ẑ = N(U),
/// (E over the same axis as the statistic; without the Ẑ term and σ = 1 for mean subtraction),
/// so the JVP applies it to dU^l and the VJP, being its adjoint, applies it to the incoming
/// signal before Δ^l. Batch statistics are sums over all samples: they go through the
/// ``SampleReduction`` (one reduction of 2·M_l doubles per normalized layer and pass).
///
/// The forward pass runs once at construction and its H^l and φ'(U^l) are cached (memory
/// 2·T·Σ_(l<L) M_l scalars, plus T·M_l for each standardized layer's Ẑ). Cost per JVP or VJP: 2·T·Σ_l M_l M_(l−1) flops, less the
/// first layer's dH^0 term (inputs have no tangent): a Fisher product J^T J v costs about
/// 4·T·(2 Σ_l M_l M_(l−1) − d M_1) flops (see ``flopsPerProduct``).
///
/// Not thread-safe: the passes share scratch buffers.
public final class BatchedJacobian<S: BLASScalar> {
    public let network: Network<S>
    public var architecture: Architecture { network.architecture }
    /// Number of samples in this block.
    public let sampleCount: Int
    /// P, the number of parameters.
    public var parameterCount: Int { network.architecture.parameterCount }
    /// C, the number of outputs.
    public var outputCount: Int { network.architecture.outputs }

    /// H^0 = X (T × d).
    let inputs: [S]
    /// H^l (T × M_l) for l = 1…L−1, index l−1.
    private(set) var hidden: [[S]] = []
    /// φ'(U^l) (T × M_l) for l = 1…L−1, index l−1.
    private(set) var slopes: [[S]] = []
    /// f = N(U^L) (T × C).
    public private(set) var outputs: [S] = []
    /// U^L before the output normalization (T × C; equal to `outputs` without one).
    public private(set) var rawOutputs: [S] = []
    /// Ẑ^l = N(U^l) for batch- and layer-normalized layers (index l−1; empty otherwise).
    private var standardized: [[S]] = []
    /// 1/σ per unit (batch norm) or per sample (layer norm), index l−1.
    private var inverseScales: [[Double]] = []
    private var scratchA: [S]
    private var scratchB: [S]
    let ones: [S]
    /// Sums over all samples, for batch statistics.
    private let reduction: any SampleReduction
    /// T over all processes (the E[·] of batch statistics).
    public let totalSamples: Int

    /// Runs the forward pass over this process's samples. `reduction` sums batch statistics
    /// over all processes' samples (only used with a sample-coupling ``Normalization``).
    public init(network: Network<S>, inputs: Dataset, reduction: any SampleReduction = LocalSamples()) throws {
        let arch = network.architecture
        guard inputs.dimension == arch.inputDimension else {
            throw WispError.badInput("inputs have dimension \(inputs.dimension) but the network's first layer takes \(arch.inputDimension)")
        }
        self.network = network
        self.reduction = reduction
        self.totalSamples = inputs.totalSamples
        self.sampleCount = inputs.samples.count
        self.inputs = inputs.converted(to: S.self)
        let maxWidth = arch.widths.max()!
        scratchA = [S](repeating: 0, count: max(sampleCount * maxWidth, 1))
        scratchB = [S](repeating: 0, count: max(sampleCount * maxWidth, 1))
        ones = [S](repeating: 1, count: max(sampleCount, 1))
        try forward()
        if let bad = outputs.firstIndex(where: { !$0.isFinite }) {
            throw WispError.nonFinite("the network output for sample \(inputs.samples.lowerBound + bad / arch.outputs) is \(outputs[bad]) (overflow in the forward pass)")
        }
    }

    /// Bytes of the forward cache: the inputs, H^l, φ'(U^l), the outputs and the standardized
    /// layers of this block (what every pass reads; the weights not included).
    public var forwardCacheBytes: Int {
        let scalars = inputs.count + hidden.reduce(0) { $0 + $1.count } + slopes.reduce(0) { $0 + $1.count }
            + standardized.reduce(0) { $0 + $1.count } + outputs.count + rawOutputs.count
        return scalars * MemoryLayout<S>.stride
    }

    /// Flops of one JVP + one VJP (one Fisher or NTK-Gram product) on this block
    /// (``Architecture/flopsPerProduct(samples:)``).
    public var flopsPerProduct: Double { architecture.flopsPerProduct(samples: sampleCount) }

    // MARK: Forward

    private func forward() throws {
        let arch = architecture
        let T = sampleCount
        hidden = []
        slopes = []
        standardized = Array(repeating: [], count: arch.depth)
        inverseScales = Array(repeating: [], count: arch.depth)
        var u = [S](repeating: 0, count: max(T * arch.widths.max()!, 1))
        try network.parameters.withUnsafeBufferPointer { theta in
            for l in 1...arch.depth {
                let (fanIn, fanOut) = (arch.widths[l - 1], arch.widths[l])
                let previous = l == 1 ? inputs : hidden[l - 2]
                previous.withUnsafeBufferPointer { h in
                    u.withUnsafeMutableBufferPointer { u in
                        S.gemm(transA: false, transB: true, m: T, n: fanOut, k: fanIn,
                               alpha: S(arch.weightScale(l)), a: h.baseAddress!, lda: fanIn,
                               b: theta.baseAddress! + arch.weightOffset(l), ldb: fanIn,
                               beta: 0, c: u.baseAddress!, ldc: fanOut)
                        if arch.hasBias(l) {
                            ones.withUnsafeBufferPointer { one in
                                S.ger(m: T, n: fanOut, alpha: S(arch.biasScale), x: one.baseAddress!,
                                      y: theta.baseAddress! + arch.biasOffset(l), a: u.baseAddress!, lda: fanOut)
                            }
                        }
                    }
                }
                if l == arch.depth { rawOutputs = Array(u.prefix(T * fanOut)) }
                try u.withUnsafeMutableBufferPointer { try normalizeForward(layer: l, $0.baseAddress!) }
                if l < arch.depth {
                    var h = [S](repeating: 0, count: T * fanOut)
                    var d = [S](repeating: 0, count: T * fanOut)
                    arch.activation.apply(u, value: &h, derivative: &d, count: T * fanOut)
                    hidden.append(h)
                    slopes.append(d)
                } else {
                    outputs = Array(u.prefix(T * fanOut))
                }
            }
        }
    }

    // MARK: JVP

    /// out ← J v: the directional derivative of every output of every sample along the
    /// parameter direction v (P). `out` is T × C row-major (sample-major: index t·C + k).
    /// `visit(l, dU^l)`, if given, sees each layer's tangent pre-activation (after its
    /// normalization, before φ'), valid only during the call.
    public func jvp(_ v: UnsafePointer<S>, into out: UnsafeMutablePointer<S>, visit: ((Int, UnsafePointer<S>) -> Void)? = nil) {
        let arch = architecture
        propagateTangent(from: 1, into: out,
                         weightTangent: { v + arch.weightOffset($0) },
                         biasTangent: { v + arch.biasOffset($0) }, visit: visit)
    }

    /// out ← J_l v_l: the JVP along a direction in layer l's parameters only (v_l, length
    /// ``Architecture/layerParameterCount(_:)``: W^l row-major then b^l). The pass starts at
    /// layer l, dU^l = c_l H^(l−1) dW^lᵀ + c_b 1 db^lᵀ, and carries dH^l through layers l+1…L
    /// (dU^j = c_j dH^(j−1) W^jᵀ). Cost 2·T·(M_l M_(l−1) + Σ_(j>l) M_j M_(j−1)) flops.
    public func layerJVP(layer l: Int, _ v: UnsafePointer<S>, into out: UnsafeMutablePointer<S>) {
        let weights = architecture.widths[l] * architecture.widths[l - 1]
        propagateTangent(from: l, into: out,
                         weightTangent: { $0 == l ? v : nil },
                         biasTangent: { $0 == l ? v + weights : nil })
    }

    /// The tangent recursion from layer `first` to the outputs; layer j's own parameter
    /// tangents come from `weightTangent(j)`/`biasTangent(j)` (nil: none), and dH^(first−1) = 0.
    private func propagateTangent(from first: Int, into out: UnsafeMutablePointer<S>,
                                  weightTangent: (Int) -> UnsafePointer<S>?, biasTangent: (Int) -> UnsafePointer<S>?,
                                  visit: ((Int, UnsafePointer<S>) -> Void)? = nil) {
        let arch = architecture
        let T = sampleCount
        tangentRecursion(from: first, into: out, parameterTerm: { l, cur in
            let (fanIn, fanOut) = (arch.widths[l - 1], arch.widths[l])
            var wrote = false
            if let dW = weightTangent(l) {
                withInputsOrHidden(l - 1) { hPrev in
                    S.gemm(transA: false, transB: true, m: T, n: fanOut, k: fanIn, alpha: S(arch.weightScale(l)),
                           a: hPrev, lda: fanIn, b: dW, ldb: fanIn, beta: 0, c: cur, ldc: fanOut)
                }
                wrote = true
            }
            if arch.hasBias(l), let db = biasTangent(l) {
                if !wrote { cur.update(repeating: 0, count: T * fanOut) }
                ones.withUnsafeBufferPointer { one in
                    S.ger(m: T, n: fanOut, alpha: S(arch.biasScale), x: one.baseAddress!, y: db, a: cur, lda: fanOut)
                }
                wrote = true
            }
            return wrote
        }, visit: visit)
    }

    /// The tangent recursion from layer `first` to the outputs, with layer j's parameter term
    /// (c_j H^(j−1) dW^jᵀ + c_b 1 db^jᵀ, however the caller forms it) written into dU^j
    /// (T × M_j, overwritten) by `parameterTerm(j, dU^j)`, which returns false if it wrote
    /// nothing (a zero term). Then dU^j += c_j dH^(j−1) W^jᵀ (j > first; dH^(first−1) = 0),
    /// dU^j ← dN(dU^j), dH^j = φ'(U^j) ⊙ dU^j. Cost of the recursion itself:
    /// 2·T·Σ_(first<j≤L) M_j M_(j−1) flops; `out` is T × C.
    func tangentRecursion(from first: Int, into out: UnsafeMutablePointer<S>,
                          parameterTerm: (Int, UnsafeMutablePointer<S>) -> Bool,
                          visit: ((Int, UnsafePointer<S>) -> Void)? = nil) {
        let arch = architecture
        let T = sampleCount
        let L = arch.depth
        // dH^(l−1) lives in `prev`, dU^l is built in `cur`; they swap each layer.
        var prevIsA = true
        scratchA.withUnsafeMutableBufferPointer { a in
            scratchB.withUnsafeMutableBufferPointer { b in
                for l in first...L {
                    let (fanIn, fanOut) = (arch.widths[l - 1], arch.widths[l])
                    let prev = prevIsA ? a.baseAddress! : b.baseAddress!
                    let cur = l == L ? out : (prevIsA ? b.baseAddress! : a.baseAddress!)
                    let wrote = parameterTerm(l, cur)
                    if l > first {
                        network.parameters.withUnsafeBufferPointer { theta in
                            S.gemm(transA: false, transB: true, m: T, n: fanOut, k: fanIn, alpha: S(arch.weightScale(l)),
                                   a: prev, lda: fanIn, b: theta.baseAddress! + arch.weightOffset(l), ldb: fanIn,
                                   beta: wrote ? 1 : 0, c: cur, ldc: fanOut)
                        }
                    } else if !wrote {
                        cur.update(repeating: 0, count: T * fanOut)
                    }
                    normalizeDifferential(layer: l, cur)
                    visit?(l, cur)
                    if l < L {
                        slopes[l - 1].withUnsafeBufferPointer { S.multiply(cur, by: $0.baseAddress!, count: T * fanOut) }
                        prevIsA.toggle()
                    }
                }
            }
        }
    }

    // MARK: VJP

    /// g ← α Jᵀ u: the gradient of Σ_t Σ_k u_(t,k) f_k(x_t), scaled by α. `u` is T × C
    /// (index t·C + k), `g` has length P and is overwritten.
    public func vjp(_ u: UnsafePointer<S>, alpha: S, into g: UnsafeMutablePointer<S>) {
        let arch = architecture
        backpropagate(u) { l, delta in
            writeGradient(layer: l, delta: delta, alpha: alpha, weights: g + arch.weightOffset(l),
                          biases: arch.hasBias(l) ? g + arch.biasOffset(l) : nil)
        }
    }

    /// g_l ← α J_lᵀ u: layer l's block of the gradient only (length
    /// ``Architecture/layerParameterCount(_:)``, W^l then b^l). The backward recursion stops at
    /// layer l. Cost 2·T·(Σ_(j>l) M_j M_(j−1) + M_l M_(l−1)) flops.
    public func layerVJP(layer l: Int, _ u: UnsafePointer<S>, alpha: S, into g: UnsafeMutablePointer<S>) {
        let weights = architecture.widths[l] * architecture.widths[l - 1]
        let hasBias = architecture.hasBias(l)
        backpropagate(u, through: l) { j, delta in
            guard j == l else { return }
            writeGradient(layer: l, delta: delta, alpha: alpha, weights: g, biases: hasBias ? g + weights : nil)
        }
    }

    /// ∇W^l = α c_l Δ^lᵀ H^(l−1), ∇b^l = α c_b Δ^lᵀ 1.
    private func writeGradient(layer l: Int, delta: UnsafePointer<S>, alpha: S, weights: UnsafeMutablePointer<S>,
                               biases: UnsafeMutablePointer<S>?) {
        let arch = architecture
        let T = sampleCount
        let (fanIn, fanOut) = (arch.widths[l - 1], arch.widths[l])
        withInputsOrHidden(l - 1) { hPrev in
            S.gemm(transA: true, transB: false, m: fanOut, n: fanIn, k: T,
                   alpha: alpha * S(arch.weightScale(l)), a: delta, lda: fanOut,
                   b: hPrev, ldb: fanIn, beta: 0, c: weights, ldc: fanIn)
        }
        if let biases {
            ones.withUnsafeBufferPointer { one in
                S.gemv(trans: true, m: T, n: fanOut, alpha: alpha * S(arch.biasScale), a: delta, lda: fanOut,
                       x: one.baseAddress!, beta: 0, y: biases)
            }
        }
    }

    /// Runs the backward recursion Δ^L = u, Δ^(l−1) = φ'(U^(l−1)) ⊙ (c_l Δ^l W^l), calling
    /// `visit(l, Δ^l)` for l = L…`lowest` (Δ^l is T × M_l, valid only during the call). With a
    /// normalization, Δ^l is the signal at the pre-normalization U^l (dN applied first).
    public func backpropagate(_ u: UnsafePointer<S>, through lowest: Int = 1, visit: (Int, UnsafePointer<S>) -> Void) {
        let arch = architecture
        let T = sampleCount
        let L = arch.depth
        var curIsA = true
        scratchA.withUnsafeMutableBufferPointer { a in
            scratchB.withUnsafeMutableBufferPointer { b in
                var delta: UnsafePointer<S> = u
                if architecture.normalization.kind(layer: L, depth: L) != nil {
                    // The top signal is normalized in B, which the first step reads while writing A.
                    b.baseAddress!.update(from: u, count: T * arch.widths[L])
                    normalizeDifferential(layer: L, b.baseAddress!)
                    delta = UnsafePointer(b.baseAddress!)
                }
                for l in stride(from: L, through: max(lowest, 1), by: -1) {
                    visit(l, delta)
                    guard l > max(lowest, 1) else { break }
                    let (fanIn, fanOut) = (arch.widths[l - 1], arch.widths[l])
                    let next = curIsA ? a.baseAddress! : b.baseAddress!
                    network.parameters.withUnsafeBufferPointer { theta in
                        S.gemm(transA: false, transB: false, m: T, n: fanIn, k: fanOut,
                               alpha: S(arch.weightScale(l)), a: delta, lda: fanOut,
                               b: theta.baseAddress! + arch.weightOffset(l), ldb: fanIn,
                               beta: 0, c: next, ldc: fanIn)
                    }
                    slopes[l - 2].withUnsafeBufferPointer { S.multiply(next, by: $0.baseAddress!, count: T * fanIn) }
                    normalizeDifferential(layer: l - 1, next)
                    delta = UnsafePointer(next)
                    curIsA.toggle()
                }
            }
        }
    }

    // MARK: Normalization

    /// Whether each sample's outputs depend on the other samples (batch statistics); then the
    /// per-sample quantities below do not apply.
    public var couplesSamples: Bool { architecture.normalization.couplesSamples }

    /// Standardizes U^l (T × M_l) in place and records Ẑ^l and 1/σ. Throws if a statistic's σ
    /// is zero (a unit constant over the samples, or a sample constant over the units).
    private func normalizeForward(layer l: Int, _ x: UnsafeMutablePointer<S>) throws {
        guard let kind = architecture.normalization.kind(layer: l, depth: architecture.depth) else { return }
        let T = sampleCount, m = architecture.widths[l]
        let perColumn = kind != .layer
        let n = perColumn ? m : T
        let count = perColumn ? Double(totalSamples) : Double(m)
        var mean = [Double](repeating: 0, count: max(n, 1))
        S.sums(x, weights: nil, rows: T, columns: m, perColumn: perColumn, into: &mean, zSums: nil)
        if perColumn { mean.withUnsafeMutableBufferPointer { reduction.sumOverSamples(UnsafeMutableBufferPointer(rebasing: $0[0..<n])) } }
        for j in 0..<n { mean[j] /= count }
        S.standardize(x, z: nil, shift: mean, projection: nil, scale: nil, rows: T, columns: m, perColumn: perColumn)
        guard kind != .batchMean else { return }
        var squares = [Double](repeating: 0, count: max(n, 1)), unused = [Double](repeating: 0, count: max(n, 1))
        S.sums(x, weights: x, rows: T, columns: m, perColumn: perColumn, into: &unused, zSums: &squares)
        if perColumn { squares.withUnsafeMutableBufferPointer { reduction.sumOverSamples(UnsafeMutableBufferPointer(rebasing: $0[0..<n])) } }
        var inverse = [Double](repeating: 0, count: n)
        for j in 0..<n {
            let variance = squares[j] / count
            guard variance > 0, variance.isFinite else {
                throw WispError.numerical(perColumn
                    ? "batch normalization of layer \(l): unit \(j) has the same pre-activation for all \(totalSamples) samples (σ = 0); it needs at least 2 distinct samples"
                    : "layer normalization of layer \(l): a sample has the same pre-activation in all \(m) units (σ = 0)")
            }
            inverse[j] = 1 / variance.squareRoot()
        }
        let zero = [Double](repeating: 0, count: n)
        S.standardize(x, z: nil, shift: zero, projection: nil, scale: inverse, rows: T, columns: m, perColumn: perColumn)
        standardized[l - 1] = Array(UnsafeBufferPointer(start: x, count: T * m))
        inverseScales[l - 1] = inverse
    }

    /// dU^l ← dN(dU^l) (see the type's documentation): the JVP of layer l's normalization, and,
    /// the map being symmetric, also its VJP. No-op for unnormalized layers.
    private func normalizeDifferential(layer l: Int, _ x: UnsafeMutablePointer<S>) {
        guard let kind = architecture.normalization.kind(layer: l, depth: architecture.depth) else { return }
        let T = sampleCount, m = architecture.widths[l]
        let perColumn = kind != .layer
        let n = perColumn ? m : T
        let count = perColumn ? Double(totalSamples) : Double(m)
        var moments = [Double](repeating: 0, count: max(2 * n, 1))
        moments.withUnsafeMutableBufferPointer { buffer in
            let sums = buffer.baseAddress!, zSums = buffer.baseAddress! + n
            if kind == .batchMean {
                S.sums(x, weights: nil, rows: T, columns: m, perColumn: true, into: sums, zSums: nil)
                reduction.sumOverSamples(UnsafeMutableBufferPointer(rebasing: buffer[0..<n]))
                for j in 0..<n { sums[j] /= count }
                S.standardize(x, z: nil, shift: sums, projection: nil, scale: nil, rows: T, columns: m, perColumn: true)
                return
            }
            standardized[l - 1].withUnsafeBufferPointer { z in
                S.sums(x, weights: z.baseAddress, rows: T, columns: m, perColumn: perColumn, into: sums, zSums: zSums)
                if perColumn { reduction.sumOverSamples(UnsafeMutableBufferPointer(rebasing: buffer[0..<(2 * n)])) }
                for j in 0..<(2 * n) { buffer[j] /= count }
                inverseScales[l - 1].withUnsafeBufferPointer { s in
                    S.standardize(x, z: z.baseAddress, shift: sums, projection: zSums, scale: s.baseAddress,
                                  rows: T, columns: m, perColumn: perColumn)
                }
            }
        }
    }

    // MARK: Per-sample quantities

    /// ‖∇θ f_k(x_t)‖² for every sample t and output k (T × C, index t·C + k), without forming
    /// any gradient: ∇_(W^l) f_k(x_t) = c_l δ^l_k(t) h^(l−1)(t)ᵀ is rank one, so
    ///     ‖∇θ f_k(x_t)‖² = Σ_l ‖δ^l_k(t)‖² (c_l² ‖h^(l−1)(t)‖² + c_b² [biases]).
    /// Cost: C backward passes, 2·C·T·Σ_(l>1) M_l M_(l−1) flops.
    public func squaredGradientNorms() -> [Double] {
        precondition(!couplesSamples, "per-sample gradients are not separable under batch normalization")
        let arch = architecture
        let T = sampleCount, C = outputCount
        let hNorms = activationNorms()
        var result = [Double](repeating: 0, count: T * C)
        for k in 0..<C {
            withCotangent(output: k) { u in
                backpropagate(u) { l, delta in
                    let m = arch.widths[l]
                    let cw = arch.weightScale(l), cb = arch.hasBias(l) ? arch.biasScale : 0
                    for t in 0..<T {
                        let row = delta + t * m
                        let dn = Double(S.dot(n: m, x: row, y: row))
                        result[t * C + k] += dn * (cw * cw * hNorms[l - 1][t] + cb * cb)
                    }
                }
            }
        }
        return result
    }

    /// The empirical tangent kernel Θ = J Jᵀ (TC × TC, index t·C + k, row-major), optionally
    /// restricted to the parameters of `layers` (per-layer kernels: Θ = Σ_l Θ_l). Each layer's
    /// block is a Hadamard product of a backward and a forward Gram matrix (Lou et al. eq. 9):
    ///     Θ_l[(t,k),(s,k')] = (Δ^l_k Δ^l_k'ᵀ)[t,s] · (c_l² H^(l−1) H^(l−1)ᵀ + c_b² 11ᵀ)[t,s].
    /// Cost: C backward passes plus Σ_l 2 (TC)² M_l + 2 T² M_(l−1) flops; memory (TC)² + TC·max M.
    public func tangentKernel(layers: Set<Int>? = nil) -> [Double] {
        tangentKernelRows(layers: layers) { local, _, _ in local }
    }

    /// The rows of Θ for this block's samples against the samples of all blocks:
    /// (T_block·C) × (T·C). `gather(matrix, rowsPerSample, columns)` must return the row-wise
    /// concatenation, in block order, of every block's `matrix` (T_block·rowsPerSample rows ×
    /// `columns`, row-major); on one process it is the identity. The Gram products run in Float64
    /// (Float32 factors are widened first; Float64 ones are used in place).
    public func tangentKernelRows(layers: Set<Int>? = nil, gather: ([Double], Int, Int) -> [Double]) -> [Double] {
        var rows: [Double]? = nil
        layerKernelFactors(layers: layers, gather: gather) { factors in
            if rows == nil { rows = [Double](repeating: 0, count: factors.rowCount * factors.columnCount) }
            factors.addKernel(into: &rows!)
        }
        return rows ?? []
    }

    /// The forward and backward kernels of each layer in `layers` (all by default), this block's
    /// rows against all blocks' samples (``LayerKernelFactors``), passed to `visit` one layer at
    /// a time in increasing l. `gather` as for ``tangentKernelRows(layers:gather:)``.
    /// Cost: C backward passes down to the lowest wanted layer, then per layer 2 (TC)² M_l +
    /// 2 T² M_(l−1) flops; memory: the stacked signals TC·M_l of the wanted layers plus one
    /// layer's factors, (TC)² + T².
    @_specialize(where S == Double)
    @_specialize(where S == Float)
    public func layerKernelFactors(layers: Set<Int>? = nil, gather: ([Double], Int, Int) -> [Double],
                                   visit: (LayerKernelFactors) -> Void) {
        precondition(!couplesSamples, "the Hadamard form of the kernel needs per-sample gradients (no batch normalization)")
        let arch = architecture
        let T = sampleCount, C = outputCount, n = T * C
        let wanted = (layers ?? Set(1...arch.depth)).sorted()
        guard let lowest = wanted.first else { return }
        // Stacked backward signals D^l (TC × M_l): row t·C + k holds δ^l_k(t).
        var stacked = [[S]](repeating: [], count: arch.depth + 1)
        for l in wanted { stacked[l] = [S](repeating: 0, count: n * arch.widths[l]) }
        for k in 0..<C {
            withCotangent(output: k) { u in
                backpropagate(u, through: lowest) { l, delta in
                    guard !stacked[l].isEmpty else { return }
                    let m = arch.widths[l]
                    stacked[l].withUnsafeMutableBufferPointer { dst in
                        guard T > 0, m > 0 else { return }
                        let row = m * MemoryLayout<S>.stride
                        if C == 1 { UnsafeMutableRawPointer(dst.baseAddress!).copyMemory(from: delta, byteCount: T * row); return }
                        for t in 0..<T {
                            UnsafeMutableRawPointer(dst.baseAddress! + (t * C + k) * m).copyMemory(from: delta + t * m, byteCount: row)
                        }
                    }
                }
            }
        }
        for l in wanted {
            let (fanIn, m) = (arch.widths[l - 1], arch.widths[l])
            let dLocal = S.float64(stacked[l])
            stacked[l] = []
            let dAll = gather(dLocal, C, m)
            let hLocal = S.float64(l == 1 ? inputs : hidden[l - 2])
            let hAll = gather(hLocal, 1, fanIn)
            let N = dAll.count / max(m, 1), totalT = hAll.count / max(fanIn, 1)
            var backward = [Double](repeating: 0, count: max(n * N, 1))
            var forward = [Double](repeating: 0, count: max(T * totalT, 1))
            let cw2 = arch.weightScale(l) * arch.weightScale(l)
            let cb2 = arch.hasBias(l) ? arch.biasScale * arch.biasScale : 0
            forward.withUnsafeMutableBufferPointer { $0.initialize(repeating: cb2) }
            if N == n && totalT == T {
                // One block holds every sample: both Grams are symmetric, half the flops (dsyrk).
                gramOfRows(n: n, k: m, alpha: 1, a: dLocal, beta: 0, c: &backward)
                gramOfRows(n: T, k: fanIn, alpha: cw2, a: hLocal, beta: 1, c: &forward)
            } else {
                Double.gemm(transA: false, transB: true, m: n, n: N, k: m, alpha: 1, a: dLocal, lda: m,
                            b: dAll, ldb: m, beta: 0, c: &backward, ldc: max(N, 1))
                Double.gemm(transA: false, transB: true, m: T, n: totalT, k: fanIn, alpha: cw2, a: hLocal, lda: fanIn,
                            b: hAll, ldb: fanIn, beta: 1, c: &forward, ldc: max(totalT, 1))
            }
            visit(LayerKernelFactors(layer: l, outputs: C, localSamples: T, totalSamples: totalT,
                                     forward: forward, backward: backward))
        }
    }

    // MARK: Helpers

    /// ‖h^l(t)‖² for l = 0…L−1 (index l), each of length T.
    private func activationNorms() -> [[Double]] {
        let arch = architecture
        return (0..<arch.depth).map { l in
            let width = arch.widths[l]
            return withInputsOrHidden(l) { h in
                (0..<sampleCount).map { t in Double(S.dot(n: width, x: h + t * width, y: h + t * width)) }
            }
        }
    }

    private func withCotangent<R>(output k: Int, _ body: (UnsafePointer<S>) -> R) -> R {
        let C = outputCount
        var u = [S](repeating: 0, count: sampleCount * C)
        for t in 0..<sampleCount { u[t * C + k] = 1 }
        return u.withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    /// Calls `body` with H^l (l = 0: the inputs).
    func withInputsOrHidden<R>(_ l: Int, _ body: (UnsafePointer<S>) -> R) -> R {
        if l == 0 { return inputs.withUnsafeBufferPointer { body($0.baseAddress ?? UnsafePointer(bitPattern: 8)!) } }
        return hidden[l - 1].withUnsafeBufferPointer { body($0.baseAddress ?? UnsafePointer(bitPattern: 8)!) }
    }
}

/// Layer l's tangent kernel J_l J_lᵀ as the Hadamard product of Lou et al. eq. 9, this process's
/// rows against all samples:
///
///     J_l J_lᵀ[(t,k),(s,k')] = backward[(t,k),(s,k')] · forward[t,s],
///     forward[t,s]  = c_l² ⟨h^(l−1)(t), h^(l−1)(s)⟩ + c_b²          (T_block × T),
///     backward[(t,k),(s,k')] = ⟨δ^l_k(t), δ^l_k'(s)⟩                  (T_block·C × T·C),
///
/// δ^l_k = ∂f_k/∂u^l. The forward kernel is the same for every output pair (k, k'). With the
/// bias feature (c_b) included, Σ_l forward ∘ backward is J Jᵀ exactly. Lou et al.'s kernels
/// are these divided by the widths (forward / M_(l−1), backward / M_l, their average kernel
/// K̄_l = J_l J_lᵀ / (M_(l−1) M_l) for biasless layers); no 1/T here.
public struct LayerKernelFactors: Sendable {
    public let layer: Int
    /// C.
    public let outputs: Int
    /// T_block, the samples of this process (the rows).
    public let localSamples: Int
    /// T, the samples of all processes (the columns).
    public let totalSamples: Int
    /// T_block × T, row-major.
    public let forward: [Double]
    /// (T_block·C) × (T·C), row-major, index t·C + k.
    public let backward: [Double]

    public var rowCount: Int { localSamples * outputs }
    public var columnCount: Int { totalSamples * outputs }

    /// rows += scale · (backward ∘ forward), rows being (T_block·C) × (T·C).
    public func addKernel(into rows: inout [Double], scale: Double = 1) {
        let C = outputs, n = rowCount, N = columnCount, T = totalSamples
        precondition(rows.count == n * N)
        rows.withUnsafeMutableBufferPointer { out in
            backward.withUnsafeBufferPointer { b in
                forward.withUnsafeBufferPointer { f in
                    if C == 1 {
                        // Same shapes: one elementwise pass.
                        for i in 0..<(n * N) { out[i] += scale * b[i] * f[i] }
                        return
                    }
                    for i in 0..<n {
                        let fRow = (i / C) * T
                        for j in 0..<N { out[i * N + j] += scale * b[i * N + j] * f[fRow + j / C] }
                    }
                }
            }
        }
    }

    /// The forward kernel expanded to (T_block·C) × (T·C) (forward[t,s] for every output pair).
    public func expandedForward() -> [Double] {
        let C = outputs, n = rowCount, N = columnCount, T = totalSamples
        var out = [Double](repeating: 0, count: n * N)
        for i in 0..<n { for j in 0..<N { out[i * N + j] = forward[(i / C) * T + j / C] } }
        return out
    }
}
