/// A Monte Carlo estimate: the mean of independent samples and its standard error
/// s/√n (s the sample standard deviation; 0 for a single sample).
public struct Estimate: Codable, Sendable, Equatable {
    public var mean: Double
    public var standardError: Double
    public var samples: Int

    public init(_ values: [Double]) {
        let n = values.count
        samples = n
        mean = n > 0 ? values.reduce(0, +) / Double(n) : .nan
        if n > 1 {
            let m = mean
            let variance = values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(n - 1)
            standardError = (variance / Double(n)).squareRoot()
        } else {
            standardError = 0
        }
    }

    public init(mean: Double, standardError: Double, samples: Int) {
        self.mean = mean
        self.standardError = standardError
        self.samples = samples
    }

    /// The same estimate multiplied by a constant.
    public func scaled(by c: Double) -> Estimate {
        Estimate(mean: mean * c, standardError: standardError * abs(c), samples: samples)
    }

    private enum CodingKeys: String, CodingKey {
        case mean, standardError = "standard_error", samples
    }
}
