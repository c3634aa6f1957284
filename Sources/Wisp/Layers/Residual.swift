/// A residual block y = P(x) + F(x) (He et al. 2016), F a chain of layers (the body) and P
/// the shortcut: the identity, or a projection (a 1×1 ``Conv2D``, possibly strided, or a
/// ``Dense``) when F changes the shape. θ = [θ_F, θ_P] (the body's blocks in order, then the
/// projection's: PyTorch's ResNet block registers its convolutions before its `downsample`).
///
///     JVP  ẏ = J_F,x ẋ + J_F,θ θ̇_F + J_P,x ẋ + J_P,θ θ̇_P     (J_P,x = I, no θ_P for the identity)
///     VJP  x̄ = J_F,xᵀ ȳ + J_P,xᵀ ȳ,   θ̄_F = α J_F,θᵀ ȳ,   θ̄_P = α J_P,θᵀ ȳ
///
///     R-op x̄ = x̄_F + x̄_P,  R{x̄} = R{x̄_F} + R{x̄_P},  R{θ̄} = [R{θ̄_F}, R{θ̄_P}]   (identity: x̄_P = ȳ, R{x̄_P} = Rȳ)
///
/// (the body's R-op reruns its JVP from ẋ to keep its inner tangents: one more body JVP).
/// Cost: the body's plus the projection's (or n·count additions for the identity). Memory: the
/// body's cache and one block of n·count (the projection's output or its input cotangent).
public final class Residual<S: BLASScalar>: Layer {
    public typealias Scalar = S
    public var kind: String { "residual" }
    public var inputShape: TensorShape { body.inputShape }
    public var outputShape: TensorShape { body.outputShape }
    public let parameterCount: Int
    /// The layers of F.
    public var bodyLayers: [any Layer<S>] { body.layers }
    public let projection: (any Layer<S>)?
    private let body: LayerChain<S>
    private var batch = 0
    private let scratch = LayerBuffer<S>()
    private let scratchR = LayerBuffer<S>()

    /// Throws when the body's layers do not chain, or the shortcut (identity or projection)
    /// does not map the input to the body's output shape.
    public init(body layers: [any Layer<S>], projection: (any Layer<S>)? = nil) throws {
        body = try LayerChain(layers: layers, context: "residual body: ")
        self.projection = projection
        if let projection {
            guard projection.inputShape == body.inputShape, projection.outputShape == body.outputShape else {
                throw WispError.invalidConfiguration(
                    "residual projection (\(projection.kind)) maps \(projection.inputShape) to \(projection.outputShape) but the body maps \(body.inputShape) to \(body.outputShape)")
            }
        } else if body.inputShape != body.outputShape {
            throw WispError.invalidConfiguration(
                "residual body maps \(body.inputShape) to \(body.outputShape): the identity shortcut needs equal shapes (add a projection)")
        }
        parameterCount = body.parameterCount + (projection?.parameterCount ?? 0)
    }

    public var parameterTensors: [ParameterTensor] { body.parameterTensors + (projection?.parameterTensors ?? []) }

    public var couplesSamples: Bool { body.couplesSamples || projection?.couplesSamples == true }

    public func flops(batch n: Int) -> LayerFlops {
        let add = Double(n) * Double(outputShape.count)
        return body.flops(batch: n) + (projection?.flops(batch: n) ?? LayerFlops(forward: add, jvp: add, vjp: add))
    }

    public func forward(_ x: UnsafePointer<S>, parameters theta: UnsafePointer<S>, batch n: Int, into y: UnsafeMutablePointer<S>) {
        batch = n
        let count = n * outputShape.count
        body.forward(x, parameters: theta, batch: n, into: y)
        if let projection {
            let p = scratch.reserve(count)
            projection.forward(x, parameters: theta + body.parameterCount, batch: n, into: p)
            addInPlace(y, p, count: count)
        } else {
            addInPlace(y, x, count: count)
        }
        scratch.reserve(max(count, n * inputShape.count))
    }

    public func jvp(_ x: UnsafePointer<S>, parameters theta: UnsafePointer<S>, inputTangent dx: UnsafePointer<S>?,
                    parameterTangent dtheta: UnsafePointer<S>?, into dy: UnsafeMutablePointer<S>) {
        let count = batch * outputShape.count
        body.jvp(x, parameters: theta, inputTangent: dx, parameterTangent: dtheta, into: dy)
        if let projection {
            projection.jvp(x, parameters: theta + body.parameterCount, inputTangent: dx,
                           parameterTangent: dtheta.map { $0 + body.parameterCount }, into: scratch.pointer)
            addInPlace(dy, scratch.pointer, count: count)
        } else if let dx {
            addInPlace(dy, dx, count: count)
        }
    }

    public func vjp(_ x: UnsafePointer<S>, parameters theta: UnsafePointer<S>, cotangent dy: UnsafePointer<S>,
                    inputCotangent dx: UnsafeMutablePointer<S>?, parameterCotangent dtheta: UnsafeMutablePointer<S>?, alpha: S) {
        body.vjp(x, parameters: theta, cotangent: dy, inputCotangent: dx, parameterCotangent: dtheta, alpha: alpha)
        if let projection {
            projection.vjp(x, parameters: theta + body.parameterCount, cotangent: dy, inputCotangent: dx == nil ? nil : scratch.pointer,
                           parameterCotangent: dtheta.map { $0 + body.parameterCount }, alpha: alpha)
            if let dx { addInPlace(dx, scratch.pointer, count: batch * inputShape.count) }
        } else if let dx {
            addInPlace(dx, dy, count: batch * inputShape.count)
        }
    }

    public func rOperator(_ x: UnsafePointer<S>, parameters theta: UnsafePointer<S>,
                          inputTangent dx: UnsafePointer<S>?, parameterTangent dtheta: UnsafePointer<S>?,
                          cotangent dy: UnsafePointer<S>, cotangentTangent rdy: UnsafePointer<S>?,
                          inputCotangent xbar: UnsafeMutablePointer<S>?, inputCotangentTangent rxbar: UnsafeMutablePointer<S>?,
                          parameterCotangentTangent rtheta: UnsafeMutablePointer<S>?, alpha: S) {
        let inCount = batch * inputShape.count
        body.rOperator(x, parameters: theta, inputTangent: dx, parameterTangent: dtheta, cotangent: dy, cotangentTangent: rdy,
                       inputCotangent: xbar, inputCotangentTangent: rxbar, parameterCotangentTangent: rtheta, alpha: alpha)
        if let projection {
            let a = xbar == nil ? nil : scratch.reserve(inCount)
            let b = rxbar == nil ? nil : scratchR.reserve(inCount)
            projection.rOperator(x, parameters: theta + body.parameterCount, inputTangent: dx,
                                 parameterTangent: dtheta.map { $0 + body.parameterCount }, cotangent: dy, cotangentTangent: rdy,
                                 inputCotangent: a, inputCotangentTangent: b,
                                 parameterCotangentTangent: rtheta.map { $0 + body.parameterCount }, alpha: alpha)
            if let xbar, let a { addInPlace(xbar, a, count: inCount) }
            if let rxbar, let b { addInPlace(rxbar, b, count: inCount) }
        } else {
            if let xbar { addInPlace(xbar, dy, count: inCount) }
            if let rxbar, let rdy { addInPlace(rxbar, rdy, count: inCount) }
        }
    }
}
