/// Batch normalization (Ioffe & Szegedy 2015) with batch statistics (PyTorch's training mode),
/// `nn.BatchNorm2d(C, eps, affine)` on images [C, H, W] or `nn.BatchNorm1d(C, eps, affine)` on
/// flat samples [C]: channel c is standardized over every sample's entries of that channel
/// (n·H·W of them here, T·H·W over all processes) by their mean and biased variance,
///
///     y[t, c, ·] = γ_c (z[t, c, ·] − μ_c)/√(σ_c² + ε) + β_c,
///
/// γ, β of shape [C] (state-dict `weight`, initialized to 1, and `bias`, 0; PyTorch's
/// `running_mean`, `running_var` and `num_batches_tracked` are buffers for evaluation mode,
/// not parameters, and are not used). The statistics couple the samples: every output, and
/// every pass (``Standardization``: JVP, VJP, R-op), depends on all T samples, so each pass
/// sums its per-channel statistics over the processes through ``sampleReduction`` (a
/// ``Communicator`` in a sharded run; the engine never calls MPI), and J has no per-sample
/// block structure (``couplesSamples``). Every process must run every pass, with or without
/// samples of its own. Cost over n samples: a few multiply-adds per entry per pass plus one
/// or two reductions of a few C doubles. Memory: as ``LayerNorm``.
public final class BatchNorm<S: BLASScalar>: Layer {
    public typealias Scalar = S
    public var kind: String { inputShape.isImage ? "batchnorm2d" : "batchnorm1d" }
    public let inputShape: TensorShape
    public var outputShape: TensorShape { inputShape }
    /// C.
    public let features: Int
    public let epsilon: Double
    public let affine: Bool
    public var couplesSamples: Bool { true }
    /// Sums the statistics over every process's samples (default: this process holds them all).
    public var sampleReduction: any SampleReduction {
        didSet { connect() }
    }
    private let standardization: Standardization<S>

    /// Throws unless the input is [C] or [C, H, W] with C = `features` (when given) and ε is
    /// positive and finite.
    public init(input: TensorShape, features: Int? = nil, epsilon: Double = 1e-5, affine: Bool = true,
                sampleReduction: any SampleReduction = LocalSamples()) throws {
        guard input.isValid, input.isFlat || input.isImage else {
            throw WispError.invalidConfiguration("batchnorm takes [features] (batchnorm1d) or [channels, height, width] (batchnorm2d) but receives \(input)")
        }
        let c = input.dimensions[0]
        if let features, features != c {
            throw WispError.invalidConfiguration("batchnorm has num_features \(features) but receives \(input)")
        }
        guard epsilon > 0, epsilon.isFinite else { throw WispError.invalidConfiguration("batchnorm eps must be positive and finite (got \(epsilon))") }
        inputShape = input
        self.features = c
        self.epsilon = epsilon
        self.affine = affine
        self.sampleReduction = sampleReduction
        standardization = Standardization(runLength: input.count / c, runsPerSample: c, channels: c, epsilon: epsilon)
        connect()
    }

    private func connect() {
        let reduction = sampleReduction
        standardization.reduce = { reduction.sumOverSamples($0) }
    }

    public var parameterCount: Int { affine ? 2 * features : 0 }

    public var parameterTensors: [ParameterTensor] {
        affine ? [ParameterTensor(name: "weight", shape: [features], fanIn: inputShape.count / features, initialValue: 1),
                  ParameterTensor(name: "bias", shape: [features], fanIn: inputShape.count / features)] : []
    }

    public func flops(batch n: Int) -> LayerFlops {
        let m = Double(n) * Double(inputShape.count)
        return LayerFlops(forward: 5 * m, jvp: 6 * m, vjp: 7 * m)
    }

    private func gamma(_ theta: UnsafePointer<S>) -> UnsafePointer<S>? { affine ? theta : nil }
    private func beta(_ theta: UnsafePointer<S>) -> UnsafePointer<S>? { affine ? theta + features : nil }

    public func forward(_ x: UnsafePointer<S>, parameters theta: UnsafePointer<S>, batch n: Int, into y: UnsafeMutablePointer<S>) {
        standardization.forward(x, scale: gamma(theta), shift: beta(theta), batch: n, into: y)
    }

    public func jvp(_ x: UnsafePointer<S>, parameters theta: UnsafePointer<S>, inputTangent dx: UnsafePointer<S>?,
                    parameterTangent dtheta: UnsafePointer<S>?, into dy: UnsafeMutablePointer<S>) {
        standardization.jvp(dx, scale: gamma(theta), scaleTangent: dtheta.flatMap(gamma), shiftTangent: dtheta.flatMap(beta), into: dy)
    }

    public func vjp(_ x: UnsafePointer<S>, parameters theta: UnsafePointer<S>, cotangent dy: UnsafePointer<S>,
                    inputCotangent dx: UnsafeMutablePointer<S>?, parameterCotangent dtheta: UnsafeMutablePointer<S>?, alpha: S) {
        standardization.vjp(dy, scale: gamma(theta), affineCount: features, inputCotangent: dx,
                            scaleCotangent: affine ? dtheta : nil, shiftCotangent: affine ? dtheta.map { $0 + features } : nil, alpha: alpha)
    }

    public func rOperator(_ x: UnsafePointer<S>, parameters theta: UnsafePointer<S>,
                          inputTangent dx: UnsafePointer<S>?, parameterTangent dtheta: UnsafePointer<S>?,
                          cotangent dy: UnsafePointer<S>, cotangentTangent rdy: UnsafePointer<S>?,
                          inputCotangent xbar: UnsafeMutablePointer<S>?, inputCotangentTangent rxbar: UnsafeMutablePointer<S>?,
                          parameterCotangentTangent rtheta: UnsafeMutablePointer<S>?, alpha: S) {
        standardization.rOperator(inputTangent: dx, scale: gamma(theta), scaleTangent: dtheta.flatMap(gamma), cotangent: dy,
                                  cotangentTangent: rdy, affineCount: features, inputCotangent: xbar, inputCotangentTangent: rxbar,
                                  scaleCotangentTangent: affine ? rtheta : nil,
                                  shiftCotangentTangent: affine ? rtheta.map { $0 + features } : nil, alpha: alpha)
    }
}
