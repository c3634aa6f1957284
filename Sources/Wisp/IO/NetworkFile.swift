/// Networks in safetensors files, laid out as a PyTorch `nn.Sequential` of `Linear` layers:
/// tensors `<name>.weight` [out, in] and `<name>.bias` [out], layers in numeric-aware order
/// of `<name>` (so keys `0.weight`, `0.bias`, `2.weight`, … load as saved by PyTorch). The
/// activation, parametrization, normalization and σ's are not in the file: they come from flags.
extension Network where S == Double {
    public static func load(safetensors path: String, activation: Activation, parametrization: Parametrization,
                            sigmaW2: Double, sigmaB2: Double, normalization: Normalization = .none) throws -> Network<Double> {
        let file = try SafeTensorsFile.read(path: path)
        var weights = [String: SafeTensor](), biases = [String: SafeTensor]()
        for (key, tensor) in file.tensors {
            if key.hasSuffix(".weight") { weights[String(key.dropLast(7))] = tensor }
            else if key.hasSuffix(".bias") { biases[String(key.dropLast(5))] = tensor }
            else { throw WispError.badInput("\(path): unexpected tensor '\(key)'; Wisp reads '<layer>.weight' and '<layer>.bias'") }
        }
        let names = weights.keys.sorted(by: numericAwareLess)
        guard !names.isEmpty else { throw WispError.badInput("\(path): no '<layer>.weight' tensors") }
        if let orphan = biases.keys.first(where: { weights[$0] == nil }) {
            throw WispError.badInput("\(path): '\(orphan).bias' has no matching '\(orphan).weight'")
        }
        let hasBias = !biases.isEmpty
        if hasBias, let missing = names.first(where: { biases[$0] == nil }) {
            throw WispError.badInput("\(path): layer '\(missing)' has no bias while other layers do")
        }
        var widths = [Int]()
        for name in names {
            let w = weights[name]!
            guard w.shape.count == 2, w.shape[0] >= 1, w.shape[1] >= 1 else {
                throw WispError.badInput("\(path): '\(name).weight' must be 2-D [out, in] with nonzero sizes, found \(w.shape)")
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
        let arch = try Architecture(widths: widths, activation: activation, hasBias: hasBias, parametrization: parametrization,
                                    sigmaW2: sigmaW2, sigmaB2: sigmaB2, normalization: normalization)
        var theta = [Double]()
        theta.reserveCapacity(arch.parameterCount)
        for name in names {
            for (suffix, tensor) in [("weight", weights[name]), ("bias", biases[name])] {
                guard let tensor else { continue }
                if let bad = tensor.values.firstIndex(where: { !$0.isFinite }) {
                    throw WispError.nonFinite("\(path): '\(name).\(suffix)' entry \(bad) is \(tensor.values[bad])")
                }
                theta.append(contentsOf: tensor.values)
            }
        }
        return try Network(architecture: arch, parameters: theta)
    }

    /// Writes the parameters as `0.weight`, `0.bias`, `2.weight`, … (PyTorch's indices for
    /// Linear layers separated by activation modules), with the hyperparameters as metadata.
    public func save(safetensors path: String, dtype: SafeTensorDType = .f64) throws {
        let a = architecture
        var tensors = [String: SafeTensor]()
        for l in 1...a.depth {
            let name = String(2 * (l - 1))
            let nW = a.widths[l] * a.widths[l - 1]
            tensors["\(name).weight"] = SafeTensor(dtype: dtype, shape: [a.widths[l], a.widths[l - 1]],
                                                   values: Array(parameters[a.weightOffset(l)..<(a.weightOffset(l) + nW)]))
            if a.hasBias {
                tensors["\(name).bias"] = SafeTensor(dtype: dtype, shape: [a.widths[l]],
                                                     values: Array(parameters[a.biasOffset(l)..<(a.biasOffset(l) + a.widths[l])]))
            }
        }
        let metadata = ["wisp_version": wispVersion, "activation": a.activation.rawValue,
                        "parametrization": a.parametrization.rawValue, "sigma_w2": "\(a.sigmaW2)", "sigma_b2": "\(a.sigmaB2)"]
        try AtomicFile.createDirectory(forFile: path)
        try SafeTensorsFile(tensors: tensors, metadata: metadata).write(to: path)
    }
}
