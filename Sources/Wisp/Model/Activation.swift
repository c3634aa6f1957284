import RealModule

/// The elementwise nonlinearity φ of the hidden layers, h = φ(u) (Karakida et al. eq. 1).
/// The output layer is always linear.
public enum Activation: String, CaseIterable, Codable, Sendable {
    /// φ(u) = max(u, 0); φ'(0) is taken as 0.
    case relu
    /// φ(u) = u for u > 0, s·u otherwise, with slope s = ``leakySlope``.
    case leakyRelu = "leaky-relu"
    /// φ(u) = tanh u.
    case tanh
    /// φ(u) = 1/(1 + e^(−u)).
    case sigmoid
    /// φ(u) = erf(u).
    case erf
    /// The smooth ReLU φ(u) = log(1 + eᵘ) (Jacot et al.).
    case softplus
    /// φ(u) = u.
    case linear

    /// Negative-side slope of `leaky-relu`.
    public static let leakySlope = 0.01

    /// Writes h = φ(u) and φ'(u) for every element. One pass over memory; the switch is hoisted
    /// out of the loop so each case is a tight, vectorizable loop.
    public func apply<S: BLASScalar>(
        _ u: UnsafePointer<S>, value h: UnsafeMutablePointer<S>, derivative d: UnsafeMutablePointer<S>, count n: Int
    ) {
        switch self {
        case .relu:
            for i in 0..<n { let x = u[i]; h[i] = x > 0 ? x : 0; d[i] = x > 0 ? 1 : 0 }
        case .leakyRelu:
            let s = S(Self.leakySlope)
            for i in 0..<n { let x = u[i]; h[i] = x > 0 ? x : s * x; d[i] = x > 0 ? 1 : s }
        case .tanh:
            for i in 0..<n { let y = S.tanh(u[i]); h[i] = y; d[i] = 1 - y * y }
        case .sigmoid:
            for i in 0..<n { let y = 1 / (1 + S.exp(-u[i])); h[i] = y; d[i] = y * (1 - y) }
        case .erf:
            let c = 2 / S.sqrt(S.pi)
            for i in 0..<n { let x = u[i]; h[i] = S.erf(x); d[i] = c * S.exp(-x * x) }
        case .softplus:
            for i in 0..<n {
                let x = u[i]
                // log(1 + eˣ) = max(x, 0) + log(1 + e^(−|x|)), stable for any x.
                h[i] = max(x, 0) + S.log(onePlus: S.exp(-abs(x)))
                d[i] = 1 / (1 + S.exp(-x))
            }
        case .linear:
            for i in 0..<n { h[i] = u[i]; d[i] = 1 }
        }
    }

    /// φ(u) for one Double (references and theory).
    public func value(_ x: Double) -> Double {
        var h = 0.0, d = 0.0, u = x
        apply(&u, value: &h, derivative: &d, count: 1)
        return h
    }

    /// φ'(u) for one Double.
    public func derivative(_ x: Double) -> Double {
        var h = 0.0, d = 0.0, u = x
        apply(&u, value: &h, derivative: &d, count: 1)
        return d
    }
}
