/// Layer normalization (Ba et al. 2016), PyTorch's `nn.LayerNorm(normalized_shape, eps,
/// elementwise_affine, bias)`: every sample's entries are split into groups over the last
/// dimensions `normalized_shape` (by default the whole sample, e.g. [C, H, W] or [features]),
/// and each group is standardized by its own mean and biased variance and mapped elementwise,
///
///     y = γ ⊙ (z − μ)/√(σ² + ε) + β,   μ, σ² over the D = |normalized_shape| entries of the group,
///
/// with γ, β of shape `normalized_shape` (state-dict `weight`, initialized to 1, and `bias`, 0).
/// The forward pass, JVP, VJP and R-operator are ``Standardization``'s with one group per
/// run of D entries; samples are independent. Cost over n samples: a few multiply-adds per
/// entry per pass. Memory: the standardized entries (n·count scalars), one scalar per group,
/// and up to three scratch blocks of n·count for the VJP and R-op.
public final class LayerNorm<S: BLASScalar>: Layer {
    public typealias Scalar = S
    public var kind: String { "layernorm" }
    public let inputShape: TensorShape
    public var outputShape: TensorShape { inputShape }
    public let normalizedShape: [Int]
    public let epsilon: Double
    public let elementwiseAffine: Bool
    public let hasBias: Bool
    /// D, the entries of one group.
    private let groupLength: Int
    private let standardization: Standardization<S>

    /// Throws unless `normalizedShape` (nil: the whole input shape) is a suffix of the input's
    /// shape and ε is positive and finite.
    public init(input: TensorShape, normalizedShape: [Int]? = nil, epsilon: Double = 1e-5, elementwiseAffine: Bool = true,
                bias: Bool = true) throws {
        guard input.isValid else { throw WispError.invalidConfiguration("layernorm receives an invalid shape \(input)") }
        let shape = normalizedShape ?? input.dimensions
        guard !shape.isEmpty, shape.count <= input.dimensions.count, Array(input.dimensions.suffix(shape.count)) == shape else {
            throw WispError.invalidConfiguration("layernorm normalized_shape \(shape) must be the last dimensions of its input \(input)")
        }
        guard epsilon > 0, epsilon.isFinite else { throw WispError.invalidConfiguration("layernorm eps must be positive and finite (got \(epsilon))") }
        inputShape = input
        self.normalizedShape = shape
        self.epsilon = epsilon
        self.elementwiseAffine = elementwiseAffine
        self.hasBias = elementwiseAffine && bias
        groupLength = shape.reduce(1, *)
        standardization = Standardization(runLength: groupLength, runsPerSample: input.count / groupLength, channels: nil, epsilon: epsilon)
    }

    /// D, the entries of one group (γ's and β's length).
    var affineLength: Int { groupLength }

    /// ẑ of the last forward pass (n·count entries, sample-major; a sample's groups are its runs
    /// of D entries): what ∇γ f = Σ_groups ȳ ⊙ ẑ needs (``LayerTangentKernel``).
    var normalizedEntries: UnsafePointer<S> { UnsafePointer(standardization.normalized.pointer) }

    public var parameterCount: Int { (elementwiseAffine ? groupLength : 0) + (hasBias ? groupLength : 0) }

    public var parameterTensors: [ParameterTensor] {
        (elementwiseAffine ? [ParameterTensor(name: "weight", shape: normalizedShape, fanIn: groupLength, initialValue: 1)] : [])
            + (hasBias ? [ParameterTensor(name: "bias", shape: normalizedShape, fanIn: groupLength)] : [])
    }

    public func flops(batch n: Int) -> LayerFlops {
        let m = Double(n) * Double(inputShape.count)
        return LayerFlops(forward: 5 * m, jvp: 6 * m, vjp: 7 * m)
    }

    private func gamma(_ theta: UnsafePointer<S>) -> UnsafePointer<S>? { elementwiseAffine ? theta : nil }
    private func beta(_ theta: UnsafePointer<S>) -> UnsafePointer<S>? { hasBias ? theta + groupLength : nil }

    public func forward(_ x: UnsafePointer<S>, parameters theta: UnsafePointer<S>, batch n: Int, into y: UnsafeMutablePointer<S>) {
        standardization.forward(x, scale: gamma(theta), shift: beta(theta), batch: n, into: y)
    }

    public func jvp(_ x: UnsafePointer<S>, parameters theta: UnsafePointer<S>, inputTangent dx: UnsafePointer<S>?,
                    parameterTangent dtheta: UnsafePointer<S>?, into dy: UnsafeMutablePointer<S>) {
        standardization.jvp(dx, scale: gamma(theta), scaleTangent: dtheta.flatMap(gamma), shiftTangent: dtheta.flatMap(beta), into: dy)
    }

    public func vjp(_ x: UnsafePointer<S>, parameters theta: UnsafePointer<S>, cotangent dy: UnsafePointer<S>,
                    inputCotangent dx: UnsafeMutablePointer<S>?, parameterCotangent dtheta: UnsafeMutablePointer<S>?, alpha: S) {
        standardization.vjp(dy, scale: gamma(theta), affineCount: groupLength, inputCotangent: dx,
                            scaleCotangent: elementwiseAffine ? dtheta : nil, shiftCotangent: hasBias ? dtheta.map { $0 + groupLength } : nil,
                            alpha: alpha)
    }

    public func rOperator(_ x: UnsafePointer<S>, parameters theta: UnsafePointer<S>,
                          inputTangent dx: UnsafePointer<S>?, parameterTangent dtheta: UnsafePointer<S>?,
                          cotangent dy: UnsafePointer<S>, cotangentTangent rdy: UnsafePointer<S>?,
                          inputCotangent xbar: UnsafeMutablePointer<S>?, inputCotangentTangent rxbar: UnsafeMutablePointer<S>?,
                          parameterCotangentTangent rtheta: UnsafeMutablePointer<S>?, alpha: S) {
        standardization.rOperator(inputTangent: dx, scale: gamma(theta), scaleTangent: dtheta.flatMap(gamma), cotangent: dy,
                                  cotangentTangent: rdy, affineCount: groupLength, inputCotangent: xbar, inputCotangentTangent: rxbar,
                                  scaleCotangentTangent: elementwiseAffine ? rtheta : nil,
                                  shiftCotangentTangent: hasBias ? rtheta.map { $0 + groupLength } : nil, alpha: alpha)
    }
}
