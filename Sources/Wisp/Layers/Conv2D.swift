/// A 2-D convolution, PyTorch's `nn.Conv2d(in, out, (kh, kw), stride, padding, bias)` (zero
/// padding, no dilation, one group), on a batch of images X_t ([C, H, W] each):
///
///     y_t[o, p] = Σ_(c,i,j) W[o, c, i, j] x_t[c, s_h·p_h + i − p_h0, s_w·p_w + j − p_w0] + b[o]
///
/// for every output position p = (p_h, p_w), OH = ⌊(H + 2·pad_h − kh)/s_h⌋ + 1 (likewise OW),
/// taps outside the image reading zero. With the patch matrix Π(X) (im2col: one row per sample
/// and output position, n·Q × K with Q = OH·OW, K = C·kh·kw, columns in (c, i, j) order =
/// PyTorch's weight layout [out, in, kh, kw] row-major) and Z = the outputs as n·Q × O:
///
///     forward   Z = Π(X) Wᵀ (+ b on every row)
///     JVP       Ż = Π(Ẋ) Wᵀ + Π(X) Ẇᵀ (+ ḃ)
///     VJP       W̄ = α Z̄ᵀ Π(X),   b̄ = α Z̄ᵀ 1,   X̄ = Πᵀ(Z̄ W)   (col2im: each patch entry added back to its pixel)
///
/// and, bilinear in (Π(X), W), its R-operator (the cross terms are the second-order part)
///
///     R{X̄} = Πᵀ(RZ̄ W + Z̄ Ẇ),   R{W̄} = α (RZ̄ᵀ Π(X) + Z̄ᵀ Π(Ẋ)),   R{b̄} = α RZ̄ᵀ 1
///
/// one GEMM per term over the whole batch. Z and the NCHW output differ by a transpose of
/// each sample's Q × O block (O(n·Q·O), not counted). Cost over n samples: forward
/// 2·n·Q·K·O flops, JVP 4·n·Q·K·O (half without Ẋ), VJP 4·n·Q·K·O (half without X̄).
/// Memory: the cached Π(X) (n·Q·K scalars) and two scratch blocks of n·Q·max(K, O); the
/// R-op (up to 8·n·Q·K·O flops) adds one block of n·Q·K (Π(Ẋ)) and one of n·Q·O (RZ̄).
public final class Conv2D<S: BLASScalar>: Layer {
    public typealias Scalar = S
    public let inChannels: Int
    public let outChannels: Int
    public let kernel: (height: Int, width: Int)
    public let stride: (height: Int, width: Int)
    public let padding: (height: Int, width: Int)
    public let hasBias: Bool
    public var kind: String { "conv2d" }
    public let inputShape: TensorShape
    public let outputShape: TensorShape
    /// Q, output positions per sample.
    public let positions: Int
    /// K = C·kh·kw, the patch length.
    public let patchLength: Int
    private var batch = 0
    private let patches = LayerBuffer<S>()
    private let scratch = LayerBuffer<S>()
    private let scratchZ = LayerBuffer<S>()
    private let scratchR = LayerBuffer<S>()
    private let scratchPatches = LayerBuffer<S>()

    /// Throws unless `input` is an image with `inChannels` channels (when given) and the
    /// kernel, stride and padding give at least one output position.
    public init(input: TensorShape, inChannels: Int? = nil, outChannels: Int, kernel: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: (Int, Int) = (0, 0), bias: Bool = true) throws {
        guard input.isImage, input.isValid else {
            throw WispError.invalidConfiguration("conv2d takes an image input [channels, height, width] but receives \(input)")
        }
        if let inChannels, inChannels != input.channels {
            throw WispError.invalidConfiguration("conv2d has in_channels \(inChannels) but receives \(input)")
        }
        guard outChannels >= 1 else { throw WispError.invalidConfiguration("conv2d out_channels must be at least 1 (got \(outChannels))") }
        guard kernel.0 >= 1, kernel.1 >= 1 else { throw WispError.invalidConfiguration("conv2d kernel_size must be at least 1 (got \(kernel))") }
        guard stride.0 >= 1, stride.1 >= 1 else { throw WispError.invalidConfiguration("conv2d stride must be at least 1 (got \(stride))") }
        guard padding.0 >= 0, padding.1 >= 0 else { throw WispError.invalidConfiguration("conv2d padding must be non-negative (got \(padding))") }
        try TensorShape.checkSize("conv2d weight [out, in, kh, kw]", outChannels, input.channels, kernel.0, kernel.1)
        guard padding.0 < 1 << 20, padding.1 < 1 << 20 else { throw WispError.invalidConfiguration("conv2d padding is too large (got \(padding))") }
        try TensorShape.checkSize("conv2d output and patch matrix per sample", outChannels + input.channels * kernel.0 * kernel.1,
                                  input.height + 2 * padding.0, input.width + 2 * padding.1)
        let (h, w) = (input.height + 2 * padding.0, input.width + 2 * padding.1)
        guard h >= kernel.0, w >= kernel.1 else {
            throw WispError.invalidConfiguration("conv2d kernel \(kernel.0)×\(kernel.1) is larger than the padded input \(h)×\(w) (input \(input))")
        }
        self.inChannels = input.channels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.hasBias = bias
        self.inputShape = input
        let oh = (h - kernel.0) / stride.0 + 1, ow = (w - kernel.1) / stride.1 + 1
        self.outputShape = .image(channels: outChannels, height: oh, width: ow)
        positions = oh * ow
        patchLength = input.channels * kernel.0 * kernel.1
    }

    public var parameterCount: Int { outChannels * patchLength + (hasBias ? outChannels : 0) }

    public var parameterTensors: [ParameterTensor] {
        [ParameterTensor(name: "weight", shape: [outChannels, inChannels, kernel.height, kernel.width], fanIn: patchLength)]
            + (hasBias ? [ParameterTensor(name: "bias", shape: [outChannels], fanIn: patchLength)] : [])
    }

    public func flops(batch n: Int) -> LayerFlops {
        let g = 2 * Double(n) * Double(positions) * Double(patchLength) * Double(outChannels)
        return LayerFlops(forward: g, jvp: 2 * g, vjp: 2 * g)
    }

    /// Π(X) of the batch last run forward (n·Q × K, row t·Q + p; valid until the next forward).
    var cachedPatches: UnsafePointer<S> { UnsafePointer(patches.pointer) }

    // MARK: im2col

    /// Π(X): row t·Q + p holds the patch of sample t at output position p.
    @_specialize(where S == Double)
    @_specialize(where S == Float)
    private func im2col(_ x: UnsafePointer<S>, batch n: Int, into out: UnsafeMutablePointer<S>) {
        let (C, H, W) = (inputShape.channels, inputShape.height, inputShape.width)
        let (OH, OW) = (outputShape.height, outputShape.width)
        let (kh, kw) = kernel
        for t in 0..<n {
            let xt = x + t * C * H * W
            for ph in 0..<OH {
                for pw in 0..<OW {
                    let row = out + (t * positions + ph * OW + pw) * patchLength
                    var k = 0
                    for c in 0..<C {
                        for i in 0..<kh {
                            let r = ph * stride.height + i - padding.height
                            for j in 0..<kw {
                                let q = pw * stride.width + j - padding.width
                                row[k] = (r >= 0 && r < H && q >= 0 && q < W) ? xt[(c * H + r) * W + q] : 0
                                k += 1
                            }
                        }
                    }
                }
            }
        }
    }

    /// X̄ = Πᵀ(P̄): every patch entry added to the pixel it was read from (overwrites x̄).
    @_specialize(where S == Double)
    @_specialize(where S == Float)
    private func col2im(_ p: UnsafePointer<S>, batch n: Int, into dx: UnsafeMutablePointer<S>) {
        let (C, H, W) = (inputShape.channels, inputShape.height, inputShape.width)
        let (OH, OW) = (outputShape.height, outputShape.width)
        let (kh, kw) = kernel
        dx.update(repeating: 0, count: n * C * H * W)
        for t in 0..<n {
            let xt = dx + t * C * H * W
            for ph in 0..<OH {
                for pw in 0..<OW {
                    let row = p + (t * positions + ph * OW + pw) * patchLength
                    var k = 0
                    for c in 0..<C {
                        for i in 0..<kh {
                            let r = ph * stride.height + i - padding.height
                            for j in 0..<kw {
                                let q = pw * stride.width + j - padding.width
                                if r >= 0 && r < H && q >= 0 && q < W { xt[(c * H + r) * W + q] += row[k] }
                                k += 1
                            }
                        }
                    }
                }
            }
        }
    }

    /// y[t, o, p] = Z[t·Q + p, o] (+ b[o]).
    @_specialize(where S == Double)
    @_specialize(where S == Float)
    private func scatterOutputs(_ z: UnsafePointer<S>, bias: UnsafePointer<S>?, batch n: Int, into y: UnsafeMutablePointer<S>) {
        let (O, Q) = (outChannels, positions)
        for t in 0..<n {
            for o in 0..<O {
                let b = bias?[o] ?? 0
                let yo = y + (t * O + o) * Q
                for p in 0..<Q { yo[p] = z[(t * Q + p) * O + o] + b }
            }
        }
    }

    /// Z̄[t·Q + p, o] = ȳ[t, o, p].
    @_specialize(where S == Double)
    @_specialize(where S == Float)
    private func gatherCotangents(_ dy: UnsafePointer<S>, batch n: Int, into z: UnsafeMutablePointer<S>) {
        let (O, Q) = (outChannels, positions)
        for t in 0..<n {
            for o in 0..<O {
                let yo = dy + (t * O + o) * Q
                for p in 0..<Q { z[(t * Q + p) * O + o] = yo[p] }
            }
        }
    }

    // MARK: Passes

    public func forward(_ x: UnsafePointer<S>, parameters w: UnsafePointer<S>, batch n: Int, into y: UnsafeMutablePointer<S>) {
        batch = n
        let rows = n * positions
        let pi = patches.reserve(rows * patchLength)
        im2col(x, batch: n, into: pi)
        let z = scratchZ.reserve(rows * outChannels)
        S.gemm(transA: false, transB: true, m: rows, n: outChannels, k: patchLength, alpha: 1, a: pi, lda: patchLength,
               b: w, ldb: patchLength, beta: 0, c: z, ldc: outChannels)
        scatterOutputs(z, bias: hasBias ? w + outChannels * patchLength : nil, batch: n, into: y)
    }

    public func jvp(_ x: UnsafePointer<S>, parameters w: UnsafePointer<S>, inputTangent dx: UnsafePointer<S>?,
                    parameterTangent dw: UnsafePointer<S>?, into dy: UnsafeMutablePointer<S>) {
        let n = batch, rows = n * positions
        let z = scratchZ.reserve(rows * outChannels)
        var beta: S = 0
        if let dw {
            S.gemm(transA: false, transB: true, m: rows, n: outChannels, k: patchLength, alpha: 1, a: patches.pointer,
                   lda: patchLength, b: dw, ldb: patchLength, beta: 0, c: z, ldc: outChannels)
            beta = 1
        }
        if let dx {
            let pdx = scratch.reserve(rows * patchLength)
            im2col(dx, batch: n, into: pdx)
            S.gemm(transA: false, transB: true, m: rows, n: outChannels, k: patchLength, alpha: 1, a: pdx, lda: patchLength,
                   b: w, ldb: patchLength, beta: beta, c: z, ldc: outChannels)
            beta = 1
        }
        if beta == 0 { z.update(repeating: 0, count: rows * outChannels) }
        scatterOutputs(z, bias: hasBias ? dw.map { $0 + outChannels * patchLength } : nil, batch: n, into: dy)
    }

    public func vjp(_ x: UnsafePointer<S>, parameters w: UnsafePointer<S>, cotangent dy: UnsafePointer<S>,
                    inputCotangent dx: UnsafeMutablePointer<S>?, parameterCotangent dw: UnsafeMutablePointer<S>?, alpha: S) {
        let n = batch, rows = n * positions
        let z = scratchZ.reserve(rows * outChannels)
        gatherCotangents(dy, batch: n, into: z)
        if let dw {
            if rows == 0 {
                dw.update(repeating: 0, count: parameterCount)
            } else {
                S.gemm(transA: true, transB: false, m: outChannels, n: patchLength, k: rows, alpha: alpha, a: z, lda: outChannels,
                       b: patches.pointer, ldb: patchLength, beta: 0, c: dw, ldc: patchLength)
                if hasBias {
                    let db = dw + outChannels * patchLength
                    db.update(repeating: 0, count: outChannels)
                    for r in 0..<rows {
                        let zr = z + r * outChannels
                        for o in 0..<outChannels { db[o] += zr[o] }
                    }
                    for o in 0..<outChannels { db[o] *= alpha }
                }
            }
        }
        if let dx {
            let pdx = scratch.reserve(rows * patchLength)
            S.gemm(transA: false, transB: false, m: rows, n: patchLength, k: outChannels, alpha: 1, a: z, lda: outChannels,
                   b: w, ldb: patchLength, beta: 0, c: pdx, ldc: patchLength)
            col2im(pdx, batch: n, into: dx)
        }
    }

    public func rOperator(_ x: UnsafePointer<S>, parameters w: UnsafePointer<S>,
                          inputTangent dx: UnsafePointer<S>?, parameterTangent dw: UnsafePointer<S>?,
                          cotangent dy: UnsafePointer<S>, cotangentTangent rdy: UnsafePointer<S>?,
                          inputCotangent xbar: UnsafeMutablePointer<S>?, inputCotangentTangent rxbar: UnsafeMutablePointer<S>?,
                          parameterCotangentTangent rtheta: UnsafeMutablePointer<S>?, alpha: S) {
        let n = batch, rows = n * positions, (K, O) = (patchLength, outChannels)
        let z = scratchZ.reserve(rows * O)
        gatherCotangents(dy, batch: n, into: z)
        let rz: UnsafeMutablePointer<S>? = rdy.map { r in
            let b = scratchR.reserve(rows * O)
            gatherCotangents(r, batch: n, into: b)
            return b
        }
        let p = scratch.reserve(rows * K)
        if let xbar {
            S.gemm(transA: false, transB: false, m: rows, n: K, k: O, alpha: 1, a: z, lda: O, b: w, ldb: K, beta: 0, c: p, ldc: K)
            col2im(p, batch: n, into: xbar)
        }
        if let rxbar {
            // R{X̄} = Πᵀ(RZ̄ W + Z̄ Ẇ).
            var beta: S = 0
            if let rz {
                S.gemm(transA: false, transB: false, m: rows, n: K, k: O, alpha: 1, a: rz, lda: O, b: w, ldb: K, beta: 0, c: p, ldc: K)
                beta = 1
            }
            if let dw {
                S.gemm(transA: false, transB: false, m: rows, n: K, k: O, alpha: 1, a: z, lda: O, b: dw, ldb: K, beta: beta, c: p, ldc: K)
                beta = 1
            }
            if beta == 0 { rxbar.update(repeating: 0, count: n * inputShape.count) } else { col2im(p, batch: n, into: rxbar) }
        }
        if let rtheta {
            // R{W̄} = α (RZ̄ᵀ Π(X) + Z̄ᵀ Π(Ẋ)),  R{b̄} = α RZ̄ᵀ 1.
            rtheta.update(repeating: 0, count: parameterCount)
            guard rows > 0 else { return }
            if let rz {
                S.gemm(transA: true, transB: false, m: O, n: K, k: rows, alpha: alpha, a: rz, lda: O,
                       b: patches.pointer, ldb: K, beta: 0, c: rtheta, ldc: K)
                if hasBias {
                    let db = rtheta + O * K
                    for r in 0..<rows {
                        let zr = rz + r * O
                        for o in 0..<O { db[o] += zr[o] }
                    }
                    for o in 0..<O { db[o] *= alpha }
                }
            }
            if let dx {
                let pdx = scratchPatches.reserve(rows * K)
                im2col(dx, batch: n, into: pdx)
                S.gemm(transA: true, transB: false, m: O, n: K, k: rows, alpha: alpha, a: z, lda: O,
                       b: pdx, ldb: K, beta: 1, c: rtheta, ldc: K)
            }
        }
    }
}
