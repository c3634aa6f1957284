/// A network given as a sequence of layers (PyTorch's `nn.Sequential`), with its parameters
/// and the forward cache of one batch of samples: the differentiation core of the layer path.
///
///     f(x; θ) = f_k(… f_1(x; θ_1) …; θ_k),   θ = [θ_1, …, θ_k]
///
/// θ is laid out as the concatenation, in layer order, of each layer's tensors in PyTorch
/// state-dict order (weight then bias, each row-major in PyTorch's shape), so for a pure
/// dense + activation sequence it is exactly the ``Architecture`` layout of the MLP path, and
/// a state dict of an `nn.Sequential` flattened in key order is θ (``parameterNames``).
///
/// After ``forward(_:)`` over this process's samples (n of them):
///
///     jvp   out = J v   (n × C, sample-major)        v: P
///     vjp   g = α Jᵀ u  (P)                           u: n × C
///
/// with J the n·C × P Jacobian of the outputs with respect to θ, by the layers' hand-written
/// passes (``LayerChain``), and the second-order pass (``hessianVectorProduct(_:signal:topTangent:into:)``,
/// Pearlmutter's R-operator)
///
///     g = R_v{Jᵀ Δ} = Jᵀ dΔ + Σ_(t,k) Δ_tk ∇²f_k(x_t) v,   dΔ = topTangent(J v)
///
/// which with Δ = r/T (r = ∂ℓ/∂f) and dΔ = (1/T) H_ℓ J v is H v of L = (1/T) Σ_t ℓ(f_t, y_t)
/// (``LayerHessianOperator``). Cost: ``flops(batch:)`` summed over the layers; a J v plus a Jᵀ u is
/// ``flopsPerProduct``. Memory: every layer's output and cache over the batch.
///
/// Not thread-safe: the passes share the layers' caches and scratch.
public final class LayerSequence<S: BLASScalar> {
    public var layers: [any Layer<S>] { chain.layers }
    public var inputShape: TensorShape { chain.inputShape }
    public var outputShape: TensorShape { chain.outputShape }
    /// P.
    public var parameterCount: Int { chain.parameterCount }
    /// C, outputs per sample.
    public var outputCount: Int { chain.outputShape.count }
    /// θ (replaced in place by ``setParameters(_:)``).
    public private(set) var parameters: [S]
    /// Samples of the last forward pass.
    public private(set) var sampleCount = 0
    /// T over all processes, from the last ``forward(_:)`` over a ``Dataset``.
    public private(set) var totalSamples = 0
    private let chain: LayerChain<S>
    private let inputs = LayerBuffer<S>()
    private let outputBuffer = LayerBuffer<S>()
    private let topBuffer = LayerBuffer<S>()

    /// Checks that the layers chain (one error naming the layer index, kind and both shapes)
    /// and that θ has P finite entries.
    public init(layers: [any Layer<S>], parameters: [S]) throws {
        chain = try LayerChain(layers: layers)
        guard parameters.count == chain.parameterCount else {
            throw WispError.badInput("the layers have \(chain.parameterCount) parameters, got \(parameters.count)")
        }
        if let bad = parameters.firstIndex(where: { !$0.isFinite }) {
            throw WispError.nonFinite("parameter \(bad) (\(Self.names(chain.layers)[Self.tensorIndex(of: bad, chain.layers)])) is \(parameters[bad])")
        }
        self.parameters = parameters
    }

    /// Replaces θ in place (P values, converted to S; no reallocation) without rerunning the
    /// forward pass: the caches hold the previous θ's batch until the next ``forward(_:)``.
    /// Throws, leaving θ unchanged, if `theta` has not P finite entries.
    public func setParameters(_ theta: [Double]) throws {
        guard theta.count == parameters.count else {
            throw WispError.badInput("the layers have \(parameters.count) parameters, got \(theta.count)")
        }
        if let bad = theta.firstIndex(where: { !$0.isFinite }) {
            throw WispError.nonFinite("parameter \(bad) (\(Self.names(chain.layers)[Self.tensorIndex(of: bad, chain.layers)])) is \(theta[bad])")
        }
        let count = theta.count
        guard count > 0 else { return }
        theta.withUnsafeBufferPointer { src in
            parameters.withUnsafeMutableBufferPointer { S.convert(src.baseAddress!, to: $0.baseAddress!, count: count) }
        }
    }

    /// Builds the layers of `specs` for inputs of shape `input` (``LayerSpec/makeChain(_:input:as:context:)``).
    public convenience init(input: TensorShape, layers specs: [LayerSpec], parameters: [S]) throws {
        try self.init(layers: try LayerSpec.makeChain(specs, input: input, as: S.self), parameters: parameters)
    }

    /// The state-dict names of θ's tensors, in θ's order: "i.weight", "i.bias" with i the
    /// layer index ("i.body.j.weight", "i.projection.weight" inside a residual block).
    public var parameterNames: [String] { Self.names(chain.layers) }

    /// Every parameter tensor in θ's order (``parameterNames`` gives their names).
    public var parameterTensors: [ParameterTensor] { chain.parameterTensors }

    static func names(_ layers: [any Layer<S>], prefix: String = "") -> [String] {
        var names: [String] = []
        for (i, layer) in layers.enumerated() {
            if let r = layer as? Residual<S> {
                names += Self.names(r.bodyLayers, prefix: "\(prefix)\(i).body.")
                names += r.projection.map { p in p.parameterTensors.map { "\(prefix)\(i).projection.\($0.name)" } } ?? []
            } else {
                names += layer.parameterTensors.map { "\(prefix)\(i).\($0.name)" }
            }
        }
        return names
    }

    static func tensorIndex(of parameter: Int, _ layers: [any Layer<S>]) -> Int {
        var end = 0
        for (k, t) in layers.flatMap({ $0.parameterTensors }).enumerated() {
            end += t.count
            if parameter < end { return k }
        }
        return 0
    }

    // MARK: Passes

    /// The forward pass over this process's samples (inputs row-major, one sample per row, of
    /// ``inputShape``.count features); caches what ``jvp(_:into:)`` and ``vjp(_:alpha:into:)``
    /// need. Throws if the dimensions disagree or an output is not finite.
    public func forward(_ data: Dataset) throws {
        guard data.dimension == inputShape.count else {
            throw WispError.badInput("inputs have dimension \(data.dimension) but the first layer takes \(inputShape) = \(inputShape.count) values")
        }
        if data.samples.count != data.totalSamples, let local = Self.unreducedBatchNorm(chain.layers) {
            throw WispError.invalidConfiguration(
                "\(local) normalizes with batch statistics but this process holds \(data.samples.count) of the \(data.totalSamples) samples: set the communicator as its sample reduction (setSampleReduction)")
        }
        let x = data.converted(to: S.self) + [0]   // one spare scalar: an empty block still has an address
        try x.withUnsafeBufferPointer { try forward(inputs: $0.baseAddress!, samples: data.samples.count, firstSample: data.samples.lowerBound) }
        totalSamples = data.totalSamples
    }

    /// The forward pass over `n` samples at `x` (n × inputShape.count, copied).
    public func forward(inputs x: UnsafePointer<S>, samples n: Int, firstSample: Int = 0) throws {
        sampleCount = n
        totalSamples = n
        let inCount = n * inputShape.count
        inputs.reserve(inCount).update(from: x, count: inCount)
        let y = outputBuffer.reserve(n * outputCount)
        parameters.withUnsafeBufferPointer { theta in
            chain.forward(inputs.pointer, parameters: theta.baseAddress!, batch: n, into: y)
        }
        for i in 0..<(n * outputCount) where !y[i].isFinite {
            throw WispError.nonFinite("the network output for sample \(firstSample + i / outputCount) is \(y[i]) (overflow in the forward pass)")
        }
    }

    /// f over the last batch (n × C).
    public var outputs: [S] { outputBuffer.array(sampleCount * outputCount) }

    /// The inputs of the last batch (n × inputShape.count, valid until the next forward pass).
    var cachedInputs: UnsafePointer<S> { UnsafePointer(inputs.pointer) }

    /// out ← J v (n × C): the derivative of every output along the parameter direction v (P).
    public func jvp(_ v: UnsafePointer<S>, into out: UnsafeMutablePointer<S>) {
        parameters.withUnsafeBufferPointer { theta in
            chain.jvp(inputs.pointer, parameters: theta.baseAddress!, inputTangent: nil, parameterTangent: v, into: out)
        }
    }

    /// g ← α Jᵀ u (P), u: n × C, over this process's samples (no sum over processes).
    public func vjp(_ u: UnsafePointer<S>, alpha: S, into g: UnsafeMutablePointer<S>) {
        parameters.withUnsafeBufferPointer { theta in
            chain.vjp(inputs.pointer, parameters: theta.baseAddress!, cotangent: u, inputCotangent: nil, parameterCotangent: g, alpha: alpha)
        }
    }

    /// g ← R_v{Jᵀ Δ} (P) over this process's samples (no sum over processes): the derivative
    /// along θ + εv of the VJP of Δ = `signal` (n × C), with Δ moving by dΔ = `topTangent(J v)`
    /// (the closure gets J v, n × C, and overwrites it with dΔ; nil: dΔ = 0, the residual part
    /// Σ Δ_tk ∇²f_k(x_t) v alone). Cost: one JVP keeping every layer's tangent, then every
    /// layer's R-op (``Layer/rOperator(_:parameters:inputTangent:parameterTangent:cotangent:cotangentTangent:inputCotangent:inputCotangentTangent:parameterCotangentTangent:alpha:)``):
    /// about 2.5 times a J v plus a Jᵀ u for dense and convolutional layers.
    public func hessianVectorProduct(_ v: UnsafePointer<S>, signal: UnsafePointer<S>,
                                     topTangent: ((UnsafeMutablePointer<S>) -> Void)?, into g: UnsafeMutablePointer<S>) {
        let top = topBuffer.reserve(sampleCount * outputCount)
        parameters.withUnsafeBufferPointer { t in
            let theta = t.baseAddress!
            chain.jvpKeepingTangents(inputs.pointer, parameters: theta, inputTangent: nil, parameterTangent: v, into: top)
            topTangent?(top)
            chain.rBackward(inputs.pointer, parameters: theta, inputTangent: nil, parameterTangent: v, cotangent: signal,
                            cotangentTangent: topTangent == nil ? nil : UnsafePointer(top), inputCotangent: nil,
                            inputCotangentTangent: nil, parameterCotangentTangent: g, alpha: 1)
        }
    }

    /// Makes every batch normalization layer (inside residual blocks too) sum its statistics
    /// with `reduction`: the ``Communicator`` when the samples are sharded over processes (then
    /// every process must run every pass). Set it before ``forward(_:)``.
    public func setSampleReduction(_ reduction: any SampleReduction) {
        func visit(_ layers: [any Layer<S>]) {
            for layer in layers {
                if let b = layer as? BatchNorm<S> { b.sampleReduction = reduction }
                if let r = layer as? Residual<S> { visit(r.bodyLayers + (r.projection.map { [$0] } ?? [])) }
            }
        }
        visit(layers)
    }

    /// The kind of the first batch normalization layer whose statistics stay on this process.
    static func unreducedBatchNorm(_ layers: [any Layer<S>]) -> String? {
        for layer in layers {
            if let b = layer as? BatchNorm<S>, b.sampleReduction is LocalSamples { return b.kind }
            if let r = layer as? Residual<S>, let k = unreducedBatchNorm(r.bodyLayers + (r.projection.map { [$0] } ?? [])) { return k }
        }
        return nil
    }

    /// Whether a sample's outputs depend on other samples (batch normalization with batch
    /// statistics: J then has no per-sample block structure).
    public var couplesSamples: Bool { chain.couplesSamples }

    /// Flops of each pass over `n` samples, summed over the layers (the JVP and VJP counted with
    /// input tangents at every layer, so an upper bound for the first layer's).
    public func flops(batch n: Int) -> LayerFlops { chain.flops(batch: n) }

    /// Flops of one J v and one Jᵀ u over the cached batch (one Fisher or NTK-Gram product).
    public var flopsPerProduct: Double {
        let f = chain.flops(batch: sampleCount)
        return f.jvp + f.vjp
    }
}
