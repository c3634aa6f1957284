/// An elementwise nonlinearity as a layer (`nn.ReLU()`, `nn.Tanh()`, …; any of Wisp's
/// ``Activation``s, computed by ``Activation/apply(_:value:derivative:count:)``):
///
///     forward  y = φ(x)     JVP  ẏ = φ'(x) ⊙ ẋ     VJP  x̄ = φ'(x) ⊙ ȳ
///
/// and the R-operator R{x̄} = φ'(x) ⊙ Rȳ + φ''(x) ⊙ ẋ ⊙ ȳ, on any shape. ReLU's φ'(0) is 0
/// (as in PyTorch); ReLU, leaky ReLU and the identity have φ'' = 0 (``Activation/applySecondDerivative(_:into:count:)``).
/// Cost over n samples: one evaluation of φ and φ' per entry forward, n·count multiplies per
/// JVP or VJP, 3·n·count per R-op (and φ'' once per batch). Caches φ'(x) (n·count scalars)
/// and, from the first R-op on a batch, φ''(x) (n·count more).
public final class ActivationLayer<S: BLASScalar>: Layer {
    public typealias Scalar = S
    public let activation: Activation
    public var kind: String { activation.rawValue }
    public let inputShape: TensorShape
    public var outputShape: TensorShape { inputShape }
    public var parameterCount: Int { 0 }
    public var parameterTensors: [ParameterTensor] { [] }
    private var batch = 0
    private let slopes = LayerBuffer<S>()
    private let curvatures = LayerBuffer<S>()
    /// Whether `curvatures` holds φ''(x) of the cached batch.
    private var hasCurvatures = false

    public init(input: TensorShape, activation: Activation) throws {
        guard input.isValid else { throw WispError.invalidConfiguration("\(activation.rawValue) receives an invalid shape \(input) (an empty extent, or 2⁴⁰ entries or more)") }
        inputShape = input
        self.activation = activation
    }

    public func flops(batch n: Int) -> LayerFlops {
        let m = Double(n) * Double(inputShape.count)
        return LayerFlops(forward: m, jvp: m, vjp: m)
    }

    @_specialize(where S == Double)
    @_specialize(where S == Float)
    public func forward(_ x: UnsafePointer<S>, parameters: UnsafePointer<S>, batch n: Int, into y: UnsafeMutablePointer<S>) {
        batch = n
        hasCurvatures = false
        let count = n * inputShape.count
        activation.apply(x, value: y, derivative: slopes.reserve(count), count: count)
    }

    public func jvp(_ x: UnsafePointer<S>, parameters: UnsafePointer<S>, inputTangent dx: UnsafePointer<S>?,
                    parameterTangent: UnsafePointer<S>?, into dy: UnsafeMutablePointer<S>) {
        let count = batch * inputShape.count
        guard let dx else { dy.update(repeating: 0, count: count); return }
        dy.update(from: dx, count: count)
        S.multiply(dy, by: slopes.pointer, count: count)
    }

    public func vjp(_ x: UnsafePointer<S>, parameters: UnsafePointer<S>, cotangent dy: UnsafePointer<S>,
                    inputCotangent dx: UnsafeMutablePointer<S>?, parameterCotangent: UnsafeMutablePointer<S>?, alpha: S) {
        guard let dx else { return }
        let count = batch * inputShape.count
        dx.update(from: dy, count: count)
        S.multiply(dx, by: slopes.pointer, count: count)
    }

    /// Whether φ'' vanishes identically (piecewise linear activations).
    private var isPiecewiseLinear: Bool { activation == .relu || activation == .leakyRelu || activation == .linear }

    public func rOperator(_ x: UnsafePointer<S>, parameters: UnsafePointer<S>,
                          inputTangent dx: UnsafePointer<S>?, parameterTangent: UnsafePointer<S>?,
                          cotangent dy: UnsafePointer<S>, cotangentTangent rdy: UnsafePointer<S>?,
                          inputCotangent xbar: UnsafeMutablePointer<S>?, inputCotangentTangent rxbar: UnsafeMutablePointer<S>?,
                          parameterCotangentTangent: UnsafeMutablePointer<S>?, alpha: S) {
        let count = batch * inputShape.count
        if let xbar {
            xbar.update(from: dy, count: count)
            S.multiply(xbar, by: slopes.pointer, count: count)
        }
        guard let rxbar else { return }
        if let rdy {
            rxbar.update(from: rdy, count: count)
            S.multiply(rxbar, by: slopes.pointer, count: count)
        } else {
            rxbar.update(repeating: 0, count: count)
        }
        guard let dx, !isPiecewiseLinear else { return }
        if !hasCurvatures {
            activation.applySecondDerivative(x, into: curvatures.reserve(count), count: count)
            hasCurvatures = true
        }
        // R{x̄} += φ''(x) ⊙ ẋ ⊙ ȳ.
        let c = curvatures.pointer
        for i in 0..<count { rxbar[i] += c[i] * dx[i] * dy[i] }
    }
}
