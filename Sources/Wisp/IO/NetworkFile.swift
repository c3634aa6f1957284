/// Networks in safetensors files, laid out as a PyTorch `nn.Sequential` of `Linear` layers:
/// tensors `<name>.weight` [out, in] and `<name>.bias` [out], layers in numeric-aware order
/// of `<name>` (so keys `0.weight`, `0.bias`, `2.weight`, … load as saved by PyTorch). A layer
/// may lack its bias (`Linear(bias=False)`). The activation, parametrization, σ's and
/// normalization are not in the tensors: Wisp records them in the file's metadata, and
/// ``NetworkHyperparameters`` resolves them against the flags (the file's values win).
extension Network where S == Double {
    /// Loads the network in `path` with every hyperparameter given: a value the file's
    /// metadata records differently is an error.
    public static func load(safetensors path: String, activation: Activation, parametrization: Parametrization,
                            sigmaW2: Double, sigmaB2: Double, normalization: Normalization = .none) throws -> Network<Double> {
        try load(safetensors: path, given: NetworkHyperparameters(activation: activation, parametrization: parametrization,
                                                                  sigmaW2: sigmaW2, sigmaB2: sigmaB2, normalization: normalization))
    }

    /// Loads the network in `path`; the hyperparameters are the file's, or `given` where the
    /// file records none (``NetworkHyperparameters/resolved(metadata:file:)``).
    public static func load(safetensors path: String, given: NetworkHyperparameters) throws -> Network<Double> {
        var file = try SafeTensorsFile.read(path: path)
        if file.metadata[LayerModelFile.architectureKey] != nil {
            throw WispError.badInput("\(path) holds a network given as layers (metadata \(LayerModelFile.architectureKey)), not an MLP: `wisp top`, `wisp density`, `wisp moments`, `wisp train` and `wisp align` read it")
        }
        // The tensors move out of the file: each is released once copied into θ (peak 2× the
        // weights, not 3×).
        var tensors = file.tensors
        file.tensors = [:]
        var weights = [String: SafeTensor](), biases = [String: SafeTensor]()
        for (key, tensor) in tensors {
            if key.hasSuffix(".weight") { weights[String(key.dropLast(7))] = tensor }
            else if key.hasSuffix(".bias") { biases[String(key.dropLast(5))] = tensor }
            else { throw WispError.badInput("\(path): unexpected tensor '\(key)'; Wisp reads '<layer>.weight' and '<layer>.bias'") }
        }
        tensors = [:]
        let names = weights.keys.sorted(by: numericAwareLess)
        guard !names.isEmpty else { throw WispError.badInput("\(path): no '<layer>.weight' tensors") }
        if let orphan = biases.keys.sorted(by: numericAwareLess).first(where: { weights[$0] == nil }) {
            throw WispError.badInput("\(path): '\(orphan).bias' has no matching '\(orphan).weight'")
        }
        var widths = [Int]()
        for name in names {
            let w = weights[name]!
            guard w.shape.count == 2, w.shape[0] >= 1, w.shape[1] >= 1 else {
                throw WispError.badInput("\(path): '\(name).weight' must be 2-D [out, in] with nonzero sizes, found \(w.shape)\(w.shape.count == 4 ? " (a convolution: give the layers with \(Setting.architecture) FILE.json)" : "")")
            }
            if widths.isEmpty { widths.append(w.shape[1]) }
            guard w.shape[1] == widths.last! else {
                throw WispError.badInput("\(path): '\(name).weight' takes \(w.shape[1]) inputs but the previous layer has \(widths.last!) outputs")
            }
            widths.append(w.shape[0])
            if let b = biases[name], b.shape != [w.shape[0]] {
                throw WispError.badInput("\(path): '\(name).bias' has shape \(b.shape), expected [\(w.shape[0])]")
            }
        }
        let layerBias = names.map { biases[$0] != nil }
        var theta = [Double]()
        theta.reserveCapacity(names.reduce(0) { $0 + weights[$1]!.values.count + (biases[$1]?.values.count ?? 0) })
        for name in names {
            for (suffix, tensor) in [("weight", weights.removeValue(forKey: name)), ("bias", biases.removeValue(forKey: name))] {
                guard let tensor else { continue }
                if let bad = tensor.values.firstIndex(where: { !$0.isFinite }) {
                    throw WispError.nonFinite("\(path): '\(name).\(suffix)' entry \(bad) is \(tensor.values[bad])")
                }
                theta.append(contentsOf: tensor.values)
            }
        }
        // The hyperparameters after the tensors: a corrupt file is reported as such first.
        let settings = try given.resolved(metadata: file.metadata, file: path)
        let arch = try Architecture(widths: widths, activation: settings.activation, layerBias: layerBias,
                                    parametrization: settings.parametrization, sigmaW2: settings.sigmaW2, sigmaB2: settings.sigmaB2,
                                    normalization: settings.normalization)
        return try Network(architecture: arch, parameters: theta)
    }

    /// Writes the parameters as `0.weight`, `0.bias`, `2.weight`, … (PyTorch's indices for
    /// Linear layers separated by activation modules), a layer without a bias without `.bias`,
    /// with every hyperparameter as metadata (``NetworkHyperparameters/metadata(_:)``).
    public func save(safetensors path: String, dtype: SafeTensorDType = .f64) throws {
        let a = architecture
        var tensors = [String: SafeTensor]()
        for l in 1...a.depth {
            let name = String(2 * (l - 1))
            let nW = a.widths[l] * a.widths[l - 1]
            tensors["\(name).weight"] = SafeTensor(dtype: dtype, shape: [a.widths[l], a.widths[l - 1]],
                                                   values: Array(parameters[a.weightOffset(l)..<(a.weightOffset(l) + nW)]))
            if a.hasBias(l) {
                tensors["\(name).bias"] = SafeTensor(dtype: dtype, shape: [a.widths[l]],
                                                     values: Array(parameters[a.biasOffset(l)..<(a.biasOffset(l) + a.widths[l])]))
            }
        }
        var metadata = NetworkHyperparameters.metadata(.init(activation: a.activation, parametrization: a.parametrization,
                                                             sigmaW2: a.sigmaW2, sigmaB2: a.sigmaB2, normalization: a.normalization))
        metadata["wisp_version"] = wispVersion
        try AtomicFile.createDirectory(forFile: path)
        try SafeTensorsFile(tensors: tensors, metadata: metadata).write(to: path)
    }
}
