/// The shape and hyperparameters of a fully connected network (Karakida et al. eq. 1–2):
/// L weight layers, u^l = c_w^l W^l h^(l−1) + c_b b^l, h^l = φ(N(u^l)) for l < L, f = N(u^L),
/// with N the layer's ``Normalization`` (the identity by default).
///
/// Parameters are laid out as one flat vector θ, layer after layer, each layer's W^l
/// ([M_l, M_(l−1)] row-major, PyTorch's `Linear.weight` layout) followed by b^l (M_l) when
/// layer l has a bias. Layers may differ in having one (PyTorch `Linear(bias=False)` on some
/// layers): a layer without a bias has c_b b^l = 0 and no b^l entries in θ.
public struct Architecture: Codable, Equatable, Sendable {
    /// [d, M_1, …, M_(L−1), C]: widths from input to output.
    public var widths: [Int]
    public var activation: Activation
    /// Whether layer l has a bias b^l, at index l − 1 (one entry per weight layer).
    public var layerBias: [Bool]
    public var parametrization: Parametrization
    public var sigmaW2: Double
    public var sigmaB2: Double
    public var normalization: Normalization

    /// `hasBias` gives every layer a bias or none; `layerBias`, when given, overrides it per
    /// layer (one entry per weight layer).
    public init(widths: [Int], activation: Activation = .relu, hasBias: Bool = true, layerBias: [Bool]? = nil,
                parametrization: Parametrization = .standard, sigmaW2: Double = 2, sigmaB2: Double = 0,
                normalization: Normalization = .none) throws {
        self.widths = widths
        self.activation = activation
        self.layerBias = layerBias ?? Array(repeating: hasBias, count: max(widths.count - 1, 0))
        self.parametrization = parametrization
        self.sigmaW2 = sigmaW2
        self.sigmaB2 = sigmaB2
        self.normalization = normalization
        try validate()
    }

    /// A network of `depth` weight layers with every hidden width equal to `width`.
    public init(depth: Int, width: Int, inputDimension: Int, outputs: Int, activation: Activation = .relu,
                hasBias: Bool = true, parametrization: Parametrization = .standard,
                sigmaW2: Double = 2, sigmaB2: Double = 0, normalization: Normalization = .none) throws {
        guard depth >= 1 else { throw WispError.invalidConfiguration("\(Setting.depth) must be at least 1 (got \(depth))") }
        try self.init(widths: [inputDimension] + Array(repeating: width, count: depth - 1) + [outputs],
                      activation: activation, hasBias: hasBias, parametrization: parametrization,
                      sigmaW2: sigmaW2, sigmaB2: sigmaB2, normalization: normalization)
    }

    func validate() throws {
        guard widths.count >= 2 else { throw WispError.invalidConfiguration("a network needs at least one weight layer") }
        guard layerBias.count == widths.count - 1 else {
            throw WispError.invalidConfiguration("the network has \(widths.count - 1) weight layers but \(layerBias.count) bias flags")
        }
        if widths[0] < 1 { throw WispError.invalidConfiguration("\(Setting.inputDimension) must be at least 1 (got \(widths[0]))") }
        if widths.last! < 1 { throw WispError.invalidConfiguration("\(Setting.outputs) must be at least 1 (got \(widths.last!))") }
        for m in widths.dropFirst().dropLast() where m < 1 {
            throw WispError.invalidConfiguration("\(Setting.width) must be at least 1 (got \(m))")
        }
        guard sigmaW2.isFinite, sigmaW2 >= 0 else { throw WispError.invalidConfiguration("\(Setting.sigmaW2) must be finite and non-negative (got \(sigmaW2))") }
        guard sigmaB2.isFinite, sigmaB2 >= 0 else { throw WispError.invalidConfiguration("\(Setting.sigmaB2) must be finite and non-negative (got \(sigmaB2))") }
        if normalization == .layerNorm, let narrow = widths.dropFirst().min(), narrow < 2 {
            throw WispError.invalidConfiguration("\(Setting.normalization) layernorm standardizes over the units of every layer, the outputs included: every width and \(Setting.outputs) must be at least 2 (got \(narrow))")
        }
        if normalization == .middleBatchNorm && depth < 2 {
            throw WispError.invalidConfiguration("\(Setting.normalization) middle-batchnorm needs a hidden layer (\(Setting.depth) ≥ 2)")
        }
        let p = widths.indices.dropFirst().reduce(0.0) { $0 + Double(widths[$1]) * Double(widths[$1 - 1] + (layerBias[$1 - 1] ? 1 : 0)) }
        guard p < 1e15 else { throw WispError.invalidConfiguration("the network has too many parameters (\(p))") }
    }

    /// L, the number of weight layers.
    public var depth: Int { widths.count - 1 }
    public var inputDimension: Int { widths[0] }
    public var outputs: Int { widths[widths.count - 1] }

    /// Whether layer l (1…L) has a bias b^l.
    @inline(__always) public func hasBias(_ l: Int) -> Bool { layerBias[l - 1] }
    /// Whether every layer has a bias.
    public var everyLayerHasBias: Bool { !layerBias.contains(false) }
    /// Whether some layer has a bias.
    public var anyLayerHasBias: Bool { layerBias.contains(true) }
    /// Whether some layers have a bias and others not.
    public var hasMixedBias: Bool { anyLayerHasBias && !everyLayerHasBias }

    /// GEMM flops of one Fisher or NTK-Gram product (one JVP + one VJP) over `samples`
    /// samples: 2mnk per GEMM, four GEMMs of T × M_(l−1) × M_l per layer except the first,
    /// which has no dH^0 or Δ^0 term:
    ///     4·T·(2 Σ_l M_l M_(l−1) − d·M_1).
    /// The elementwise and bias terms add O(T Σ M_l) and are not counted.
    public func flopsPerProduct(samples: Int) -> Double {
        var f = 0.0
        for l in 1...depth {
            let mk = Double(widths[l]) * Double(widths[l - 1])
            f += (l > 1 ? 8 : 4) * Double(samples) * mk
        }
        return f
    }

    /// Offset of W^l in θ (l = 1…L).
    /// O(l), no allocation (it is called per layer inside the passes).
    public func weightOffset(_ l: Int) -> Int {
        var o = 0
        for j in 1..<l { o += widths[j] * widths[j - 1] + (hasBias(j) ? widths[j] : 0) }
        return o
    }
    /// Offset of b^l in θ (valid only if layer l has a bias).
    public func biasOffset(_ l: Int) -> Int { weightOffset(l) + widths[l] * widths[l - 1] }

    /// P_l = M_l M_(l−1) (+ M_l with a bias): the parameters of layer l, W^l then b^l in θ.
    public func layerParameterCount(_ l: Int) -> Int { widths[l] * widths[l - 1] + (hasBias(l) ? widths[l] : 0) }

    /// P, the number of parameters.
    public var parameterCount: Int {
        (1...depth).reduce(0) { $0 + layerParameterCount($1) }
    }

    /// c_w^l: the factor in front of W^l h^(l−1) (1, or σ_w/√M_(l−1) in the NTK form).
    public func weightScale(_ l: Int) -> Double {
        parametrization == .ntk ? (sigmaW2 / Double(widths[l - 1])).squareRoot() : 1
    }
    /// c_b: the factor in front of b^l (1, or σ_b in the NTK form), for layers with a bias.
    public var biasScale: Double { parametrization == .ntk ? sigmaB2.squareRoot() : 1 }

    /// Standard deviation of the stored W^l entries at initialization.
    public func weightInitStd(_ l: Int) -> Double {
        parametrization == .ntk ? 1 : (sigmaW2 / Double(widths[l - 1])).squareRoot()
    }
    /// Standard deviation of the stored b^l entries at initialization.
    public var biasInitStd: Double { parametrization == .ntk ? 1 : sigmaB2.squareRoot() }
}
