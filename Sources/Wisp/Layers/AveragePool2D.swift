/// Average pooling, PyTorch's `nn.AvgPool2d(kernel, stride, padding)` with its defaults
/// `count_include_pad=True`, `ceil_mode=False` (window geometry in ``PoolingWindow``):
///
///     y[c, p] = (1/(kh·kw)) Σ_(taps q of window p) x[c, q]      (padding taps count as zeros)
///
/// a linear map A with no parameters, so JVP ẏ = A ẋ and VJP x̄ = Aᵀ ȳ (each tap's share
/// ȳ[c, p]/(kh·kw) added to its pixel). Cost over n samples: n·C·OH·OW·kh·kw multiply-adds
/// per pass. Linear, so its R-op is x̄ = Aᵀ ȳ, R{x̄} = Aᵀ Rȳ (no second-order term). Caches nothing.
public final class AveragePool2D<S: BLASScalar>: Layer {
    public typealias Scalar = S
    public var kind: String { "avgpool2d" }
    public var inputShape: TensorShape { window.input }
    public var outputShape: TensorShape { window.output }
    public var parameterCount: Int { 0 }
    public var parameterTensors: [ParameterTensor] { [] }
    public var kernel: (height: Int, width: Int) { window.kernel }
    public var stride: (height: Int, width: Int) { window.stride }
    public var padding: (height: Int, width: Int) { window.padding }
    private let window: PoolingWindow
    private var batch = 0

    /// `stride` defaults to the kernel size, as in PyTorch.
    public init(input: TensorShape, kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0)) throws {
        window = try PoolingWindow(kind: "avgpool2d", input: input, kernel: kernel, stride: stride, padding: padding)
    }

    public func flops(batch n: Int) -> LayerFlops {
        let t = window.taps(batch: n)
        return LayerFlops(forward: t, jvp: t, vjp: t)
    }

    @_specialize(where S == Double)
    @_specialize(where S == Float)
    private func average(_ x: UnsafePointer<S>, batch n: Int, into y: UnsafeMutablePointer<S>) {
        let (inCount, outCount) = (inputShape.count, outputShape.count)
        let scale = 1 / S(kernel.height * kernel.width)
        y.update(repeating: 0, count: n * outCount)
        for t in 0..<n {
            let xt = x + t * inCount, yt = y + t * outCount
            window.forEachTap { o, i in yt[o] += xt[i] }
            for o in 0..<outCount { yt[o] *= scale }
        }
    }

    public func forward(_ x: UnsafePointer<S>, parameters: UnsafePointer<S>, batch n: Int, into y: UnsafeMutablePointer<S>) {
        batch = n
        average(x, batch: n, into: y)
    }

    public func jvp(_ x: UnsafePointer<S>, parameters: UnsafePointer<S>, inputTangent dx: UnsafePointer<S>?,
                    parameterTangent: UnsafePointer<S>?, into dy: UnsafeMutablePointer<S>) {
        if let dx { average(dx, batch: batch, into: dy) } else { dy.update(repeating: 0, count: batch * outputShape.count) }
    }

    @_specialize(where S == Double)
    @_specialize(where S == Float)
    public func vjp(_ x: UnsafePointer<S>, parameters: UnsafePointer<S>, cotangent dy: UnsafePointer<S>,
                    inputCotangent dx: UnsafeMutablePointer<S>?, parameterCotangent: UnsafeMutablePointer<S>?, alpha: S) {
        guard let dx else { return }
        let (inCount, outCount) = (inputShape.count, outputShape.count)
        let scale = 1 / S(kernel.height * kernel.width)
        dx.update(repeating: 0, count: batch * inCount)
        for t in 0..<batch {
            let xt = dx + t * inCount, yt = dy + t * outCount
            window.forEachTap { o, i in xt[i] += scale * yt[o] }
        }
    }

    public func rOperator(_ x: UnsafePointer<S>, parameters: UnsafePointer<S>,
                          inputTangent: UnsafePointer<S>?, parameterTangent: UnsafePointer<S>?,
                          cotangent dy: UnsafePointer<S>, cotangentTangent rdy: UnsafePointer<S>?,
                          inputCotangent xbar: UnsafeMutablePointer<S>?, inputCotangentTangent rxbar: UnsafeMutablePointer<S>?,
                          parameterCotangentTangent: UnsafeMutablePointer<S>?, alpha: S) {
        linearROperator(x, parameters: parameters, batch: batch, cotangent: dy, cotangentTangent: rdy,
                        inputCotangent: xbar, inputCotangentTangent: rxbar)
    }
}
