/// A fully connected layer, PyTorch's `nn.Linear(in, out, bias)`, on a batch X (n × in):
///
///     forward   Y = X Wᵀ + 1 bᵀ                      W: out × in, b: out (optional)
///     JVP       Ẏ = Ẋ Wᵀ + X Ẇᵀ + 1 ḃᵀ
///     VJP       X̄ = Ȳ W,   W̄ = α Ȳᵀ X,   b̄ = α Ȳᵀ 1
///     R-op      R{X̄} = RȲ W + Ȳ Ẇ,   R{W̄} = α (RȲᵀ X + Ȳᵀ Ẋ),   R{b̄} = α RȲᵀ 1
///
/// (bilinear in (X, W): the second-order terms are the cross terms Ȳ Ẇ and Ȳᵀ Ẋ; the R-op
/// costs up to 8·n·in·out flops, two GEMMs per output).
/// θ = [W row-major (PyTorch `weight` [out, in]), b (`bias` [out])]. The input must be flat
/// (`[in]`; put a ``Flatten`` after image layers). Cost over n samples: forward 2·n·in·out
/// flops, JVP 4·n·in·out (2·n·in·out without Ẋ), VJP 4·n·in·out (2·n·in·out without X̄);
/// the bias terms add O(n·out). Caches nothing beyond a vector of ones.
public final class Dense<S: BLASScalar>: Layer {
    public typealias Scalar = S
    public let inFeatures: Int
    public let outFeatures: Int
    public let hasBias: Bool
    public var kind: String { "dense" }
    public let inputShape: TensorShape
    public let outputShape: TensorShape
    private var batch = 0
    private let ones = LayerBuffer<S>()

    /// Throws unless `input` is flat with `inFeatures` entries (when given) and `outFeatures` ≥ 1.
    public init(input: TensorShape, inFeatures: Int? = nil, outFeatures: Int, bias: Bool = true) throws {
        guard input.isFlat, input.isValid else {
            throw WispError.invalidConfiguration("dense takes a flat input [features] but receives \(input) (put a flatten before it)")
        }
        if let inFeatures, inFeatures != input.count {
            throw WispError.invalidConfiguration("dense has in_features \(inFeatures) but receives \(input)")
        }
        guard outFeatures >= 1 else { throw WispError.invalidConfiguration("dense out_features must be at least 1 (got \(outFeatures))") }
        try TensorShape.checkSize("dense weight [out_features, in_features]", outFeatures, input.count + 1)
        self.inFeatures = input.count
        self.outFeatures = outFeatures
        self.hasBias = bias
        self.inputShape = input
        self.outputShape = .features(outFeatures)
    }

    public var parameterCount: Int { outFeatures * inFeatures + (hasBias ? outFeatures : 0) }

    public var parameterTensors: [ParameterTensor] {
        [ParameterTensor(name: "weight", shape: [outFeatures, inFeatures], fanIn: inFeatures)]
            + (hasBias ? [ParameterTensor(name: "bias", shape: [outFeatures], fanIn: inFeatures)] : [])
    }

    public func flops(batch n: Int) -> LayerFlops {
        let g = 2 * Double(n) * Double(inFeatures) * Double(outFeatures)
        return LayerFlops(forward: g, jvp: 2 * g, vjp: 2 * g)
    }

    public func forward(_ x: UnsafePointer<S>, parameters w: UnsafePointer<S>, batch n: Int, into y: UnsafeMutablePointer<S>) {
        batch = n
        ones.fill(n, with: 1)
        S.gemm(transA: false, transB: true, m: n, n: outFeatures, k: inFeatures, alpha: 1, a: x, lda: inFeatures,
               b: w, ldb: inFeatures, beta: 0, c: y, ldc: outFeatures)
        if hasBias {
            S.ger(m: n, n: outFeatures, alpha: 1, x: ones.pointer, y: w + outFeatures * inFeatures, a: y, lda: outFeatures)
        }
    }

    public func jvp(_ x: UnsafePointer<S>, parameters w: UnsafePointer<S>, inputTangent dx: UnsafePointer<S>?,
                    parameterTangent dw: UnsafePointer<S>?, into dy: UnsafeMutablePointer<S>) {
        let n = batch
        var beta: S = 0
        if let dw {
            S.gemm(transA: false, transB: true, m: n, n: outFeatures, k: inFeatures, alpha: 1, a: x, lda: inFeatures,
                   b: dw, ldb: inFeatures, beta: 0, c: dy, ldc: outFeatures)
            beta = 1
        }
        if let dx {
            S.gemm(transA: false, transB: true, m: n, n: outFeatures, k: inFeatures, alpha: 1, a: dx, lda: inFeatures,
                   b: w, ldb: inFeatures, beta: beta, c: dy, ldc: outFeatures)
            beta = 1
        }
        if beta == 0 { dy.update(repeating: 0, count: n * outFeatures) }
        if hasBias, let dw {
            S.ger(m: n, n: outFeatures, alpha: 1, x: ones.pointer, y: dw + outFeatures * inFeatures, a: dy, lda: outFeatures)
        }
    }

    public func vjp(_ x: UnsafePointer<S>, parameters w: UnsafePointer<S>, cotangent dy: UnsafePointer<S>,
                    inputCotangent dx: UnsafeMutablePointer<S>?, parameterCotangent dw: UnsafeMutablePointer<S>?, alpha: S) {
        let n = batch
        if let dx {
            S.gemm(transA: false, transB: false, m: n, n: inFeatures, k: outFeatures, alpha: 1, a: dy, lda: outFeatures,
                   b: w, ldb: inFeatures, beta: 0, c: dx, ldc: inFeatures)
        }
        if let dw {
            if n == 0 { dw.update(repeating: 0, count: parameterCount); return }
            S.gemm(transA: true, transB: false, m: outFeatures, n: inFeatures, k: n, alpha: alpha, a: dy, lda: outFeatures,
                   b: x, ldb: inFeatures, beta: 0, c: dw, ldc: inFeatures)
            if hasBias {
                S.gemv(trans: true, m: n, n: outFeatures, alpha: alpha, a: dy, lda: outFeatures, x: ones.pointer,
                       beta: 0, y: dw + outFeatures * inFeatures)
            }
        }
    }

    public func rOperator(_ x: UnsafePointer<S>, parameters w: UnsafePointer<S>,
                          inputTangent dx: UnsafePointer<S>?, parameterTangent dw: UnsafePointer<S>?,
                          cotangent dy: UnsafePointer<S>, cotangentTangent rdy: UnsafePointer<S>?,
                          inputCotangent xbar: UnsafeMutablePointer<S>?, inputCotangentTangent rxbar: UnsafeMutablePointer<S>?,
                          parameterCotangentTangent rtheta: UnsafeMutablePointer<S>?, alpha: S) {
        let n = batch
        if let xbar {
            S.gemm(transA: false, transB: false, m: n, n: inFeatures, k: outFeatures, alpha: 1, a: dy, lda: outFeatures,
                   b: w, ldb: inFeatures, beta: 0, c: xbar, ldc: inFeatures)
        }
        if let rxbar {
            // R{X̄} = RȲ W + Ȳ Ẇ.
            var beta: S = 0
            if let rdy {
                S.gemm(transA: false, transB: false, m: n, n: inFeatures, k: outFeatures, alpha: 1, a: rdy, lda: outFeatures,
                       b: w, ldb: inFeatures, beta: 0, c: rxbar, ldc: inFeatures)
                beta = 1
            }
            if let dw {
                S.gemm(transA: false, transB: false, m: n, n: inFeatures, k: outFeatures, alpha: 1, a: dy, lda: outFeatures,
                       b: dw, ldb: inFeatures, beta: beta, c: rxbar, ldc: inFeatures)
                beta = 1
            }
            if beta == 0 { rxbar.update(repeating: 0, count: n * inFeatures) }
        }
        if let rtheta {
            // R{W̄} = α (RȲᵀ X + Ȳᵀ Ẋ),  R{b̄} = α RȲᵀ 1.
            rtheta.update(repeating: 0, count: parameterCount)
            guard n > 0 else { return }
            if let rdy {
                S.gemm(transA: true, transB: false, m: outFeatures, n: inFeatures, k: n, alpha: alpha, a: rdy, lda: outFeatures,
                       b: x, ldb: inFeatures, beta: 0, c: rtheta, ldc: inFeatures)
                if hasBias {
                    S.gemv(trans: true, m: n, n: outFeatures, alpha: alpha, a: rdy, lda: outFeatures, x: ones.pointer,
                           beta: 0, y: rtheta + outFeatures * inFeatures)
                }
            }
            if let dx {
                S.gemm(transA: true, transB: false, m: outFeatures, n: inFeatures, k: n, alpha: alpha, a: dy, lda: outFeatures,
                       b: dx, ldb: inFeatures, beta: 1, c: rtheta, ldc: inFeatures)
            }
        }
    }
}
