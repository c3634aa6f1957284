/// How one parameterized layer's block K_l = J_l J_lᵀ of the tangent kernel is formed
/// (``LayerTangentKernel``). With n local and N total samples, C outputs, O output channels
/// (features), Q output positions (1 for dense), patch length K (C_in·kh·kw; in_features for
/// dense) and P_l = O·K (+ O with a bias):
///
///     perSampleGradient  g_(t,k) = Σ_p δ_(t,k)(p) ⊗ patch_t(p)  (+ bias Σ_p δ_(t,k)(p)),  K_l = G Gᵀ
///                        flops 2·nC·O·Q·K (the gradients) + 2·nC·NC·P_l (the Gram)
///                        memory (n + N)·C·P_l doubles (this process's gradients and everyone's)
///     positionPairs      K_l[(t,k),(s,k')] = Σ_(p,q) (Δ Δᵀ)[(t,k,p),(s,k',q)] · (Π Πᵀ + 1)[(t,p),(s,q)]
///                        flops 2·nCQ·NCQ·O + 2·nQ·NQ·K (the two Grams) + nC·NC·Q² (the contraction)
///                        memory (n + N)·CQ·O + (n + N)·Q·K + one sample's blocks CQ·NCQ + Q·NQ
///
/// For a dense layer (Q = 1) the position-pair form is the Hadamard form of Lou et al. eq. 9,
/// (Δ Δᵀ) ∘ (X Xᵀ + 11ᵀ), always the cheaper; for a convolution the per-sample gradients win
/// whenever K + 1 < Q² roughly (every layer with more than a few output positions).
///
/// A normalization's elementwise affine map y = γ ⊙ ẑ + β (``LayerNorm``: per-sample groups of D
/// entries, Q of them per sample, γ and β of length D; ``LayerKernelSite/elementwise``) has only
/// per-sample gradients, with O = D and K = 1:
///
///     ∇γ f_k(x_t) = Σ_groups δ_(t,k) ⊙ ẑ_t,   ∇β f_k(x_t) = Σ_groups δ_(t,k),   K_γ + K_β = G Gᵀ
///                        flops 2·nC·D·Q (the gradients) + 2·nC·NC·P_l (the Gram), memory as above.
public enum LayerKernelForm: String, Sendable, Codable, CaseIterable {
    case perSampleGradient = "per-sample gradients"
    case positionPairs = "position pairs"
}

/// A parameterized layer of a ``LayerTangentKernel``: its state-dict prefix ("3", "2.body.0",
/// "2.projection") and sizes.
public struct LayerKernelSite: Sendable, Equatable {
    public let name: String
    public let kind: String
    /// O.
    public let outChannels: Int
    /// Q (1 for dense).
    public let positions: Int
    /// K.
    public let patchLength: Int
    public let hasBias: Bool
    /// A normalization's elementwise affine γ ⊙ ẑ + β (O = D, Q = groups per sample, K = 1):
    /// formed from its per-sample gradients in either form.
    public var elementwise: Bool = false
    /// P_l.
    public var parameterCount: Int { outChannels * patchLength + (hasBias ? outChannels : 0) }

    /// Modelled flops and bytes of forming K_l in `form` (see ``LayerKernelForm``) with n local
    /// and N total samples and C outputs.
    public func cost(_ form: LayerKernelForm, localSamples n: Int, totalSamples N: Int, outputs C: Int) -> (flops: Double, bytes: Double) {
        let (n, N, C) = (Double(n), Double(N), Double(C))
        let (O, Q, K, P) = (Double(outChannels), Double(positions), Double(patchLength), Double(parameterCount))
        if elementwise { return (2 * n * C * O * Q + 2 * n * C * N * C * P, 8 * (n + N) * C * P) }
        switch form {
        case .perSampleGradient:
            return (2 * n * C * O * Q * K + 2 * n * C * N * C * P, 8 * (n + N) * C * P)
        case .positionPairs:
            return (2 * n * C * Q * N * C * Q * O + 2 * n * Q * N * Q * K + n * C * N * C * Q * Q,
                    8 * ((n + N) * C * Q * O + (n + N) * Q * K + C * Q * N * C * Q + Q * N * Q))
        }
    }

    /// The cheaper form by flop count (position pairs on a tie, so dense layers take the Hadamard form).
    public func cheaperForm(localSamples n: Int, totalSamples N: Int, outputs C: Int) -> LayerKernelForm {
        if elementwise { return .perSampleGradient }
        return cost(.perSampleGradient, localSamples: n, totalSamples: N, outputs: C).flops
            < cost(.positionPairs, localSamples: n, totalSamples: N, outputs: C).flops ? .perSampleGradient : .positionPairs
    }
}

/// The NTK Gram matrix J Jᵀ (TC × TC, index t·C + k; no 1/T) of a network given as layers,
/// this process's rows against every process's samples, from per-layer factors: the sum over
/// the parameterized layers (dense and conv2d, inside residual blocks and projections too) of
///
///     K_l[(t,k),(s,k')] = ⟨∇θ_l f_k(x_t), ∇θ_l f_k'(x_s)⟩,   Σ_l K_l = J Jᵀ,
///
/// each formed in the cheaper ``LayerKernelForm`` by flop count. The backward signals
/// δ_(t,k) = ∂f_k(x_t)/∂y_l at every layer's output come from C backward passes (cotangent e_k
/// for every sample), as in ``BatchedJacobian/layerKernelFactors(layers:gather:visit:)``; the
/// layer inputs (dense) and patch matrices (conv2d, the layer's own im2col cache) from one
/// forward pass. Signals and patches are widened to Float64 and every Gram runs in Float64.
///
/// Cost: one forward pass and C backward passes (no parameter cotangents) plus each layer's
/// form (``LayerKernelForm``). Memory: every layer's input over the local batch, the stacked
/// signals nC·O·Q of every parameterized layer, and one layer's factors at a time.
///
/// Layer normalization is per sample, so the factor structure holds through it: the signals
/// pass through it by its input VJP (per sample, per output k), and its γ, β (if affine) are a
/// site of their own (``LayerKernelSite/elementwise``: ∇γ f_k(x_t) = Σ_groups δ_(t,k) ⊙ ẑ_t,
/// ∇β f_k(x_t) = Σ_groups δ_(t,k), with ẑ_t the standardized input of the forward pass).
/// Batch normalization with batch statistics couples the samples (J's rows do not factor per
/// sample) and is refused at construction, naming the layer, as is any other layer kind.
public final class LayerTangentKernel<S: BLASScalar> {
    public typealias Site = LayerKernelSite

    /// A layer of the walk: a leaf (with its site, if parameterized) or a residual block.
    private final class Node {
        let layer: any Layer<S>
        let offset: Int
        let site: Int?
        let body: [Node]
        let projection: Node?
        var input: [S] = []
        init(layer: any Layer<S>, offset: Int, site: Int?, body: [Node] = [], projection: Node? = nil) {
            (self.layer, self.offset, self.site, self.body, self.projection) = (layer, offset, site, body, projection)
        }
        var isResidual: Bool { layer is Residual<S> }
    }

    public let sites: [Site]
    /// C.
    public let outputCount: Int
    /// n, this process's samples.
    public let sampleCount: Int
    private let nodes: [Node]
    private let network: LayerSequence<S>

    /// `network` at the batch it last ran forward on (this process's samples). Throws, naming
    /// the layer, for a layer with no exact factor here.
    public init(network: LayerSequence<S>) throws {
        var sites: [Site] = []
        func build(_ layers: [any Layer<S>], offset: Int, prefix: String) throws -> [Node] {
            var o = offset
            var result: [Node] = []
            for (i, layer) in layers.enumerated() {
                defer { o += layer.parameterCount }
                let name = "\(prefix)\(i)"
                if let r = layer as? Residual<S> {
                    let body = try build(r.bodyLayers, offset: o, prefix: "\(name).body.")
                    let bodyCount = r.bodyLayers.reduce(0) { $0 + $1.parameterCount }
                    let projection = try r.projection.map { try build([$0], offset: o + bodyCount, prefix: "")[0] }
                    if let p = projection, let s = p.site {
                        let old = sites[s]
                        sites[s] = Site(name: "\(name).projection", kind: old.kind, outChannels: old.outChannels, positions: old.positions,
                                        patchLength: old.patchLength, hasBias: old.hasBias, elementwise: old.elementwise)
                    }
                    result.append(Node(layer: layer, offset: o, site: nil, body: body, projection: projection))
                } else if let d = layer as? Dense<S> {
                    sites.append(Site(name: name, kind: d.kind, outChannels: d.outFeatures, positions: 1, patchLength: d.inFeatures, hasBias: d.hasBias))
                    result.append(Node(layer: layer, offset: o, site: sites.count - 1))
                } else if let c = layer as? Conv2D<S> {
                    sites.append(Site(name: name, kind: c.kind, outChannels: c.outChannels, positions: c.positions, patchLength: c.patchLength,
                                      hasBias: c.hasBias))
                    result.append(Node(layer: layer, offset: o, site: sites.count - 1))
                } else if let norm = layer as? LayerNorm<S>, norm.parameterCount > 0 {
                    let D = norm.affineLength
                    sites.append(Site(name: name, kind: norm.kind, outChannels: D, positions: norm.inputShape.count / D, patchLength: 1,
                                      hasBias: norm.hasBias, elementwise: true))
                    result.append(Node(layer: layer, offset: o, site: sites.count - 1))
                } else if layer.parameterCount == 0
                            && (layer is ActivationLayer<S> || layer is AveragePool2D<S> || layer is MaxPool2D<S> || layer is Flatten<S>
                                || layer is LayerNorm<S>) {
                    result.append(Node(layer: layer, offset: o, site: nil))
                } else {
                    throw WispError.invalidConfiguration(
                        "layer \(name) (\(layer.kind)) has no exact sample-space factor (dense, conv2d, layernorm, activations, pooling, flatten and residual blocks have)\(layer.couplesSamples ? ": its batch statistics couple the samples" : "")")
                }
            }
            return result
        }
        nodes = try build(network.layers, offset: 0, prefix: "")
        self.sites = sites
        outputCount = network.outputCount
        sampleCount = network.sampleCount
        self.network = network
    }

    /// Scalars per sample the walk keeps while forming (every layer's input, once).
    public var inputScalarsPerSample: Int { allNodes(nodes).reduce(0) { $0 + $1.layer.inputShape.count } }

    /// Each site's cheaper form (``Site/cheaperForm(localSamples:totalSamples:outputs:)``). Both
    /// costs are linear in the local samples, so the choice is made for N of them: every
    /// process (one without samples too) takes the same forms and the same collectives.
    public func cheaperForms(totalSamples N: Int) -> [LayerKernelForm] {
        sites.map { $0.cheaperForm(localSamples: N, totalSamples: N, outputs: outputCount) }
    }

    /// This process's rows of J Jᵀ, (n·C) × (N·C) row-major. `gather(matrix, rowsPerSample,
    /// columns)` returns the row-wise concatenation, in process order, of every process's
    /// `matrix` (n·rowsPerSample rows × `columns`); the identity on one process. `forms` forces
    /// a form per site (tests); by default each site takes the cheaper one.
    @_specialize(where S == Double)
    @_specialize(where S == Float)
    public func rows(forms: [LayerKernelForm]? = nil, gather: ([Double], Int, Int) -> [Double]) -> [Double] {
        form(forms: forms, gather: gather, perSite: false) { _, _ in }
    }

    /// This process's rows of each site's block K_l = J_l J_lᵀ (no 1/T), (n·C) × (N·C) row-major,
    /// passed to `visit(site index, rows)` in θ's order, one site at a time (Σ_l K_l = ``rows(forms:gather:)``).
    /// The same passes and forms as the whole K: one forward pass, C backward passes, each site's
    /// form once; memory one more n·C·N·C block than the whole K only while `visit` holds it.
    @_specialize(where S == Double)
    @_specialize(where S == Float)
    public func layerRows(forms: [LayerKernelForm]? = nil, gather: ([Double], Int, Int) -> [Double],
                          visit: (Int, [Double]) -> Void) {
        _ = form(forms: forms, gather: gather, perSite: true, visit: visit)
    }

    /// The whole K's rows, or (`perSite`) each site's rows handed to `visit` and the buffer
    /// cleared after each (then the returned rows are zero).
    @_specialize(where S == Double)
    @_specialize(where S == Float)
    private func form(forms: [LayerKernelForm]?, gather: ([Double], Int, Int) -> [Double], perSite: Bool,
                      visit: (Int, [Double]) -> Void) -> [Double] {
        let n = sampleCount, C = outputCount
        var stacked = backwardSignals()
        // N from the gathered sample counts.
        let N = gather([Double](repeating: 0, count: n), 1, 1).count
        var rows = [Double](repeating: 0, count: n * C * N * C)
        let chosen = forms ?? cheaperForms(totalSamples: N)
        for (i, site) in sites.enumerated() {
            let signals = S.float64(stacked[i])
            stacked[i] = []
            let patches = self.patches(site: i)
            switch site.elementwise ? .perSampleGradient : chosen[i] {
            case .perSampleGradient:
                addPerSampleGradientKernel(site, signals: signals, patches: patches, totalSamples: N, gather: gather, into: &rows)
            case .positionPairs:
                addPositionPairKernel(site, signals: signals, patches: patches, totalSamples: N, gather: gather, into: &rows)
            }
            if perSite {
                visit(i, rows)
                rows.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
            }
        }
        for node in allNodes(nodes) { node.input = [] }
        return rows
    }

    /// This process's part of tr(J Jᵀ), Σ_(t local, k) ‖∇θ f_k(x_t)‖², from the per-sample
    /// gradient norms site by site, with no Gram and no communication: a dense layer's
    /// (‖x_t‖² + 1_bias)·‖δ_(t,k)‖², a convolution's ‖Σ_p δ_(t,k)(p) ⊗ patch_t(p)‖²_F (+ the bias
    /// sums'), a normalization's ‖Σ δ ⊙ ẑ‖² + ‖Σ δ‖². Cost: one forward and C backward passes
    /// plus 2·nC·O·Q·K per convolution; memory the stacked signals and one sample's C·P_l gradients.
    @_specialize(where S == Double)
    @_specialize(where S == Float)
    public func localTrace() -> Double {
        let n = sampleCount, C = outputCount
        var stacked = backwardSignals()
        var trace = 0.0
        for (i, site) in sites.enumerated() {
            let signals = S.float64(stacked[i])
            stacked[i] = []
            let patches = self.patches(site: i)
            if !site.elementwise && site.positions == 1 {
                let (O, K) = (site.outChannels, site.patchLength)
                for t in 0..<n {
                    var x2 = site.hasBias ? 1.0 : 0.0
                    for j in 0..<K { x2 += patches[t * K + j] * patches[t * K + j] }
                    var d2 = 0.0
                    for j in 0..<(C * O) { d2 += signals[t * C * O + j] * signals[t * C * O + j] }
                    trace += x2 * d2
                }
            } else {
                for t in 0..<n {
                    for g in localGradients(site, signals: signals, patches: patches, samples: t..<(t + 1)) { trace += g * g }
                }
            }
        }
        for node in allNodes(nodes) { node.input = [] }
        return trace
    }

    /// One forward pass over the local batch and C backward passes: each site's signals
    /// δ_(t,k) at its output, row t·C + k, O·Q columns in the layer's output order.
    private func backwardSignals() -> [[S]] {
        let n = sampleCount, C = outputCount
        precondition(network.sampleCount == n, "the network ran forward on another batch since the kernel was made")
        let parameters = network.parameters
        // One forward pass: every layer's input and cache over the local batch (one spare
        // scalar: an empty batch still has an address).
        let inputs: [S] = Array(UnsafeBufferPointer(start: network.cachedInputs, count: n * network.inputShape.count)) + [S(0)]
        parameters.withUnsafeBufferPointer { theta in _ = forward(nodes, inputs, theta.baseAddress!) }
        // C backward passes: the signals at every site's output, row t·C + k, columns (o, p).
        var stacked = sites.map { [S](repeating: 0, count: n * C * $0.outChannels * $0.positions) }
        let lowest = nodes.firstIndex { Self.containsSite($0) } ?? nodes.count
        var cotangent = [S](repeating: 0, count: max(n * C, 1))
        for k in 0..<C {
            for t in 0..<n { for j in 0..<C { cotangent[t * C + j] = j == k ? 1 : 0 } }
            parameters.withUnsafeBufferPointer { theta in
                _ = backward(nodes, cotangent, theta.baseAddress!, stopAt: lowest) { site, delta in
                    let width = sites[site].outChannels * sites[site].positions
                    stacked[site].withUnsafeMutableBufferPointer { dst in
                        for t in 0..<n { (dst.baseAddress! + (t * C + k) * width).update(from: delta + t * width, count: width) }
                    }
                }
            }
        }
        return stacked
    }

    // MARK: Forms

    /// rows += G_local G_allᵀ with G's row (t,k) the per-sample gradient (``localGradients(_:signals:patches:samples:)``).
    private func addPerSampleGradientKernel(_ site: Site, signals: [Double], patches: [Double], totalSamples N: Int,
                                            gather: ([Double], Int, Int) -> [Double], into rows: inout [Double]) {
        let n = sampleCount, C = outputCount, P = site.parameterCount
        var local = localGradients(site, signals: signals, patches: patches, samples: 0..<n)
        if n * C * P == 0 { local = [] }
        let all = gather(local, C, P)
        if all.count == local.count {
            gramOfRows(n: n * C, k: P, alpha: 1, a: local, beta: 1, c: &rows)
        } else if n > 0 {
            Double.gemm(transA: false, transB: true, m: n * C, n: N * C, k: P, alpha: 1, a: local, lda: P, b: all, ldb: P,
                        beta: 1, c: &rows, ldc: N * C)
        }
    }

    /// The per-sample gradients of `site` for the local samples `range`, one row (t,k) of P_l
    /// each (at least one scalar): [Σ_p δ_(t,k)(·, p) patch_t(p)ᵀ (O × K), Σ_p δ_(t,k)(·, p)], or
    /// for a normalization's affine map [Σ_groups δ_(t,k) ⊙ ẑ_t, Σ_groups δ_(t,k)] (D each).
    private func localGradients(_ site: Site, signals: [Double], patches: [Double], samples range: Range<Int>) -> [Double] {
        let C = outputCount
        let (O, Q, K, P) = (site.outChannels, site.positions, site.patchLength, site.parameterCount)
        var local = [Double](repeating: 0, count: max(range.count * C * P, 1))
        if site.elementwise {
            for t in range {
                let z = t * O * Q
                for k in 0..<C {
                    let r = t * C + k, d = r * O * Q, row = ((t - range.lowerBound) * C + k) * P
                    for q in 0..<Q {
                        for j in 0..<O {
                            local[row + j] += signals[d + q * O + j] * patches[z + q * O + j]
                            if site.hasBias { local[row + O + j] += signals[d + q * O + j] }
                        }
                    }
                }
            }
            return local
        }
        // One GEMM per sample for its C outputs: (C·O × Q) signals times its Q × K patches.
        var block = [Double](repeating: 0, count: C * O * K)
        local.withUnsafeMutableBufferPointer { g in
            signals.withUnsafeBufferPointer { d in
                patches.withUnsafeBufferPointer { x in
                    block.withUnsafeMutableBufferPointer { w in
                        for t in range {
                            Double.gemm(transA: false, transB: false, m: C * O, n: K, k: Q, alpha: 1, a: d.baseAddress! + t * C * O * Q, lda: Q,
                                        b: x.baseAddress! + t * Q * K, ldb: K, beta: 0, c: w.baseAddress!, ldc: K)
                            for k in 0..<C {
                                let r = t * C + k, row = g.baseAddress! + ((t - range.lowerBound) * C + k) * P, delta = d.baseAddress! + r * O * Q
                                row.update(from: w.baseAddress! + k * O * K, count: O * K)
                                if site.hasBias {
                                    for o in 0..<O {
                                        var sum = 0.0
                                        for p in 0..<Q { sum += delta[o * Q + p] }
                                        row[O * K + o] = sum
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return local
    }

    /// rows[(t,k),(s,k')] += Σ_(p,q) (Δ Δᵀ)[(t,k,p),(s,k',q)] · (Π Πᵀ + 1)[(t,p),(s,q)]; for
    /// Q = 1 the Hadamard form through ``LayerKernelFactors``.
    private func addPositionPairKernel(_ site: Site, signals: [Double], patches: [Double], totalSamples N: Int,
                                       gather: ([Double], Int, Int) -> [Double], into rows: inout [Double]) {
        let n = sampleCount, C = outputCount
        let (O, Q, K) = (site.outChannels, site.positions, site.patchLength)
        let bias: Double = site.hasBias ? 1 : 0
        // Δ with one row per (t, k, p): the transpose of each row's O × Q block.
        var delta = [Double](repeating: 0, count: n * C * Q * O)
        for r in 0..<(n * C) { for o in 0..<O { for p in 0..<Q { delta[(r * Q + p) * O + o] = signals[r * O * Q + o * Q + p] } } }
        let deltaAll = gather(delta, C * Q, O), patchesAll = gather(patches, Q, K)
        if Q == 1 {
            var backward = [Double](repeating: 0, count: max(n * C * N * C, 1))
            var forward = [Double](repeating: bias, count: max(n * N, 1))
            if deltaAll.count == delta.count {
                gramOfRows(n: n * C, k: O, alpha: 1, a: delta, beta: 0, c: &backward)
                gramOfRows(n: n, k: K, alpha: 1, a: patches, beta: 1, c: &forward)
            } else if n > 0 {
                Double.gemm(transA: false, transB: true, m: n * C, n: N * C, k: O, alpha: 1, a: delta, lda: O, b: deltaAll, ldb: O,
                            beta: 0, c: &backward, ldc: N * C)
                Double.gemm(transA: false, transB: true, m: n, n: N, k: K, alpha: 1, a: patches, lda: K, b: patchesAll, ldb: K,
                            beta: 1, c: &forward, ldc: N)
            }
            LayerKernelFactors(layer: 0, outputs: C, localSamples: n, totalSamples: N, forward: forward, backward: backward)
                .addKernel(into: &rows)
            return
        }
        // One local sample at a time: its signal Gram (CQ × NCQ) and patch Gram (Q × NQ).
        let width = N * C * Q
        var signalGram = [Double](repeating: 0, count: C * Q * width)
        var patchGram = [Double](repeating: 0, count: Q * N * Q)
        for t in 0..<n {
            delta.withUnsafeBufferPointer { d in
                Double.gemm(transA: false, transB: true, m: C * Q, n: width, k: O, alpha: 1, a: d.baseAddress! + t * C * Q * O, lda: O,
                            b: deltaAll, ldb: O, beta: 0, c: &signalGram, ldc: width)
            }
            for i in patchGram.indices { patchGram[i] = bias }
            patches.withUnsafeBufferPointer { x in
                Double.gemm(transA: false, transB: true, m: Q, n: N * Q, k: K, alpha: 1, a: x.baseAddress! + t * Q * K, lda: K,
                            b: patchesAll, ldb: K, beta: 1, c: &patchGram, ldc: N * Q)
            }
            for k in 0..<C {
                let out = (t * C + k) * N * C
                for s in 0..<N {
                    for k2 in 0..<C {
                        var sum = 0.0
                        for p in 0..<Q {
                            let sRow = (k * Q + p) * width + (s * C + k2) * Q, pRow = p * N * Q + s * Q
                            for q in 0..<Q { sum += signalGram[sRow + q] * patchGram[pRow + q] }
                        }
                        rows[out + s * C + k2] += sum
                    }
                }
            }
        }
    }

    // MARK: The walk

    private func allNodes(_ nodes: [Node]) -> [Node] {
        nodes.flatMap { [$0] + allNodes($0.body) + ($0.projection.map { allNodes([$0]) } ?? []) }
    }

    private static func containsSite(_ node: Node) -> Bool {
        node.site != nil || node.body.contains(where: containsSite) || (node.projection.map(containsSite) ?? false)
    }

    /// The patch matrix of site i over the local batch (n·Q × K) in Float64: the dense layer's
    /// input, the convolution's cached Π(X), or a normalization's ẑ (n·Q·D).
    private func patches(site i: Int) -> [Double] {
        func find(_ nodes: [Node]) -> Node? {
            for node in nodes {
                if node.site == i { return node }
                if let hit = find(node.body) ?? node.projection.flatMap({ find([$0]) }) { return hit }
            }
            return nil
        }
        let node = find(nodes)!
        if let norm = node.layer as? LayerNorm<S> { return S.float64(norm.normalizedEntries, count: sampleCount * norm.inputShape.count) }
        let count = sampleCount * sites[i].positions * sites[i].patchLength
        if let conv = node.layer as? Conv2D<S> { return S.float64(conv.cachedPatches, count: count) }
        return node.input.withUnsafeBufferPointer { S.float64($0.baseAddress, count: count) }
    }

    /// Runs `nodes` forward from `x`, keeping each node's input; returns the output.
    private func forward(_ nodes: [Node], _ x: [S], _ theta: UnsafePointer<S>) -> [S] {
        let n = sampleCount
        var x = x
        for node in nodes {
            node.input = x
            var y: [S]
            if node.isResidual {
                y = forward(node.body, x, theta)
                let shortcut = node.projection.map { forward([$0], x, theta) } ?? x
                for i in y.indices { y[i] += shortcut[i] }
            } else {
                y = [S](repeating: 0, count: max(n * node.layer.outputShape.count, 1))
                x.withUnsafeBufferPointer { xp in
                    y.withUnsafeMutableBufferPointer { node.layer.forward(xp.baseAddress!, parameters: theta + node.offset, batch: n, into: $0.baseAddress!) }
                }
            }
            x = y
        }
        return x
    }

    /// Runs `nodes` backward from the output cotangent `dy`, calling `visit(site, signal)` at every
    /// site with the cotangent at its output (n × O·Q); returns the input cotangent. With
    /// `stopAt`, nodes before it are skipped and node `stopAt`'s input cotangent is not formed
    /// (empty is returned): nothing below the lowest site is needed.
    private func backward(_ nodes: [Node], _ dy: [S], _ theta: UnsafePointer<S>, stopAt: Int? = nil,
                          visit: (Int, UnsafePointer<S>) -> Void) -> [S] {
        let n = sampleCount
        var cotangent = dy
        for i in nodes.indices.reversed() {
            if let stopAt, i < stopAt { break }
            let node = nodes[i], last = i == stopAt
            if node.isResidual {
                var dx = backward(node.body, cotangent, theta, visit: visit)
                let shortcut = node.projection.map { backward([$0], cotangent, theta, visit: visit) } ?? cotangent
                if last { return [] }
                for j in dx.indices { dx[j] += shortcut[j] }
                cotangent = dx
            } else {
                if let site = node.site { cotangent.withUnsafeBufferPointer { visit(site, $0.baseAddress!) } }
                if last { return [] }
                var dx = [S](repeating: 0, count: max(n * node.layer.inputShape.count, 1))
                node.input.withUnsafeBufferPointer { x in
                    cotangent.withUnsafeBufferPointer { c in
                        dx.withUnsafeMutableBufferPointer {
                            node.layer.vjp(x.baseAddress!, parameters: theta + node.offset, cotangent: c.baseAddress!, inputCotangent: $0.baseAddress!,
                                           parameterCotangent: nil, alpha: 1)
                        }
                    }
                }
                cotangent = dx
            }
        }
        return cotangent
    }
}
