/// This process's part of a curvature problem on a network given as layers
/// (``LayerArchitecture``): the network with its parameters θ — Gaussian initial weights
/// (``LayerArchitecture/initialParameters(for:seed:)``) or θ read from a model file
/// (``LayerModelFile``) — run forward over this process's block of the T input samples, and the
/// matrix-free operators on it (``LayerFisherOperator``, ``LayerGramOperator``). The inputs are
/// Gaussian (entry (t, j) of stream (seed, inputs), as for the MLP path) or read from a data
/// file (``loadInputs(_:architecture:communicator:)``: every format the MLP path reads, each
/// process reading only its rows, reshaped to the architecture's input shape).
///
/// The sizes are checked before anything grows with them: θ, the inputs and every layer's
/// cache (outputs, tangents, slopes, patch matrices) against the memory the process may use.
public final class LayerProblem {
    public let architecture: LayerArchitecture
    public let totalSamples: Int
    /// The global indices of this process's samples.
    public let samples: Range<Int>
    public let seed: UInt64
    public let precision: Precision
    public let communicator: any Communicator
    /// P.
    public let parameterCount: Int
    /// C, outputs per sample.
    public let outputCount: Int
    /// The state-dict names of θ's tensors, in θ's order.
    public let parameterNames: [String]
    /// θ as the network holds it, widened to Double (exactly, for float32), in θ's order: what
    /// `--save-model` writes. Read from the network on each call (a P-sized array), so the problem
    /// itself holds θ once, in the precision of the passes.
    public func parameters() -> [Double] { readParameters() }
    private let readParameters: () -> [Double]
    /// Where the inputs came from.
    public let inputSource: LayerInputSource
    /// Where θ came from (a loaded file's path and dtype; its values are not kept).
    public let weightSource: LayerWeightSource
    /// Flops of one J v plus one Jᵀ u over this process's samples.
    public var flopsPerProduct: Double { flopsPerSample * Double(samples.count) }
    /// Flops of one J v plus one Jᵀ u per sample (the passes are linear in the batch).
    public let flopsPerSample: Double
    private let makeOperator: (CurvatureMatrix) -> any LinearOperator
    /// The exact sample-space path's kernel of J Jᵀ (``LayerTangentKernel``), or why there is none.
    let exactKernel: LayerExactKernel

    /// Gaussian inputs and Gaussian initial weights, both from `seed`.
    public convenience init(architecture: LayerArchitecture, totalSamples: Int, seed: UInt64, precision: Precision = .float64,
                            communicator: any Communicator = SerialCommunicator()) throws {
        guard totalSamples >= 1 else { throw WispError.invalidConfiguration("--samples must be at least 1 (got \(totalSamples))") }
        let block = communicator.block(of: totalSamples)
        let inputs = LayerInputs(dataset: try Dataset.gaussian(totalSamples: totalSamples, dimension: architecture.input.count, seed: seed, samples: block),
                                 source: .gaussian)
        try self.init(architecture: architecture, inputs: inputs, weights: .initial, seed: seed, precision: precision, communicator: communicator)
    }

    /// The problem on `inputs` (this process's block, of the architecture's input size) with θ
    /// from `weights` (``LayerWeightSource/initial``: Gaussian from `seed`). Local: the forward
    /// pass over this process's samples.
    public init(architecture: LayerArchitecture, inputs: LayerInputs, weights: LayerWeightSource, seed: UInt64,
                precision: Precision = .float64, communicator: any Communicator = SerialCommunicator()) throws {
        guard inputs.dataset.dimension == architecture.input.count else {
            throw WispError.badInput("the inputs have \(inputs.dataset.dimension) values per sample but the architecture's input \(architecture.input) has \(architecture.input.count)")
        }
        self.architecture = architecture
        self.totalSamples = inputs.dataset.totalSamples
        self.seed = seed
        self.precision = precision
        self.communicator = communicator
        self.inputSource = inputs.source
        self.weightSource = weights.origin
        samples = inputs.dataset.samples
        switch precision {
        case .float64:
            (parameterCount, outputCount, parameterNames, flopsPerSample, readParameters, makeOperator, exactKernel) = try Self.build(architecture, Double.self, inputs.dataset, weights, seed, communicator)
        case .float32:
            (parameterCount, outputCount, parameterNames, flopsPerSample, readParameters, makeOperator, exactKernel) = try Self.build(architecture, Float.self, inputs.dataset, weights, seed, communicator)
        }
    }

    /// TC, the dimension of K.
    public var sampleSpaceDimension: Int { totalSamples * outputCount }

    /// The matrix-free operator of `matrix`: F (fisher; ggn is F for mse) or K (ntk).
    public func makeOperator(_ matrix: CurvatureMatrix) throws -> any LinearOperator {
        switch matrix {
        case .fisher, .ntk: return makeOperator(matrix)
        case .ggn, .hessian, .residual:
            throw WispError.invalidConfiguration("--matrix \(matrix.rawValue) is not available for layer networks yet (use fisher or ntk)")
        }
    }

    private static func build<S: BLASScalar>(_ architecture: LayerArchitecture, _: S.Type, _ data: Dataset, _ weights: LayerWeightSource,
                                              _ seed: UInt64, _ communicator: any Communicator)
        throws -> (Int, Int, [String], Double, () -> [Double], (CurvatureMatrix) -> any LinearOperator, LayerExactKernel) {
        let (totalSamples, block) = (data.totalSamples, data.samples)
        let layers = try architecture.makeLayers(as: S.self)
        let P = try MemoryBudget.sum("the parameters", layers.map { $0.parameterCount })
        try MemoryBudget.require(try MemoryBudget.bytes("the network", try MemoryBudget.sum("the network", [
            try MemoryBudget.count("the parameters", P, MemoryLayout<S>.size + 16),
            try MemoryBudget.count("the inputs", block.count, architecture.input.count, MemoryLayout<S>.size + 8),
            try MemoryBudget.count("the layer caches", block.count, try cacheScalarsPerSample(layers), MemoryLayout<S>.size),
        ])), for: "the layer network (θ, inputs and the forward cache of \(block.count) samples)")
        let theta: [S]
        switch weights {
        case .initial:
            theta = architecture.initialParameters(for: layers, seed: seed)
        case let .loaded(_, _, values):
            guard values.count == P else { throw WispError.badInput("the model has \(values.count) parameters but the architecture \(P)") }
            theta = S.self == Double.self ? unsafeBitCast(values, to: [S].self) : values.map { S($0) }
        }
        let network = try LayerSequence(layers: layers, parameters: theta)
        try network.forward(data)
        let make: (CurvatureMatrix) -> any LinearOperator = { matrix in
            matrix == .ntk
                ? LayerGramOperator(network: network, samples: block, totalSamples: totalSamples, communicator: communicator)
                : LayerFisherOperator(network: network, totalSamples: totalSamples, communicator: communicator)
        }
        let perSample = network.flops(batch: 1)
        let read: () -> [Double] = {
            S.self == Double.self ? unsafeBitCast(network.parameters, to: [Double].self) : network.parameters.map { Double($0) }
        }
        return (P, network.outputCount, network.parameterNames, perSample.jvp + perSample.vjp, read, make,
                LayerExactKernel(network: network, totalSamples: totalSamples, communicator: communicator))
    }

    /// Scalars per sample of the layers' caches and scratch (an upper estimate): each output,
    /// its tangent and cotangent and an activation's slopes; each convolution's patch matrix
    /// and its two scratch blocks.
    static func cacheScalarsPerSample<S: BLASScalar>(_ layers: [any Layer<S>]) throws -> Int {
        var terms: [Int] = []
        for layer in layers {
            terms.append(try MemoryBudget.count("the layer caches", layer.outputShape.count, 4))
            if let c = layer as? Conv2D<S> {
                let q = c.outputShape.height * c.outputShape.width
                let k = try MemoryBudget.count("the patch matrix", c.inChannels, c.kernel.height, c.kernel.width)
                terms.append(try MemoryBudget.count("the patch matrix", q, k + 2 * max(k, c.outChannels)))
            } else if let r = layer as? Residual<S> {
                terms.append(try cacheScalarsPerSample(r.bodyLayers))
                if let p = r.projection { terms.append(try cacheScalarsPerSample([p])) }
            }
        }
        return try MemoryBudget.sum("the layer caches", terms)
    }
}

/// Where a layer network's θ comes from.
public enum LayerWeightSource: Sendable {
    /// Gaussian initial weights from the seed (``LayerArchitecture/initialParameters(for:seed:)``).
    case initial
    /// Read from a safetensors file (``LayerModelFile``): its path, its tensors' dtype, θ.
    case loaded(path: String, dtype: String, parameters: [Double])

    /// One line for summaries and records.
    public var description: String {
        switch self {
        case .initial: return "Gaussian, kaiming_normal_ (fan_in): W ~ N(0, g²/fan_in), g = √2 before a ReLU, else 1; biases 0"
        case let .loaded(path, dtype, _): return "loaded from \(path) (\(dtype))"
        }
    }

    /// The same source without θ's values (`.loaded` with an empty array): what a problem keeps
    /// once its network holds θ, so a float32 network is not shadowed by a P-sized Float64 copy.
    public var origin: LayerWeightSource {
        if case let .loaded(path, dtype, _) = self { return .loaded(path: path, dtype: dtype, parameters: []) }
        return self
    }
}
