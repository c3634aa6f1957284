/// Max pooling, PyTorch's `nn.MaxPool2d(kernel, stride, padding)` (`dilation=1`,
/// `ceil_mode=False`; padding taps are −∞, i.e. skipped; geometry in ``PoolingWindow``):
///
///     y[c, p] = x[c, a(c, p)],   a(c, p) = the first maximum of window p in row-major window order
///
/// Ties: the derivative is taken at the **first** maximum met in row-major order over the
/// window (row by row, left to right), the subgradient PyTorch's CPU kernel picks (it replaces
/// the running maximum only on a strictly larger value). A NaN is taken as the maximum, as
/// in PyTorch. With the argmax a fixed by the forward pass the map is linear in a
/// neighbourhood (away from ties):
///
///     JVP  ẏ[c, p] = ẋ[c, a(c, p)]        VJP  x̄[c, q] = Σ_(p: a(c, p) = q) ȳ[c, p]
///
/// and the R-op routes Rȳ by the same argmax (R{x̄} = the VJP of Rȳ; no second-order term).
///
/// Cost over n samples: forward n·C·OH·OW·kh·kw comparisons, JVP and VJP n·C·OH·OW moves.
/// Caches the argmax (n·C·OH·OW 32-bit indices).
public final class MaxPool2D<S: BLASScalar>: Layer {
    public typealias Scalar = S
    public var kind: String { "maxpool2d" }
    public var inputShape: TensorShape { window.input }
    public var outputShape: TensorShape { window.output }
    public var parameterCount: Int { 0 }
    public var parameterTensors: [ParameterTensor] { [] }
    public var kernel: (height: Int, width: Int) { window.kernel }
    public var stride: (height: Int, width: Int) { window.stride }
    public var padding: (height: Int, width: Int) { window.padding }
    private let window: PoolingWindow
    private var batch = 0
    /// a(t, c, p): the input index (within its sample) of each output's maximum.
    public private(set) var argmax: [Int32] = []

    /// `stride` defaults to the kernel size, as in PyTorch.
    public init(input: TensorShape, kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0)) throws {
        window = try PoolingWindow(kind: "maxpool2d", input: input, kernel: kernel, stride: stride, padding: padding)
        guard window.input.count <= Int(Int32.max) else {
            throw WispError.invalidConfiguration("maxpool2d input \(input) has more than 2³¹ entries per sample")
        }
    }

    public func flops(batch n: Int) -> LayerFlops {
        let moves = Double(n) * Double(outputShape.count)
        return LayerFlops(forward: window.taps(batch: n), jvp: moves, vjp: moves)
    }

    @_specialize(where S == Double)
    @_specialize(where S == Float)
    public func forward(_ x: UnsafePointer<S>, parameters: UnsafePointer<S>, batch n: Int, into y: UnsafeMutablePointer<S>) {
        batch = n
        let (inCount, outCount) = (inputShape.count, outputShape.count)
        argmax = [Int32](repeating: -1, count: n * outCount)
        argmax.withUnsafeMutableBufferPointer { a in
            for t in 0..<n {
                let xt = x + t * inCount, yt = y + t * outCount, at = a.baseAddress! + t * outCount
                window.forEachTap { o, i in
                    let v = xt[i]
                    // Replace only on a strictly larger value (or a NaN): the first maximum wins.
                    if at[o] < 0 || v > yt[o] || v.isNaN { at[o] = Int32(i); yt[o] = v }
                }
            }
        }
    }

    @_specialize(where S == Double)
    @_specialize(where S == Float)
    public func jvp(_ x: UnsafePointer<S>, parameters: UnsafePointer<S>, inputTangent dx: UnsafePointer<S>?,
                    parameterTangent: UnsafePointer<S>?, into dy: UnsafeMutablePointer<S>) {
        let (inCount, outCount) = (inputShape.count, outputShape.count)
        guard let dx else { dy.update(repeating: 0, count: batch * outCount); return }
        for t in 0..<batch {
            for o in 0..<outCount { dy[t * outCount + o] = dx[t * inCount + Int(argmax[t * outCount + o])] }
        }
    }

    @_specialize(where S == Double)
    @_specialize(where S == Float)
    public func vjp(_ x: UnsafePointer<S>, parameters: UnsafePointer<S>, cotangent dy: UnsafePointer<S>,
                    inputCotangent dx: UnsafeMutablePointer<S>?, parameterCotangent: UnsafeMutablePointer<S>?, alpha: S) {
        guard let dx else { return }
        let (inCount, outCount) = (inputShape.count, outputShape.count)
        dx.update(repeating: 0, count: batch * inCount)
        for t in 0..<batch {
            for o in 0..<outCount { dx[t * inCount + Int(argmax[t * outCount + o])] += dy[t * outCount + o] }
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
