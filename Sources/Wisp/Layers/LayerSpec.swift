/// The description of one layer, independent of its input shape and precision: what an
/// `nn.Sequential` entry says (kind and hyperparameters). ``make(input:)`` builds the layer
/// for a given input shape, checking that the two fit.
public indirect enum LayerSpec: Equatable, Sendable {
    /// `nn.Linear(in_features, out_features, bias)`; `inFeatures` nil: whatever arrives.
    case dense(inFeatures: Int?, outFeatures: Int, bias: Bool)
    /// `nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias)`.
    case conv2D(inChannels: Int?, outChannels: Int, kernel: [Int], stride: [Int], padding: [Int], bias: Bool)
    /// `nn.AvgPool2d(kernel_size, stride, padding)`; stride nil: the kernel size.
    case averagePool2D(kernel: [Int], stride: [Int]?, padding: [Int])
    /// `nn.MaxPool2d(kernel_size, stride, padding)`; stride nil: the kernel size.
    case maxPool2D(kernel: [Int], stride: [Int]?, padding: [Int])
    /// `nn.Flatten()`.
    case flatten
    /// An elementwise nonlinearity (`nn.ReLU()`, `nn.Tanh()`, …).
    case activation(Activation)
    /// y = P(x) + F(x): F the body, P the identity or the projection (a conv2d or dense).
    case residual(body: [LayerSpec], projection: LayerSpec?)
    /// `nn.LayerNorm(normalized_shape, eps, elementwise_affine, bias)`; normalized shape nil:
    /// the whole sample.
    case layerNorm(normalizedShape: [Int]?, epsilon: Double, elementwiseAffine: Bool, bias: Bool)
    /// `nn.BatchNorm1d(num_features, eps, affine)` (`dimensions` 1, flat input) or
    /// `nn.BatchNorm2d` (2, image input), with batch statistics; `features` nil: whatever arrives.
    case batchNorm(dimensions: Int, features: Int?, epsilon: Double, affine: Bool)

    /// The kind as written in architecture descriptions.
    public var kind: String {
        switch self {
        case .dense: return "dense"
        case .conv2D: return "conv2d"
        case .averagePool2D: return "avgpool2d"
        case .maxPool2D: return "maxpool2d"
        case .flatten: return "flatten"
        case .activation(let a): return a == .linear ? "identity" : a.rawValue
        case .residual: return "residual"
        case .layerNorm: return "layernorm"
        case .batchNorm(let d, _, _, _): return "batchnorm\(d)d"
        }
    }

    /// The layer for samples of shape `input`. Errors name the hyperparameter and the shape.
    public func make<S: BLASScalar>(input: TensorShape, as: S.Type = S.self) throws -> any Layer<S> {
        switch self {
        case let .dense(inFeatures, outFeatures, bias):
            return try Dense<S>(input: input, inFeatures: inFeatures, outFeatures: outFeatures, bias: bias)
        case let .conv2D(inChannels, outChannels, kernel, stride, padding, bias):
            return try Conv2D<S>(input: input, inChannels: inChannels, outChannels: outChannels,
                                 kernel: try Self.pair(kernel, "kernel_size"), stride: try Self.pair(stride, "stride"),
                                 padding: try Self.pair(padding, "padding"), bias: bias)
        case let .averagePool2D(kernel, stride, padding):
            return try AveragePool2D<S>(input: input, kernel: try Self.pair(kernel, "kernel_size"),
                                        stride: try stride.map { try Self.pair($0, "stride") }, padding: try Self.pair(padding, "padding"))
        case let .maxPool2D(kernel, stride, padding):
            return try MaxPool2D<S>(input: input, kernel: try Self.pair(kernel, "kernel_size"),
                                    stride: try stride.map { try Self.pair($0, "stride") }, padding: try Self.pair(padding, "padding"))
        case .flatten:
            return try Flatten<S>(input: input)
        case .activation(let a):
            return try ActivationLayer<S>(input: input, activation: a)
        case let .residual(body, projection):
            let layers = try LayerSpec.makeChain(body, input: input, as: S.self, context: "residual body: ")
            if let projection {
                switch projection {
                case .dense, .conv2D: break
                default:
                    throw WispError.invalidConfiguration("residual projection must be a conv2d or a dense layer (got \(projection.kind))")
                }
            }
            let p = try projection.map { spec -> any Layer<S> in
                do { return try spec.make(input: input, as: S.self) } catch let e as WispError {
                    throw WispError.invalidConfiguration("residual projection (\(spec.kind)): \(e)")
                }
            }
            return try Residual<S>(body: layers, projection: p)
        case let .layerNorm(shape, epsilon, affine, bias):
            return try LayerNorm<S>(input: input, normalizedShape: shape, epsilon: epsilon, elementwiseAffine: affine, bias: bias)
        case let .batchNorm(dimensions, features, epsilon, affine):
            guard dimensions == 1 ? input.isFlat : input.isImage else {
                throw WispError.invalidConfiguration(dimensions == 1
                    ? "batchnorm1d takes a flat input [features] but receives \(input) (use batchnorm2d for images)"
                    : "batchnorm2d takes an image input [channels, height, width] but receives \(input) (use batchnorm1d for features)")
            }
            return try BatchNorm<S>(input: input, features: features, epsilon: epsilon, affine: affine)
        }
    }

    /// The layers of `specs` in order, each built for its predecessor's output shape; an
    /// error names the layer index (0-based, as in `nn.Sequential`) and kind.
    public static func makeChain<S: BLASScalar>(_ specs: [LayerSpec], input: TensorShape, as: S.Type = S.self,
                                                context: String = "") throws -> [any Layer<S>] {
        guard !specs.isEmpty else { throw WispError.invalidConfiguration("\(context)a network needs at least one layer") }
        var shape = input
        var layers: [any Layer<S>] = []
        for (i, spec) in specs.enumerated() {
            do {
                let layer = try spec.make(input: shape, as: S.self)
                layers.append(layer)
                shape = layer.outputShape
            } catch let e as WispError {
                throw WispError.invalidConfiguration("\(context)layer \(i) (\(spec.kind)): \(e)")
            }
        }
        return layers
    }

    /// A 2-D hyperparameter given as one or two integers.
    static func pair(_ v: [Int], _ name: String) throws -> (Int, Int) {
        switch v.count {
        case 1: return (v[0], v[0])
        case 2: return (v[0], v[1])
        default: throw WispError.invalidConfiguration("\(name) must be one integer or two (got \(v))")
        }
    }
}
