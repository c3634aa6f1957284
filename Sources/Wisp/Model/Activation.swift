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
    /// The normalized smooth ReLU of Jacot et al. (Fig. 1–3): φ(u) = (log(1 + eᵘ) − μ)/σ with
    /// μ = E[log(1 + e^z)] and σ² = Var[log(1 + e^z)] for z ~ N(0, 1), so that E[φ(z)] = 0 and
    /// E[φ(z)²] = 1 (constants ``normalizedSoftplusMean`` and ``normalizedSoftplusScale``).
    case normalizedSoftplus = "normalized-softplus"
    /// φ(u) = u.
    case linear

    /// Negative-side slope of `leaky-relu`.
    public static let leakySlope = 0.01
    /// μ = E[log(1 + e^z)], z ~ N(0, 1) = 0.806059183347419 (trapezoidal rule on [−40, 40]
    /// with 4·10⁵ intervals, spectrally accurate for this integrand; checked against
    /// Gauss–Hermite in the tests).
    public static let normalizedSoftplusMean = 0.806059183347419
    /// σ = (E[log(1 + e^z)²] − μ²)^(1/2) = 0.5210705343814246 (E[log(1 + e^z)²] = 0.9212459088592514).
    public static let normalizedSoftplusScale = 0.5210705343814246

    /// Writes h = φ(u) and φ'(u) for every element. One pass over memory, in parallel chunks on
    /// all cores (each element's result is independent of the chunking); the switch is hoisted
    /// out of the loop so each case is a tight loop. tanh is ``HyperbolicTangent`` (≤ 2 ulp).
    public func apply<S: BLASScalar>(
        _ u: UnsafePointer<S>, value h: UnsafeMutablePointer<S>, derivative d: UnsafeMutablePointer<S>, count n: Int
    ) {
        nonisolated(unsafe) let (u, h, d) = (u, h, d)
        parallelChunks(count: n) { range in
            applyChunk(u + range.lowerBound, value: h + range.lowerBound, derivative: d + range.lowerBound, count: range.count)
        }
    }

    private func applyChunk<S: BLASScalar>(
        _ u: UnsafePointer<S>, value h: UnsafeMutablePointer<S>, derivative d: UnsafeMutablePointer<S>, count n: Int
    ) {
        switch self {
        case .relu:
            for i in 0..<n { let x = u[i]; h[i] = x > 0 ? x : 0; d[i] = x > 0 ? 1 : 0 }
        case .leakyRelu:
            let s = S(Self.leakySlope)
            for i in 0..<n { let x = u[i]; h[i] = x > 0 ? x : s * x; d[i] = x > 0 ? 1 : s }
        case .tanh:
            for i in 0..<n { let y = S(HyperbolicTangent.value(Double(u[i]))); h[i] = y; d[i] = 1 - y * y }
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
        case .normalizedSoftplus:
            let mu = S(Self.normalizedSoftplusMean), a = 1 / S(Self.normalizedSoftplusScale)
            for i in 0..<n {
                let x = u[i]
                h[i] = a * (max(x, 0) + S.log(onePlus: S.exp(-abs(x))) - mu)
                d[i] = a / (1 + S.exp(-x))
            }
        case .linear:
            for i in 0..<n { h[i] = u[i]; d[i] = 1 }
        }
    }

    /// Writes φ''(u) for every element (the R-operator of the Hessian-vector product needs it).
    /// ReLU, leaky ReLU and the identity are piecewise linear: φ'' = 0 except at the kink u = 0,
    /// where it is a Dirac mass that a pre-activation hits with probability zero and that the
    /// Hessian of the network ignores (as does every autodiff framework); finite differences agree
    /// with the result whenever no pre-activation crosses 0 within the step.
    public func applySecondDerivative<S: BLASScalar>(_ u: UnsafePointer<S>, into d2: UnsafeMutablePointer<S>, count n: Int) {
        switch self {
        case .relu, .leakyRelu, .linear:
            d2.update(repeating: 0, count: n)
        case .tanh:
            for i in 0..<n { let y = S(HyperbolicTangent.value(Double(u[i]))); d2[i] = -2 * y * (1 - y * y) }
        case .sigmoid:
            for i in 0..<n { let y = 1 / (1 + S.exp(-u[i])); d2[i] = y * (1 - y) * (1 - 2 * y) }
        case .erf:
            let c = 2 / S.sqrt(S.pi)
            for i in 0..<n { let x = u[i]; d2[i] = -2 * x * c * S.exp(-x * x) }
        case .softplus:
            for i in 0..<n { let y = 1 / (1 + S.exp(-u[i])); d2[i] = y * (1 - y) }
        case .normalizedSoftplus:
            let a = 1 / S(Self.normalizedSoftplusScale)
            for i in 0..<n { let y = 1 / (1 + S.exp(-u[i])); d2[i] = a * y * (1 - y) }
        }
    }

    /// φ''(u) for one Double.
    public func secondDerivative(_ x: Double) -> Double {
        var d2 = 0.0, u = x
        applySecondDerivative(&u, into: &d2, count: 1)
        return d2
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
