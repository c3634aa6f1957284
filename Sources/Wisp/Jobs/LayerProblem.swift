/// This process's part of a curvature problem on a network given as layers
/// (``LayerArchitecture``): the network with Gaussian initial weights
/// (``LayerArchitecture/initialParameters(for:seed:)``), run forward over this process's block
/// of T Gaussian input samples (entry (t, j) of stream (seed, inputs), as for the MLP path), and
/// the matrix-free operators on it (``LayerFisherOperator``, ``LayerGramOperator``).
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
    /// Flops of one J v plus one Jᵀ u over this process's samples.
    public var flopsPerProduct: Double { flopsPerSample * Double(samples.count) }
    /// Flops of one J v plus one Jᵀ u per sample (the passes are linear in the batch).
    public let flopsPerSample: Double
    private let makeOperator: (CurvatureMatrix) -> any LinearOperator
    /// The exact sample-space path's kernel of J Jᵀ (``LayerTangentKernel``), or why there is none.
    let exactKernel: LayerExactKernel

    public init(architecture: LayerArchitecture, totalSamples: Int, seed: UInt64, precision: Precision = .float64,
                communicator: any Communicator = SerialCommunicator()) throws {
        guard totalSamples >= 1 else { throw WispError.invalidConfiguration("--samples must be at least 1 (got \(totalSamples))") }
        self.architecture = architecture
        self.totalSamples = totalSamples
        self.seed = seed
        self.precision = precision
        self.communicator = communicator
        samples = communicator.block(of: totalSamples)
        switch precision {
        case .float64:
            (parameterCount, outputCount, parameterNames, flopsPerSample, makeOperator, exactKernel) = try Self.build(architecture, Double.self, totalSamples, samples, seed, communicator)
        case .float32:
            (parameterCount, outputCount, parameterNames, flopsPerSample, makeOperator, exactKernel) = try Self.build(architecture, Float.self, totalSamples, samples, seed, communicator)
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

    private static func build<S: BLASScalar>(_ architecture: LayerArchitecture, _: S.Type, _ totalSamples: Int, _ block: Range<Int>,
                                              _ seed: UInt64, _ communicator: any Communicator)
        throws -> (Int, Int, [String], Double, (CurvatureMatrix) -> any LinearOperator, LayerExactKernel) {
        let layers = try architecture.makeLayers(as: S.self)
        let P = try MemoryBudget.sum("the parameters", layers.map { $0.parameterCount })
        try MemoryBudget.require(try MemoryBudget.bytes("the network", try MemoryBudget.sum("the network", [
            try MemoryBudget.count("the parameters", P, MemoryLayout<S>.size + 8),
            try MemoryBudget.count("the inputs", block.count, architecture.input.count, MemoryLayout<S>.size + 8),
            try MemoryBudget.count("the layer caches", block.count, try cacheScalarsPerSample(layers), MemoryLayout<S>.size),
        ])), for: "the layer network (θ, inputs and the forward cache of \(block.count) samples)")
        let theta = architecture.initialParameters(for: layers, seed: seed)
        let network = try LayerSequence(layers: layers, parameters: theta)
        try network.forward(try Dataset.gaussian(totalSamples: totalSamples, dimension: architecture.input.count, seed: seed, samples: block))
        let make: (CurvatureMatrix) -> any LinearOperator = { matrix in
            matrix == .ntk
                ? LayerGramOperator(network: network, samples: block, totalSamples: totalSamples, communicator: communicator)
                : LayerFisherOperator(network: network, totalSamples: totalSamples, communicator: communicator)
        }
        let perSample = network.flops(batch: 1)
        return (P, network.outputCount, network.parameterNames, perSample.jvp + perSample.vjp, make,
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
