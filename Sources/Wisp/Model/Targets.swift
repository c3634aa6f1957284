/// The targets y_t of the samples this process holds: regression values, or class labels
/// one-hot encoded, rows `samples` of the global T × C target matrix (row-major).
///
/// A loss compares them with the network outputs f(x_t) (``Loss``); the layerwise alignment
/// of Lou et al. (eq. 6–7) centers them.
public struct Targets: Sendable {
    /// C, the number of target columns (equal to the network's outputs).
    public let columns: Int
    /// The global indices of the samples held here (the same block as the ``Dataset``).
    public let samples: Range<Int>
    /// |samples| × C values, row-major.
    public let values: [Double]
    /// The number of classes when the targets are one-hot encoded labels; nil for real values.
    public let classes: Int?
    /// Where the targets came from ("teacher network (seed …)", a file path), for the record.
    public let source: String

    public init(columns: Int, samples: Range<Int>, values: [Double], classes: Int? = nil, source: String) throws {
        guard columns >= 1 else { throw WispError.invalidConfiguration("targets need at least one column") }
        guard values.count == samples.count * columns else {
            throw WispError.badInput("\(source): targets hold \(values.count) values, expected \(samples.count) samples × \(columns)")
        }
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw WispError.nonFinite("\(source): target of sample \(samples.lowerBound + bad / columns), column \(bad % columns) is \(values[bad])")
        }
        self.columns = columns
        self.samples = samples
        self.values = values
        self.classes = classes
        self.source = source
    }

    /// The seed of the default teacher network: the student's seed with its bits mixed by the
    /// golden-ratio constant, so that teacher and student weights come from different streams
    /// for every seed.
    public static func teacherSeed(student seed: UInt64) -> UInt64 { seed ^ 0x9E37_79B9_7F4A_7C15 }

    /// Realizable targets from a teacher network f* of the same architecture, initialized from
    /// ``teacherSeed(student:)``: y_t = f*(x_t) for mse; the one-hot arg-max class of f*(x_t)
    /// for cross-entropy; y_tk = [f*_k(x_t) > 0] for bce. Costs one forward pass.
    public static func teacher<S: BLASScalar>(architecture: Architecture, studentSeed: UInt64, inputs: Dataset, loss: Loss = .mse,
                                            precision: S.Type, reduction: any SampleReduction = LocalSamples()) throws -> Targets {
        let seed = teacherSeed(student: studentSeed)
        let network = Network<S>(architecture: architecture, seed: seed)
        let y = try BatchedJacobian(network: network, inputs: inputs, reduction: reduction).outputs.map { Double($0) }
        return try teacher(outputs: y, columns: architecture.outputs, samples: inputs.samples, loss: loss,
                           source: "teacher network (same architecture, seed \(seed)\(loss == .mse ? "" : ", labels for \(loss.rawValue)"))")
    }

    /// Targets from a teacher's outputs `f` (|samples| × C): f itself for mse, the one-hot
    /// arg-max class for cross-entropy, [f_k > 0] for bce.
    public static func teacher(outputs f: [Double], columns C: Int, samples: Range<Int>, loss: Loss, source: String) throws -> Targets {
        var y = f
        var classes: Int? = nil
        switch loss {
        case .mse: break
        case .crossEntropy:
            classes = C
            for t in 0..<(y.count / C) {
                let row = y[(t * C)..<((t + 1) * C)]
                let best = row.indices.max { row[$0] < row[$1] }!
                for k in 0..<C { y[t * C + k] = t * C + k == best ? 1 : 0 }
            }
        case .binaryCrossEntropy:
            y = y.map { $0 > 0 ? 1 : 0 }
        }
        return try Targets(columns: C, samples: samples, values: y, classes: classes, source: source)
    }
}
