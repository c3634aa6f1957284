/// The input samples x_t this process holds: rows `samples` of the global T × d input matrix,
/// stored row-major (one sample per row).
public struct Dataset: Sendable {
    /// d, the input dimension.
    public let dimension: Int
    /// T, the number of samples over all processes (the 1/T of the Fisher matrix).
    public let totalSamples: Int
    /// The global indices of the samples held here (a contiguous block).
    public let samples: Range<Int>
    /// |samples| × d values, row-major.
    public let values: [Double]

    public init(dimension: Int, totalSamples: Int, samples: Range<Int>, values: [Double]) throws {
        guard dimension >= 1 else { throw WispError.invalidConfiguration("input dimension must be at least 1") }
        guard totalSamples >= 1 else { throw WispError.invalidConfiguration("\(Setting.samples) must be at least 1 (got \(totalSamples))") }
        guard samples.lowerBound >= 0, samples.upperBound <= totalSamples, values.count == samples.count * dimension else {
            throw WispError.badInput("inputs hold \(values.count) values, expected \(samples.count) samples × \(dimension)")
        }
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw WispError.nonFinite("input sample \(samples.lowerBound + bad / dimension), feature \(bad % dimension) is \(values[bad])")
        }
        self.dimension = dimension
        self.totalSamples = totalSamples
        self.samples = samples
        self.values = values
    }

    /// Gaussian inputs x_t ~ N(0, I_d) (Karakida et al. eq. 3). Entry (t, j) is the normal at
    /// index t·d + j of stream (seed, inputs): the same for any block of samples.
    public static func gaussian(totalSamples: Int, dimension: Int, seed: UInt64, samples: Range<Int>? = nil) throws -> Dataset {
        guard totalSamples >= 1 else { throw WispError.invalidConfiguration("\(Setting.samples) must be at least 1 (got \(totalSamples))") }
        guard dimension >= 1 else { throw WispError.invalidConfiguration("\(Setting.inputDimension) must be at least 1 (got \(dimension))") }
        let block = samples ?? 0..<totalSamples
        var x = [Double](repeating: 0, count: block.count * dimension)
        x.withUnsafeMutableBufferPointer {
            CounterRandom(seed: seed, stream: .inputs).fillNormal($0, first: block.lowerBound * dimension)
        }
        return try Dataset(dimension: dimension, totalSamples: totalSamples, samples: block, values: x)
    }

    /// The local inputs in precision `S`.
    public func converted<S: BLASScalar>(to: S.Type) -> [S] {
        if S.self == Double.self { return unsafeBitCast(values, to: [S].self) }   // the same array, no per-element cast
        return values.map { S($0) }
    }
}
