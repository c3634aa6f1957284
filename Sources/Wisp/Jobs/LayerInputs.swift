import Foundation

/// The inputs of a network given as layers: this process's block of the T samples, each a
/// flat row of the architecture's input size (an image sample [channels, height, width] in
/// PyTorch's NCHW order, channel-major, then row, then column), where they came from, and
/// their targets when a file gives them (rows of the same block).
public struct LayerInputs: Sendable {
    public var dataset: Dataset
    public var source: LayerInputSource
    /// From `--targets`, `--labels` or the inputs CSV's `--target-column`; nil: none given.
    public var targets: Targets?

    public init(dataset: Dataset, source: LayerInputSource, targets: Targets? = nil) {
        self.dataset = dataset
        self.source = source
        self.targets = targets
    }
}

/// Where a layer network's inputs came from, as the record and the summary state it.
public struct LayerInputSource: Encodable, Sendable, Equatable {
    /// The data file, or nil for Gaussian inputs N(0, I) from the seed.
    public var path: String?
    /// "gaussian", "npy", "idx" or "csv".
    public var format: String
    /// The shape of one sample as the file holds it (after pooling): [h, w] for images, [d] otherwise.
    public var fileShape: [Int]
    public var pool: Int
    public var scalePixels: Bool
    public var standardize: Bool
    public var preprocessing: Preprocessing.Summary

    /// Gaussian inputs.
    public static let gaussian = LayerInputSource(path: nil, format: "gaussian", fileShape: [], pool: 1, scalePixels: false, standardize: false,
                                                  preprocessing: Preprocessing.Summary())

    /// One line for the summary: "Gaussian inputs" or the file, its shape and the preprocessing.
    public func description(input: TensorShape) -> String {
        var steps: [String] = []
        if pool > 1 { steps.append("pooled \(pool)×\(pool)") }
        if scalePixels { steps.append("scaled by 1/\(preprocessing.scaleDivisor.map { String(format: "%g", $0) } ?? "max")") }
        if standardize { steps.append("standardized") }
        let how = steps.isEmpty ? "" : ", " + steps.joined(separator: ", ")
        guard let path else { return "Gaussian inputs" + how }
        return "inputs from \(path) (\(format), \(fileShape.map(String.init).joined(separator: "×")) per sample as \(input)\(how))"
    }

    private enum CodingKeys: String, CodingKey {
        case path = "inputs", format = "input_format", fileShape = "input_file_shape", pool, scalePixels = "scale_pixels", standardize, preprocessing
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(path ?? "gaussian", forKey: .path)
        try c.encode(format, forKey: .format)
        if path != nil { try c.encode(fileShape, forKey: .fileShape) }
        try c.encode(pool, forKey: .pool)
        try c.encode(scalePixels, forKey: .scalePixels)
        try c.encode(standardize, forKey: .standardize)
        try c.encode(preprocessing, forKey: .preprocessing)
    }
}

extension LayerProblem {
    /// Reads the inputs of `c` (``DataLoader``: .npy, IDX — gzip-compressed too — or CSV, each
    /// process only its rows `communicator.block(of: T)`; Gaussian without a file), pooled,
    /// scaled and standardized as for the MLP path, as samples of `architecture`'s input shape.
    /// Collective. Refused, with one line naming both shapes, before the collective
    /// preprocessing: a file whose samples hold another number of values than the input shape,
    /// or images h × w that are not the input's [1, h, w] (or [c, h', w'] with c × h'·w' = h × w,
    /// channels as rows). Targets or one-hot labels are read like the MLP path's (each process
    /// its rows); their width is checked against the network's outputs by ``LayerProblem``.
    public static func loadInputs(_ c: ProblemConfiguration, architecture: LayerArchitecture,
                                  communicator: any Communicator) throws -> LayerInputs {
        let input = architecture.input
        let local = try communicator.agree { () throws -> LocalData in
            let local = try DataLoader.readLocal(c, gaussianDimension: input.count, communicator: communicator)
            if let path = c.inputsPath {
                let perSample = local.imageShape ?? [local.dimension]
                let fits: Bool
                if local.dimension != input.count {
                    fits = false
                } else if let image = local.imageShape, input.isImage {
                    fits = [input.height, input.width] == image || [input.channels, input.height * input.width] == image
                } else {
                    fits = true
                }
                guard fits else {
                    throw WispError.badInput("\(printable(path)): the inputs have shape \(perSample) per sample (\(local.dimension) values\(c.pool > 1 ? " after \(Setting.pool) \(c.pool)" : "")) but the architecture's input is \(input.dimensions) (\(input.count) values)")
                }
            }
            return local
        }
        try DataLoader.agreeOnShapes(local, communicator: communicator)
        let shape = local.imageShape ?? [local.dimension]
        let loaded = try DataLoader.finish(local, configuration: c, communicator: communicator)
        let source = c.inputsPath == nil && c.pool == 1 && !c.scalePixels && !c.standardize ? LayerInputSource.gaussian
            : LayerInputSource(path: c.inputsPath, format: loaded.inputFormat, fileShape: shape, pool: c.pool, scalePixels: c.scalePixels,
                               standardize: c.standardize, preprocessing: loaded.preprocessing)
        return LayerInputs(dataset: loaded.dataset, source: source, targets: loaded.targets)
    }
}
