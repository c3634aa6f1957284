/// This process's part of the inputs and targets after the local phase: files opened and
/// validated, its rows read (and pooled), labels checked; nothing collective yet.
public struct LocalData: Sendable {
    /// d, T and this process's samples.
    public var dimension: Int
    public var totalSamples: Int
    public var samples: Range<Int>
    /// The local inputs before the collective preprocessing steps (finite, checked), row-major.
    public var values: [Double]
    /// Targets or one-hot labels from a file; nil means the teacher network's.
    public var targets: Targets?
    /// h × w of each (pooled) image, when the inputs are T × h × w.
    public var imageShape: [Int]?
    /// "npy", "idx", "csv" or "gaussian".
    public var inputFormat: String
}

/// The inputs and targets a job measures, preprocessed.
public struct LoadedData: Sendable {
    public var dataset: Dataset
    public var targets: Targets?
    public var imageShape: [Int]?
    public var inputFormat: String
    public var preprocessing: Preprocessing.Summary
}

/// Resolves the data settings of a ``ProblemConfiguration`` into this process's samples, in
/// two phases so that a failure on one process can never leave the others inside a collective:
///
/// 1. ``readLocal(_:gaussianDimension:communicator:)``: open the files (``ArrayFile``: .npy,
///    IDX, CSV), check shapes, row counts, labels and finiteness, read this process's rows
///    `communicator.block(of: T)` (.npy and IDX: only those bytes; CSV and labels: the whole
///    file, parsed by every process), and pool. Purely local; run it inside
///    ``Communicator/agree(_:)``.
/// 2. ``finish(_:configuration:communicator:)``: the collective preprocessing (scale,
///    standardize), issued unconditionally on every process.
///
/// Which file holds what: `targetsPath` (real values, T × C) or `labelsPath` (integer labels,
/// T or T × 1, one-hot into C = `classes` ?? max label + 1 columns); `targetColumns` chooses
/// their CSV columns, and with neither file given, takes the targets from the inputs CSV. When
/// the targets or labels come from the inputs file, the inputs are its remaining columns.
/// A targets or labels file must have as many rows as the inputs file; the first T of each are used.
public enum DataLoader {
    /// Both phases, the first agreed across processes (collective).
    public static func load(_ c: ProblemConfiguration, gaussianDimension: Int, communicator: any Communicator) throws -> LoadedData {
        let local = try communicator.agree { try readLocal(c, gaussianDimension: gaussianDimension, communicator: communicator) }
        try agreeOnShapes(local, communicator: communicator)
        return try finish(consume local, configuration: c, communicator: communicator)
    }

    /// Phase 1 (local). `gaussianDimension` is d for Gaussian inputs (no `inputsPath`).
    public static func readLocal(_ c: ProblemConfiguration, gaussianDimension: Int, communicator: any Communicator) throws -> LocalData {
        if c.targetsPath != nil, c.labelsPath != nil {
            throw WispError.invalidConfiguration("\(Setting.targets) and \(Setting.labels) cannot both be given: choose real-valued targets or class labels")
        }
        if let columns = c.targetColumns, columns.isEmpty {
            throw WispError.invalidConfiguration("\(Setting.targetColumns) needs a column name or number")
        }
        if let k = c.classes, k < 1 { throw WispError.invalidConfiguration("\(Setting.classes) must be at least 1 (got \(k))") }
        if c.classes != nil, c.labelsPath == nil { throw WispError.invalidConfiguration("\(Setting.classes) applies to \(Setting.labels) only") }
        guard c.pool >= 1 else { throw WispError.invalidConfiguration("\(Setting.pool) must be at least 1 (got \(c.pool))") }

        let targetPath = c.labelsPath ?? c.targetsPath ?? (c.targetColumns != nil ? c.inputsPath : nil)
        if c.targetColumns != nil, targetPath == nil {
            throw WispError.invalidConfiguration("\(Setting.targetColumns) chooses CSV columns of \(Setting.targets), \(Setting.labels) or \(Setting.inputs), but none is given")
        }
        let sharesInputs = targetPath != nil && targetPath == c.inputsPath

        // Open (headers only for .npy and IDX) and check shapes.
        var inputs: ArrayFile? = nil
        if let path = c.inputsPath {
            if sharesInputs, c.targetColumns == nil {
                throw WispError.invalidConfiguration("\(printable(path)) cannot be both the inputs and the targets: name the target columns of a CSV with \(Setting.targetColumns)")
            }
            let file = try ArrayFile(path: path, columns: sharesInputs ? .excluding(c.targetColumns ?? []) : .all)
            guard file.shape.count >= 2, file.rowLength >= 1 else {
                throw WispError.badInput("\(printable(path)): expected a 2-D array of inputs (T × d; or T × h × w images), found shape \(file.shape)")
            }
            inputs = file
        }
        var targetFile: ArrayFile? = nil
        if let path = targetPath {
            let file = try ArrayFile(path: path, columns: c.targetColumns.map { .only($0) } ?? .all)
            guard file.rowLength >= 1 else { throw WispError.badInput("\(printable(path)): targets of shape \(file.shape) have no columns") }
            if c.labelsPath != nil, file.rowLength != 1 {
                throw WispError.badInput("\(printable(path)): labels must be one integer per sample (shape T or T × 1), found shape \(file.shape)\(file.format == .csv ? "; choose the column with \(Setting.targetColumns)" : "")")
            }
            if let inputs, file.rows != inputs.rows {
                throw WispError.badInput("\(printable(path)) has \(file.rows) rows but the inputs \(printable(inputs.path)) have \(inputs.rows): they must describe the same samples")
            }
            targetFile = file
        }

        let available = inputs?.rows ?? targetFile?.rows
        guard let T = c.samples ?? available else {
            throw WispError.invalidConfiguration("\(Setting.samples) is required with Gaussian inputs")
        }
        guard T >= 1 else { throw WispError.invalidConfiguration("\(Setting.samples) must be at least 1 (got \(T))") }
        if let available, T > available {
            throw WispError.invalidConfiguration("\(Setting.samples) \(T) exceeds the \(available) rows of \(printable(inputs?.path ?? targetFile!.path))")
        }
        let block = communicator.block(of: T)
        let inputWidth = inputs?.rowLength ?? gaussianDimension
        try MemoryBudget.allocation("the inputs (\(block.count) samples × \(inputWidth) features on this process)",
                                    count: try MemoryBudget.count("the inputs", block.count, inputWidth), elementBytes: inputs == nil ? 8 : 16)

        // Inputs: this process's rows, pooled.
        var imageShape: [Int]? = nil
        let dataset: Dataset
        if let inputs {
            var values = try inputs.read(rows: block)
            var d = inputs.rowLength
            if inputs.shape.count == 3 { imageShape = Array(inputs.shape[1...]) }
            if c.pool > 1 {
                guard let image = imageShape else {
                    throw WispError.invalidConfiguration("\(Setting.pool) needs images (inputs of shape T × h × w, from IDX or a 3-D .npy), but \(printable(inputs.path)) has shape \(inputs.shape)")
                }
                values = try Preprocessing.averagePool(values, rows: block.count, height: image[0], width: image[1], factor: c.pool)
                imageShape = [image[0] / c.pool, image[1] / c.pool]
                d = imageShape![0] * imageShape![1]
            }
            dataset = try Dataset(dimension: d, totalSamples: T, samples: block, values: values)
        } else {
            if c.pool > 1 { throw WispError.invalidConfiguration("\(Setting.pool) needs image inputs (\(Setting.inputs) of shape T × h × w)") }
            dataset = try Dataset.gaussian(totalSamples: T, dimension: gaussianDimension, seed: c.seed, samples: block)
        }

        // Targets or labels.
        var targets: Targets? = nil
        if let file = targetFile {
            if c.labelsPath != nil {
                targets = try oneHot(file, classes: c.classes, totalSamples: T, block: block)
            } else {
                try MemoryBudget.allocation("the targets (\(block.count) samples × \(file.rowLength) columns on this process)",
                                            count: try MemoryBudget.count("the targets", block.count, file.rowLength))
                targets = try Targets(columns: file.rowLength, samples: block, values: try file.read(rows: block),
                                      source: file.path + (c.targetColumns.map { " columns " + $0.joined(separator: ",") } ?? ""))
            }
        }
        return LocalData(dimension: dataset.dimension, totalSamples: T, samples: block, values: dataset.values, targets: targets,
                         imageShape: imageShape, inputFormat: inputs?.format.rawValue ?? "gaussian")
    }

    /// Collective, between the phases: all processes must have read data of the same shape
    /// (T, d, image shape, target columns, format), else one error names the difference
    /// before any collective exchanges buffers of different lengths (``RankAgreement``).
    /// `extra` adds fields (the model's layer widths).
    public static func agreeOnShapes(_ local: borrowing LocalData, extra: [(name: String, value: String)] = [],
                                     communicator: any Communicator) throws {
        try RankAgreement.check([
            ("samples T", "\(local.totalSamples)"), ("input dimension d", "\(local.dimension)"),
            ("image shape", local.imageShape.map { "\($0)" } ?? "none"), ("input format", local.inputFormat),
            ("target columns", local.targets.map { "\($0.columns)" } ?? "none (teacher network)"),
        ] + extra, what: "data and model shapes", communicator: communicator)
    }

    /// Phase 2 (collective): scale and standardize the inputs over all T samples, in place in
    /// `local`'s buffer (pass it with `consume` to keep a single copy of the inputs).
    public static func finish(_ local: consuming LocalData, configuration c: ProblemConfiguration,
                              communicator: any Communicator) throws -> LoadedData {
        var x: [Double] = []
        swap(&x, &local.values)
        let summary = try c.preprocessing.applyCollective(&x, rows: local.samples.count, columns: local.dimension,
                                                           totalSamples: local.totalSamples, communicator: communicator)
        let dataset = try Dataset(dimension: local.dimension, totalSamples: local.totalSamples, samples: local.samples, values: x)
        return LoadedData(dataset: dataset, targets: local.targets, imageShape: local.imageShape, inputFormat: local.inputFormat,
                          preprocessing: summary)
    }

    /// Integer class labels → one-hot rows e_(y_t) for this process's `block`. Every process
    /// reads all labels (T numbers) so that all find the same class count without a collective.
    static func oneHot(_ file: ArrayFile, classes: Int?, totalSamples: Int, block: Range<Int>) throws -> Targets {
        let all = try file.read(rows: nil)
        var largest = 0
        for (row, v) in all.enumerated() {
            guard v.isFinite, v >= 0, v == v.rounded(), v < 1e9 else {
                throw WispError.badInput("\(printable(file.path)): label \(v) of sample \(row) is not a non-negative integer class index")
            }
            largest = max(largest, Int(v))
        }
        let k = classes ?? largest + 1
        if largest >= k {
            let row = all.firstIndex { Int($0) >= k }!
            throw WispError.badInput("\(printable(file.path)): label \(Int(all[row])) of sample \(row) is not below \(Setting.classes) \(k)")
        }
        try MemoryBudget.allocation("the one-hot targets (\(block.count) samples × \(k) classes\(classes == nil ? ", from the largest label" : ""))",
                                    count: try MemoryBudget.count("the one-hot targets", block.count, k))
        var values = [Double](repeating: 0, count: block.count * k)
        for (i, t) in block.enumerated() { values[i * k + Int(all[t])] = 1 }
        return try Targets(columns: k, samples: block, values: values, classes: k, source: "\(file.path) (labels, \(k) classes)")
    }
}
