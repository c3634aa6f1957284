import Foundation

/// A network as a sequence of layers, described the way a PyTorch user reads an
/// `nn.Sequential`: the shape of one input sample and the list of layers with their kinds and
/// hyperparameters. Its JSON form (``parse(_:name:)``):
///
///     {"input": [1, 28, 28],
///      "layers": [
///        {"kind": "conv2d", "in_channels": 1, "out_channels": 8, "kernel_size": 3, "padding": 1},
///        {"kind": "relu"},
///        {"kind": "maxpool2d", "kernel_size": 2},
///        {"kind": "residual", "body": [{"kind": "conv2d", "in_channels": 8, "out_channels": 8, "kernel_size": 3, "padding": 1},
///                                      {"kind": "relu"}]},
///        {"kind": "flatten"},
///        {"kind": "dense", "in_features": 1568, "out_features": 10}]}
///
/// Kinds, with PyTorch's class names accepted as synonyms:
/// - `dense` (`Linear`): `in_features` (optional: checked when given), `out_features`, `bias` (default true);
/// - `conv2d` (`Conv2d`): `in_channels` (optional), `out_channels`, `kernel_size`, `stride` (1),
///   `padding` (0), `bias` (true); sizes are one integer or a pair [h, w];
/// - `avgpool2d` (`AvgPool2d`), `maxpool2d` (`MaxPool2d`): `kernel_size`, `stride` (the kernel
///   size), `padding` (0);
/// - `flatten` (`Flatten`);
/// - an activation: `relu` (`ReLU`), `leaky-relu` (`LeakyReLU`, slope 0.01 as PyTorch's default),
///   `tanh` (`Tanh`), `sigmoid` (`Sigmoid`), `softplus` (`Softplus`), `erf`,
///   `normalized-softplus`, `identity` (`Identity`; Wisp's `linear` activation — the name
///   `linear` itself is refused, since PyTorch's `Linear` is a dense layer);
/// - `residual`: `body` (a list of layers) and an optional `projection` (one `conv2d` or `dense`);
/// - `layernorm` (`LayerNorm`): `normalized_shape` (default: the whole sample; else the last
///   dimensions of its input), `eps` (1e-5), `elementwise_affine` (true), `bias` (true);
/// - `batchnorm1d` (`BatchNorm1d`, flat input), `batchnorm2d` (`BatchNorm2d`, images):
///   `num_features` (optional: checked when given), `eps` (1e-5), `affine` (true); batch
///   statistics (training mode).
///
/// Every field is checked: an unknown kind or field, a missing or mistyped value, or shapes
/// that do not chain is one error naming the layer (index from 0, as in `nn.Sequential`).
public struct LayerArchitecture: Equatable, Sendable {
    /// The shape of one input sample ([features] or [channels, height, width]).
    public var input: TensorShape
    public var layers: [LayerSpec]

    public init(input: TensorShape, layers: [LayerSpec]) {
        self.input = input
        self.layers = layers
    }

    /// Builds the layers for precision `S`, checking that every shape chains.
    public func makeLayers<S: BLASScalar>(as: S.Type = S.self) throws -> [any Layer<S>] {
        try LayerSpec.makeChain(layers, input: input, as: S.self)
    }

    // MARK: Initialization

    /// Gaussian initial parameters, as `torch.nn.init.kaiming_normal_` would draw them
    /// (fan_in mode): every weight tensor W ~ N(0, g²/fan_in) with g = √2 (He) when the next
    /// layer in its chain is a ReLU (g = √(2/(1 + 0.01²)) before a leaky ReLU), else g = 1
    /// (LeCun); biases 0; a normalization layer's weight γ = 1 (``ParameterTensor/initialValue``). Tensor k of θ (in θ's order, counting from 1) is drawn from the
    /// counter-based stream (seed, weights k), so the draw depends only on the seed and the
    /// position, never on the ranks.
    public func initialParameters<S: BLASScalar>(for layers: [any Layer<S>], seed: UInt64) -> [S] {
        var gains: [Double] = []
        Self.collectGains(layers, into: &gains)
        let tensors = layers.flatMap { $0.parameterTensors }
        precondition(gains.count == tensors.count)
        var theta = [S](repeating: 0, count: tensors.reduce(0) { $0 + $1.count })
        var offset = 0
        theta.withUnsafeMutableBufferPointer { p in
            for (k, t) in tensors.enumerated() {
                if let c = t.initialValue {
                    for i in offset..<(offset + t.count) { p[i] = S(c) }
                } else if t.name == "weight" {
                    let block = UnsafeMutableBufferPointer(rebasing: p[offset..<(offset + t.count)])
                    CounterRandom(seed: seed, stream: .weights(layer: k + 1)).fillNormal(block, scale: gains[k] / Double(t.fanIn).squareRoot())
                }
                offset += t.count
            }
        }
        return theta
    }

    /// The gain of every parameter tensor, in θ's order.
    private static func collectGains<S: BLASScalar>(_ layers: [any Layer<S>], into gains: inout [Double]) {
        for (i, layer) in layers.enumerated() {
            let next = i + 1 < layers.count ? (layers[i + 1] as? ActivationLayer<S>)?.activation : nil
            let g: Double = next == .relu ? 2.0.squareRoot()
                : next == .leakyRelu ? (2 / (1 + Activation.leakySlope * Activation.leakySlope)).squareRoot() : 1
            if let r = layer as? Residual<S> {
                collectGains(r.bodyLayers, into: &gains)
                if let p = r.projection { gains += p.parameterTensors.map { _ in g } }
            } else {
                gains += layer.parameterTensors.map { _ in g }
            }
        }
    }

    // MARK: JSON

    /// Reads a description from a file (``AtomicFile/read(path:)``: regular files only, size
    /// checked against memory first); errors name the file.
    public static func read(path: String) throws -> LayerArchitecture {
        try parse(AtomicFile.read(path: path), name: path)
    }

    /// Parses the JSON form (see the type's documentation). `name` prefixes every error.
    public static func parse(_ data: Data, name: String) throws -> LayerArchitecture {
        let root: JSONValue
        do { root = try JSONDecoder().decode(JSONValue.self, from: data) } catch {
            throw WispError.badInput("\(name): not valid JSON")
        }
        do {
            guard case .object(let members) = root else { throw WispError.badInput("expected an object with \"input\" and \"layers\"") }
            for key in members.keys where !["input", "layers"].contains(key) {
                throw WispError.badInput("unknown field '\(key)' (expected \"input\" and \"layers\")")
            }
            guard let inputValue = members["input"] else { throw WispError.badInput("missing \"input\" (the shape of one sample, e.g. [1, 28, 28])") }
            let dims = try integers(inputValue, field: "input")
            guard dims.count == 1 || dims.count == 3, dims.allSatisfy({ $0 >= 1 }) else {
                throw WispError.badInput("\"input\" must be [features] or [channels, height, width] of positive integers (got \(dims))")
            }
            guard TensorShape(dims).isValid else { throw WispError.badInput("\"input\" \(dims) has 2⁴⁰ entries or more per sample") }
            guard case .array(let items)? = members["layers"] else { throw WispError.badInput("missing \"layers\" (a list of layers)") }
            let specs = try layerList(items, context: "")
            let architecture = LayerArchitecture(input: TensorShape(dims), layers: specs)
            _ = try architecture.makeLayers(as: Double.self)
            return architecture
        } catch let e as WispError {
            throw WispError.invalidConfiguration("\(name): \(e)")
        }
    }

    private static func layerList(_ items: [JSONValue], context: String) throws -> [LayerSpec] {
        guard !items.isEmpty else { throw WispError.badInput("\(context)\"layers\" is empty") }
        return try items.enumerated().map { i, item in try layer(item, index: i, context: context) }
    }

    /// PyTorch class names accepted as synonyms of Wisp's kinds.
    static let synonyms: [String: String] = [
        "Linear": "dense", "Conv2d": "conv2d", "AvgPool2d": "avgpool2d", "MaxPool2d": "maxpool2d", "Flatten": "flatten",
        "ReLU": "relu", "LeakyReLU": "leaky-relu", "Tanh": "tanh", "Sigmoid": "sigmoid", "Softplus": "softplus", "Identity": "identity",
        "LayerNorm": "layernorm", "BatchNorm1d": "batchnorm1d", "BatchNorm2d": "batchnorm2d",
    ]

    /// The known kinds, for error messages.
    static var knownKinds: String {
        (["dense", "conv2d", "avgpool2d", "maxpool2d", "flatten", "residual", "layernorm", "batchnorm1d", "batchnorm2d", "identity"]
            + Activation.allCases.filter { $0 != .linear }.map(\.rawValue)).joined(separator: ", ")
    }

    private static func layer(_ value: JSONValue, index i: Int, context: String) throws -> LayerSpec {
        guard case .object(let f) = value, case .string(let rawKind)? = f["kind"] else {
            throw WispError.badInput("\(context)layer \(i): expected an object with a \"kind\"")
        }
        let kind = synonyms[rawKind] ?? rawKind
        let label = "\(context)layer \(i) (\(rawKind))"
        func allow(_ keys: [String]) throws {
            for key in f.keys.sorted() where key != "kind" && !keys.contains(key) {
                throw WispError.badInput("\(label): unknown field '\(key)' (\(kind) takes \(keys.isEmpty ? "none" : keys.joined(separator: ", ")))")
            }
        }
        func int(_ key: String) throws -> Int? {
            guard let v = f[key] else { return nil }
            guard case .integer(let s) = v, let n = Int(s) else { throw WispError.badInput("\(label): \(key) must be an integer") }
            return n
        }
        func required(_ key: String) throws -> Int {
            guard let n = try int(key) else { throw WispError.badInput("\(label): missing \(key)") }
            return n
        }
        func size(_ key: String) throws -> [Int]? {
            guard let v = f[key] else { return nil }
            let s = try integers(v, field: key, label: label)
            guard s.count == 1 || s.count == 2 else { throw WispError.badInput("\(label): \(key) must be one integer or a pair [h, w]") }
            return s
        }
        func epsilon() throws -> Double {
            guard let v = f["eps"] else { return 1e-5 }
            let e: Double?
            switch v {
            case .number(let d): e = d
            case .integer(let s): e = Double(s)
            default: e = nil
            }
            guard let e, e > 0, e.isFinite else { throw WispError.badInput("\(label): eps must be a positive number") }
            return e
        }
        func bool(_ key: String) throws -> Bool {
            guard let v = f[key] else { return true }
            guard case .bool(let b) = v else { throw WispError.badInput("\(label): \(key) must be true or false") }
            return b
        }
        switch kind {
        case "dense":
            try allow(["in_features", "out_features", "bias"])
            return .dense(inFeatures: try int("in_features"), outFeatures: try required("out_features"), bias: try bool("bias"))
        case "conv2d":
            try allow(["in_channels", "out_channels", "kernel_size", "stride", "padding", "bias"])
            guard let kernel = try size("kernel_size") else { throw WispError.badInput("\(label): missing kernel_size") }
            return .conv2D(inChannels: try int("in_channels"), outChannels: try required("out_channels"), kernel: kernel,
                           stride: try size("stride") ?? [1], padding: try size("padding") ?? [0], bias: try bool("bias"))
        case "avgpool2d", "maxpool2d":
            try allow(["kernel_size", "stride", "padding"])
            guard let kernel = try size("kernel_size") else { throw WispError.badInput("\(label): missing kernel_size") }
            let (stride, padding) = (try size("stride"), try size("padding") ?? [0])
            return kind == "avgpool2d" ? .averagePool2D(kernel: kernel, stride: stride, padding: padding)
                : .maxPool2D(kernel: kernel, stride: stride, padding: padding)
        case "flatten":
            try allow([])
            return .flatten
        case "identity":
            try allow([])
            return .activation(.linear)
        case "residual":
            try allow(["body", "projection"])
            guard case .array(let body)? = f["body"] else { throw WispError.badInput("\(label): missing body (a list of layers)") }
            let specs = try layerList(body, context: "\(label): body ")
            let projection = try f["projection"].flatMap { v -> LayerSpec? in
                if v == .null { return nil }
                return try layer(v, index: 0, context: "\(label): projection ")
            }
            return .residual(body: specs, projection: projection)
        case "layernorm":
            try allow(["normalized_shape", "eps", "elementwise_affine", "bias"])
            let shape = try f["normalized_shape"].map { try integers($0, field: "normalized_shape", label: label) }
            if let shape, shape.isEmpty || shape.contains(where: { $0 < 1 }) {
                throw WispError.badInput("\(label): normalized_shape must be positive integers (got \(shape))")
            }
            return .layerNorm(normalizedShape: shape, epsilon: try epsilon(), elementwiseAffine: try bool("elementwise_affine"), bias: try bool("bias"))
        case "batchnorm1d", "batchnorm2d":
            try allow(["num_features", "eps", "affine"])
            return .batchNorm(dimensions: kind == "batchnorm1d" ? 1 : 2, features: try int("num_features"), epsilon: try epsilon(),
                              affine: try bool("affine"))
        case "linear":
            throw WispError.badInput("\(label): 'linear' is ambiguous: write \"dense\" (PyTorch's Linear) or \"identity\" (no activation)")
        default:
            if let a = Activation(rawValue: kind) {
                try allow([])
                return .activation(a)
            }
            throw WispError.badInput("\(label): unknown layer kind '\(rawKind)' (known: \(knownKinds))")
        }
    }

    private static func integers(_ value: JSONValue, field: String, label: String? = nil) throws -> [Int] {
        let prefix = label.map { "\($0): " } ?? ""
        switch value {
        case .integer(let s):
            guard let n = Int(s) else { throw WispError.badInput("\(prefix)\(field) must be an integer or a list of integers") }
            return [n]
        case .array(let items):
            return try items.map { item in
                guard case .integer(let s) = item, let n = Int(s) else {
                    throw WispError.badInput("\(prefix)\(field) must be an integer or a list of integers")
                }
                return n
            }
        default:
            throw WispError.badInput("\(prefix)\(field) must be an integer or a list of integers")
        }
    }

    /// The description as JSON (for output records): the form ``parse(_:name:)`` reads.
    public var jsonValue: JSONValue {
        .object(["input": .array(input.dimensions.map { .integer(String($0)) }), "layers": .array(layers.map(Self.json))])
    }

    private static func json(_ spec: LayerSpec) -> JSONValue {
        func ints(_ v: [Int]) -> JSONValue { .array(v.map { .integer(String($0)) }) }
        func int(_ n: Int) -> JSONValue { .integer(String(n)) }
        var o: [String: JSONValue] = ["kind": .string(spec.kind)]
        switch spec {
        case let .dense(inFeatures, outFeatures, bias):
            if let inFeatures { o["in_features"] = int(inFeatures) }
            o["out_features"] = int(outFeatures)
            o["bias"] = .bool(bias)
        case let .conv2D(inChannels, outChannels, kernel, stride, padding, bias):
            if let inChannels { o["in_channels"] = int(inChannels) }
            o["out_channels"] = int(outChannels)
            o["kernel_size"] = ints(kernel)
            o["stride"] = ints(stride)
            o["padding"] = ints(padding)
            o["bias"] = .bool(bias)
        case let .averagePool2D(kernel, stride, padding), let .maxPool2D(kernel, stride, padding):
            o["kernel_size"] = ints(kernel)
            if let stride { o["stride"] = ints(stride) }
            o["padding"] = ints(padding)
        case .flatten, .activation:
            break
        case let .residual(body, projection):
            o["body"] = .array(body.map(json))
            if let projection { o["projection"] = json(projection) }
        case let .layerNorm(shape, epsilon, affine, bias):
            if let shape { o["normalized_shape"] = ints(shape) }
            o["eps"] = .number(epsilon)
            o["elementwise_affine"] = .bool(affine)
            o["bias"] = .bool(bias)
        case let .batchNorm(_, features, epsilon, affine):
            if let features { o["num_features"] = int(features) }
            o["eps"] = .number(epsilon)
            o["affine"] = .bool(affine)
        }
        return .object(o)
    }
}
