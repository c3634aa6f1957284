/// An elementwise nonlinearity as a layer (`nn.ReLU()`, `nn.Tanh()`, …; any of Wisp's
/// ``Activation``s, computed by ``Activation/apply(_:value:derivative:count:)``):
///
///     forward  y = φ(x)     JVP  ẏ = φ'(x) ⊙ ẋ     VJP  x̄ = φ'(x) ⊙ ȳ
///
/// on any shape. ReLU's φ'(0) is 0 (as in PyTorch). Cost over n samples: one evaluation of φ
/// and φ' per entry forward, n·count multiplies per JVP or VJP. Caches φ'(x) (n·count scalars).
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
}
