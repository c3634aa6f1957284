/// One layer of a layerwise alignment (``AlignJob``): a module that owns parameters.
public struct AlignmentLayer: Sendable, Equatable {
    /// The state-dict prefix of a network given as layers ("0", "3.body.0", "3.projection");
    /// nil for an MLP, whose layer l is PyTorch's `<2(l−1)>`.
    public let name: String?
    /// P_l (weight and bias together).
    public let parameters: Int

    public init(name: String?, parameters: Int) {
        self.name = name
        self.parameters = parameters
    }
}

/// This process's rows of one layer's K_l = (1/T) J_l J_lᵀ, (T_block·C) × (T·C) row-major, and,
/// for an MLP, the eq. 9 factors of Lou et al. whose Hadamard product it is (nil on layer networks).
public struct ExactLayerKernel {
    /// l, 1…L.
    public let layer: Int
    public let rows: [Double]
    /// The forward kernel X_l X_lᵀ (+ 1 1ᵀ) expanded to (T_block·C) × (T·C), formed on demand.
    public let forward: (() -> [Double])?
    /// The backward kernel, (T_block·C) × (T·C).
    public let backward: [Double]?

    public init(layer: Int, rows: [Double], forward: (() -> [Double])? = nil, backward: [Double]? = nil) {
        self.layer = layer
        self.rows = rows
        self.forward = forward
        self.backward = backward
    }
}

/// What ``AlignJob`` needs of a problem: the layers, the targets, the communicator, each layer's
/// K_l formed exactly (rows on this process) where that is possible, and each layer's matrix-free
/// operator. ``Problem`` (MLPs: eq. 9 factors, ``LayerKernelOperator``) and ``LayerProblem``
/// (networks given as layers: ``LayerTangentKernel`` site by site, ``LayerGramOperator`` restricted to the layer's block)
/// conform.
public protocol AlignmentProblem: AnyObject {
    var communicator: any Communicator { get }
    /// T.
    var totalSamples: Int { get }
    /// TC.
    var sampleSpaceDimension: Int { get }
    /// C.
    var alignmentOutputs: Int { get }
    /// The L layers, in θ's order.
    var alignmentLayers: [AlignmentLayer] { get }
    /// Y on this process's samples (labels one-hot, or a teacher's outputs). Collective for a teacher.
    func alignmentTargets() throws -> Targets
    /// Why the layers' K_l cannot be formed exactly (nil: they can).
    var exactLayerKernelsUnavailable: String? { get }
    /// Doubles this process holds while forming the K_l exactly (checked before forming).
    func exactLayerKernelDoubles() throws -> Int
    /// Forms every layer's K_l in turn, calling `visit` with each (collective).
    func exactLayerKernels(_ visit: (ExactLayerKernel) -> Void) throws
    /// The matrix-free K_l, l in 1…L.
    func makeAlignmentOperator(layer l: Int) throws -> any LinearOperator
}

extension Problem: AlignmentProblem {
    public var alignmentOutputs: Int { architecture.outputs }

    public var alignmentLayers: [AlignmentLayer] {
        (1...architecture.depth).map { AlignmentLayer(name: nil, parameters: architecture.layerParameterCount($0)) }
    }

    public func alignmentTargets() throws -> Targets { try targets() }

    public var exactLayerKernelsUnavailable: String? {
        architecture.normalization.couplesSamples ? "batch statistics couple the samples, so K_l is only available matrix-free" : nil
    }

    /// K_l's rows twice (the formed rows and the factors' product), the forward kernel, every
    /// layer's backward signals, and the gathered labels.
    public func exactLayerKernelDoubles() throws -> Int {
        let T = totalSamples, C = architecture.outputs, L = architecture.depth, N = sampleSpaceDimension
        let local = communicator.block(of: T, rank: communicator.rank).count
        let maxWidth = architecture.widths.max() ?? 1
        return try MemoryBudget.sum("the exact layer kernels (TC = \(N))", [
            try MemoryBudget.count("K_l rows", 2, local * C, N), try MemoryBudget.count("forward kernel", local, T),
            try MemoryBudget.count("backward signals", L, local * C, maxWidth), N])
    }

    /// Each layer's K_l = (1/T) backward ∘ forward (eq. 9), with both factors.
    public func exactLayerKernels(_ visit: (ExactLayerKernel) -> Void) throws {
        let T = totalSamples
        layerKernelFactors { f in
            var rows = [Double](repeating: 0, count: f.rowCount * f.columnCount)
            f.addKernel(into: &rows, scale: 1 / Double(T))
            visit(ExactLayerKernel(layer: f.layer, rows: rows, forward: { f.expandedForward() }, backward: f.backward))
        }
    }

    public func makeAlignmentOperator(layer l: Int) -> any LinearOperator { makeLayerOperator(l) }
}

extension LayerProblem: AlignmentProblem {
    public var alignmentOutputs: Int { outputCount }

    public var alignmentLayers: [AlignmentLayer] { parameterBlocks.map { AlignmentLayer(name: $0.name, parameters: $0.range.count) } }

    public func alignmentTargets() throws -> Targets {
        guard let targets else {
            throw WispError.invalidConfiguration("the alignment needs targets: give \(Setting.labels) (or \(Setting.inputs) with labels), \(Setting.targets), or a \(Setting.loss) for a teacher network's")
        }
        return targets
    }

    public var exactLayerKernelsUnavailable: String? {
        if let reason = exactKernel.layerReason { return reason }
        // The kernel's sites are the parameter blocks unless a module with parameters has no factor (refused above).
        guard exactSites.map(\.name) == parameterBlocks.map(\.name) else {
            return "the exact kernel's layers (\(exactSites.map(\.name))) are not the network's parameter blocks (\(parameterBlocks.map(\.name)))"
        }
        return nil
    }

    /// ``exactFormBytesPerProcess()`` (K's rows, signals, inputs, the largest form) plus one more
    /// block of K_l's rows (the one handed on while the next is formed) and the gathered labels.
    public func exactLayerKernelDoubles() throws -> Int {
        let extra = Double(samples.count * outputCount) * Double(sampleSpaceDimension) + Double(sampleSpaceDimension)
        let doubles = exactFormBytesPerProcess() / 8 + extra
        guard doubles < Double(Int.max / 16) else {
            throw WispError.invalidConfiguration("the exact layer kernels (TC = \(sampleSpaceDimension)) need \(doubles) doubles per process")
        }
        return Int(doubles.rounded(.up))
    }

    /// Each site's J_l J_lᵀ / T from ``LayerTangentKernel/layerRows(forms:gather:visit:)``, in θ's order.
    public func exactLayerKernels(_ visit: (ExactLayerKernel) -> Void) throws {
        if let reason = exactLayerKernelsUnavailable { throw WispError.invalidConfiguration("the exact layer kernels: \(reason)") }
        let scale = 1 / Double(totalSamples)
        try prepareExact()
        exactKernel.layerRows { i, rows in
            var rows = rows
            for j in rows.indices { rows[j] *= scale }
            visit(ExactLayerKernel(layer: i + 1, rows: rows))
        }
    }

    public func makeAlignmentOperator(layer l: Int) throws -> any LinearOperator { try makeBlockOperator(l - 1) }
}
