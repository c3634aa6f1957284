/// PyTorch's `nn.Flatten()`: a sample of shape [C, H, W] (or any shape) becomes the flat
/// vector of its C·H·W entries in row-major order. The identity on the batch's memory:
/// ẏ = ẋ, x̄ = ȳ, R{x̄} = Rȳ. Cost: one copy of n·C·H·W scalars per pass; no parameters, no cache.
public final class Flatten<S: BLASScalar>: Layer {
    public typealias Scalar = S
    public var kind: String { "flatten" }
    public let inputShape: TensorShape
    public let outputShape: TensorShape
    public var parameterCount: Int { 0 }
    public var parameterTensors: [ParameterTensor] { [] }
    private var batch = 0

    public init(input: TensorShape) throws {
        guard input.isValid else { throw WispError.invalidConfiguration("flatten receives an invalid shape \(input) (an empty extent, or 2⁴⁰ entries or more)") }
        inputShape = input
        outputShape = .features(input.count)
    }

    public func flops(batch n: Int) -> LayerFlops { .zero }

    public func forward(_ x: UnsafePointer<S>, parameters: UnsafePointer<S>, batch n: Int, into y: UnsafeMutablePointer<S>) {
        batch = n
        y.update(from: x, count: n * inputShape.count)
    }

    public func jvp(_ x: UnsafePointer<S>, parameters: UnsafePointer<S>, inputTangent dx: UnsafePointer<S>?,
                    parameterTangent: UnsafePointer<S>?, into dy: UnsafeMutablePointer<S>) {
        if let dx { dy.update(from: dx, count: batch * inputShape.count) } else { dy.update(repeating: 0, count: batch * inputShape.count) }
    }

    public func vjp(_ x: UnsafePointer<S>, parameters: UnsafePointer<S>, cotangent dy: UnsafePointer<S>,
                    inputCotangent dx: UnsafeMutablePointer<S>?, parameterCotangent: UnsafeMutablePointer<S>?, alpha: S) {
        dx?.update(from: dy, count: batch * inputShape.count)
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
