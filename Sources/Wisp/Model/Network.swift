/// A fully connected network: its ``Architecture`` and the flat parameter vector θ, stored in
/// the precision `S` the passes run in.
public struct Network<S: BLASScalar>: Sendable {
    public let architecture: Architecture
    /// θ, laid out as described in ``Architecture``.
    public var parameters: [S]

    /// Wraps given parameters; they must be finite and of length P.
    public init(architecture: Architecture, parameters: [S]) throws {
        guard parameters.count == architecture.parameterCount else {
            throw WispError.badInput("expected \(architecture.parameterCount) parameters, got \(parameters.count)")
        }
        if let bad = parameters.withUnsafeBufferPointer({ $0.baseAddress.flatMap { p in S.firstNonFinite(p, count: parameters.count) } }) {
            throw WispError.nonFinite("parameter \(bad) of the network is \(parameters[bad])")
        }
        self.architecture = architecture
        self.parameters = parameters
    }

    /// Random initialization (Karakida et al. eq. 2): entry i of W^l is std_l · z with z the
    /// normal at index i of stream (seed, weights l); biases likewise from (seed, biases l).
    /// The draw depends on the seed and the position only, never on samples or ranks.
    public init(architecture: Architecture, seed: UInt64) {
        self.architecture = architecture
        var theta = [S](repeating: 0, count: architecture.parameterCount)
        theta.withUnsafeMutableBufferPointer { p in
            for l in 1...architecture.depth {
                let nW = architecture.widths[l] * architecture.widths[l - 1]
                let w = UnsafeMutableBufferPointer(rebasing: p[architecture.weightOffset(l)..<architecture.weightOffset(l) + nW])
                CounterRandom(seed: seed, stream: .weights(layer: l)).fillNormal(w, scale: architecture.weightInitStd(l))
                if architecture.hasBias(l) {
                    let o = architecture.biasOffset(l)
                    let b = UnsafeMutableBufferPointer(rebasing: p[o..<o + architecture.widths[l]])
                    CounterRandom(seed: seed, stream: .biases(layer: l)).fillNormal(b, scale: architecture.biasInitStd)
                }
            }
        }
        self.parameters = theta
    }

    /// The same network in another precision.
    /// Throws if a value overflows the target precision.
    public func converted<T: BLASScalar>(to: T.Type) throws -> Network<T> {
        try Network<T>(architecture: architecture, parameters: parameters.map { T($0) })
    }
}
