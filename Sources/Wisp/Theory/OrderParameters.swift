import Foundation

// MARK: - Gaussian moments of an activation

/// The one- and two-dimensional Gaussian integrals of an activation φ and its derivative φ'
/// that drive the mean-field recursions (Karakida et al. eq. 5 and 7):
///
///     ∫Du φ(√q u)   ∫Du φ²(√q u)   I_φ[a, b]   ∫Du φ'²(√q u)   I_φ'[a, b]
///
/// with I_φ[a, b] = ∫DyDx φ(√a x) φ(√a(cx + √(1−c²) y)), c = b/a (§2.2), i.e. E[φ(u)φ(v)] for
/// (u, v) centred Gaussian with variances a and covariance b.
///
/// ``Method/automatic`` uses closed forms where they exist — mandatory for the kinked
/// activations, on which quadrature converges only algebraically:
///
/// - relu (arc-cosine kernels of degree 1 and 0, Cho & Saul): ∫Du φ²(√q u) = q/2,
///   I_φ[a, b] = a k(c) with k(c) = (√(1−c²) + (π − arccos c) c)/(2π),
///   I_φ'[a, b] = (π − arccos c)/(2π), ∫Du φ(√q u) = √(q/(2π)).
/// - leaky-relu with slope s (φ = relu(u) − s relu(−u)): I_φ[a, b] = a((1+s²) k(c) − 2s k(−c)),
///   I_φ'[a, b] = s + (1−s)² (π − arccos c)/(2π), ∫Du φ = (1−s)√(q/(2π)).
/// - linear: I_φ = b, I_φ' = 1.
/// - erf (arcsine kernel, Williams 1998): I_φ[a, b] = (2/π) arcsin(2b/(1 + 2a)),
///   I_φ'[a, b] = (4/π) / √((1+2a)² − 4b²) (φ' = (2/√π) e^(−u²), E[e^(−u²−v²)] = det(I + 2Σ)^(−1/2)).
///
/// tanh, sigmoid and softplus use a Gauss–Hermite rule whose order grows with the variance
/// (``automaticOrder(_:variance:)``: absolute error ≲ 1e−13 up to q ≈ 6 for tanh (1.4e−12 at
/// q = 8), up to q ≈ 25 for sigmoid and softplus).
/// ``Method/quadrature(order:)`` forces quadrature for any activation (cross-checks).
///
/// Conventions at the edges, shared by both methods: a = 0 means u = v = 0 surely, so the
/// integrals are φ(0)², φ'(0)² (Wisp's φ'(0): relu 0, leaky-relu s); c = b/a is clamped to
/// [−1, 1]. Cost: O(1) for closed forms, n (1-D) or n² (2-D) activation evaluations otherwise.
public enum ActivationMoments {
    /// How an integral is evaluated.
    public enum Method: Sendable, Equatable, Codable {
        /// Closed form where one exists (relu, leaky-relu, linear, erf), else Gauss–Hermite of
        /// order ``ActivationMoments/automaticOrder(_:variance:)``.
        case automatic
        /// Gauss–Hermite of the given order for every activation.
        case quadrature(order: Int)
    }

    /// Whether φ has closed-form Gaussian moments (and ``Method/automatic`` uses them).
    public static func hasClosedForm(_ phi: Activation) -> Bool {
        switch phi {
        case .relu, .leakyRelu, .linear, .erf: return true
        case .tanh, .sigmoid, .softplus, .normalizedSoftplus: return false
        }
    }

    /// The Gauss–Hermite order ``Method/automatic`` uses for a smooth φ at largest variance q.
    ///
    /// φ(√q u) is analytic in the strip |Im u| < d_0/√q, d_0 the distance of φ's nearest complex
    /// singularity from the real axis (tanh: π/2; sigmoid, softplus: π; erf is entire), and the
    /// error falls like exp(−κ (d_0/√q) √(2n)) with κ ≈ 1.3. n = 400 q/d_0² makes the exponent
    /// ≈ 37: measured against order 2000, the 1-D and 2-D moments of φ and φ' agree to ≤ 2e−14
    /// for tanh up to q = 6 (1.4e−12 at q = 8) and to ≤ 1.5e−14 for sigmoid and softplus up to
    /// q = 25. The order is rounded up to one of 128, 192, 256, 384, 512, 768, 1024 (so few rules
    /// are built and cached) and capped at 1024: tanh beyond q ≈ 8 and sigmoid or softplus beyond
    /// q ≈ 25 lose accuracy (tanh at q = 25: ~1e−6).
    public static func automaticOrder(_ phi: Activation, variance q: Double) -> Int {
        let d0: Double
        switch phi {
        case .tanh: d0 = Double.pi / 2
        case .sigmoid, .softplus, .normalizedSoftplus: d0 = Double.pi
        case .erf, .relu, .leakyRelu, .linear: d0 = Double.pi  // closed forms; only for forced use
        }
        let wanted = 400 * max(q, 0) / (d0 * d0)
        for n in [128, 192, 256, 384, 512, 768, 1024] where Double(n) >= wanted { return n }
        return 1024
    }

    private static func rule(_ phi: Activation, _ method: Method, variance q: Double) throws -> GaussHermite? {
        switch method {
        case .automatic: return hasClosedForm(phi) ? nil : try GaussHermite.rule(order: automaticOrder(phi, variance: q))
        case .quadrature(let n): return try GaussHermite.rule(order: n)
        }
    }

    /// k(c) = E[relu(u) relu(v)] / a for unit-correlation-c Gaussians (arc-cosine kernel, degree 1).
    static func arcCosine1(_ c: Double) -> Double {
        (((1 - c) * (1 + c)).squareRoot() + (Double.pi - acos(c)) * c) / (2 * Double.pi)
    }

    /// P(u > 0, v > 0) = (π − arccos c)/(2π) (arc-cosine kernel, degree 0).
    static func arcCosine0(_ c: Double) -> Double { (Double.pi - acos(c)) / (2 * Double.pi) }

    /// c = b/a clamped to [−1, 1], for a > 0.
    static func correlation(_ a: Double, _ b: Double) -> Double { min(1, max(-1, b / a)) }

    /// ∫Du φ(√q u), the Gaussian mean (Definition 2.1 uses q = 1).
    public static func mean(_ phi: Activation, variance q: Double, method: Method = .automatic) throws -> Double {
        if let r = try rule(phi, method, variance: q) { return q > 0 ? r.integrate { phi.value(q.squareRoot() * $0) } : phi.value(0) }
        guard q > 0 else { return phi.value(0) }
        let s = Activation.leakySlope
        switch phi {
        case .relu: return (q / (2 * Double.pi)).squareRoot()
        case .leakyRelu: return (1 - s) * (q / (2 * Double.pi)).squareRoot()
        case .linear, .erf: return 0
        case .tanh, .sigmoid, .softplus, .normalizedSoftplus: preconditionFailure("no closed form")
        }
    }

    /// q̂ = ∫Du φ²(√q u) (eq. 5).
    public static func secondMoment(_ phi: Activation, variance q: Double, method: Method = .automatic) throws -> Double {
        try crossMoment(phi, variance: q, covariance: q, method: method)
    }

    /// I_φ[a, b] (eq. 5; §2.2).
    public static func crossMoment(_ phi: Activation, variance a: Double, covariance b: Double,
                                   method: Method = .automatic) throws -> Double {
        if let r = try rule(phi, method, variance: a) {
            return r.gaussianExpectation(variance: a, covariance: b, phi.value, phi.value)
        }
        guard a > 0 else { return phi.value(0) * phi.value(0) }
        let c = correlation(a, b)
        let s = Activation.leakySlope
        switch phi {
        case .relu: return a * arcCosine1(c)
        case .leakyRelu: return a * ((1 + s * s) * arcCosine1(c) - 2 * s * arcCosine1(-c))
        case .linear: return c * a
        case .erf: return 2 / Double.pi * asin(2 * c * a / (1 + 2 * a))
        case .tanh, .sigmoid, .softplus, .normalizedSoftplus: preconditionFailure("no closed form")
        }
    }

    /// ∫Du φ'²(√q u) (eq. 7).
    public static func derivativeSecondMoment(_ phi: Activation, variance q: Double,
                                              method: Method = .automatic) throws -> Double {
        try derivativeCrossMoment(phi, variance: q, covariance: q, method: method)
    }

    /// I_φ'[a, b] (eq. 7).
    public static func derivativeCrossMoment(_ phi: Activation, variance a: Double, covariance b: Double,
                                             method: Method = .automatic) throws -> Double {
        if let r = try rule(phi, method, variance: a) {
            return r.gaussianExpectation(variance: a, covariance: b, phi.derivative, phi.derivative)
        }
        guard a > 0 else { return phi.derivative(0) * phi.derivative(0) }
        let c = correlation(a, b)
        let s = Activation.leakySlope
        switch phi {
        case .relu: return arcCosine0(c)
        case .leakyRelu: return s + (1 - s) * (1 - s) * arcCosine0(c)
        case .linear: return 1
        case .erf:
            let cb = c * a
            return 4 / Double.pi / ((1 + 2 * a) * (1 + 2 * a) - 4 * cb * cb).squareRoot()
        case .tanh, .sigmoid, .softplus, .normalizedSoftplus: preconditionFailure("no closed form")
        }
    }
}

// MARK: - Order parameters

/// The mean-field order parameters of a wide network with Gaussian inputs x ~ N(0, I_d)
/// (Karakida et al. §2.2), layer by layer, in the large-width limit:
///
///     q_t^l  = σ_w² q̂_t^(l−1) + σ_b²,   q_st^l = σ_w² q̂_st^(l−1) + σ_b²            (eq. 6, l = 1…L)
///     q̂_t^l  = ∫Du φ²(√(q_t^l) u),       q̂_st^l = I_φ[q_t^l, q_st^l]               (eq. 5, l = 1…L−1)
///     q̃_t^l  = σ_w² q̃_t^(l+1) ∫Du φ'²(√(q_t^l) u),  q̃_st^l = σ_w² q̃_st^(l+1) I_φ'[q_t^l, q_st^l]
///                                                                              (eq. 7, l = L−1…1)
///
/// from q̂_t^0 = 1, q̂_st^0 = 0 (Gaussian inputs, eq. 3) and q̃_t^L = q̃_st^L = 1. Forward
/// parameters are per-unit averages, q̂_t^l = lim Σ_i h_i^l(t)²/M_l; backward ones are plain
/// sums over units, q̃_t^l = lim Σ_i δ_i^l(t)² (O(1), not divided by M_l), with δ_i^l = ∂f_k/∂u_i^l
/// for one output k (eq. 4). s ≠ t throughout: the overlaps are the same for every pair.
///
/// With ``Propagation/layerNorm`` (eq. 23–24, γ = 1, β = 0, every hidden layer normalized) the
/// recursions are Supplementary eq. S.74 and S.87: the normalized pre-activation has variance 1
/// and correlation q_st^l/q_t^l, and the backward chain gains the factor 1/σ^l(t)² = 1/q_t^l:
///
///     q̂_t^l = ∫Du φ²(u),   q̂_st^l = I_φ[1, q_st^l/q_t^l]                               (S.74)
///     q̃_t^l = σ_w² q̃_t^(l+1) ∫Du φ'²(u) / q_t^l,   q̃_st^l = σ_w² q̃_st^(l+1) I_φ'[1, q_st^l/q_t^l] / q_t^l
///                                                                                        (S.87)
///
/// (S.87 as printed divides by σ_w² q̃_t^(l−1) + σ_b²; S.80 shows the divisor is σ^l(t)² =
/// σ_w² q̂_t^(l−1) + σ_b² = q_t^l, which is what is used here.)
///
/// Arrays are indexed by the layer l (length L + 1); entries outside a quantity's range are
/// set as documented on each field. Cost: L one-dimensional and L two-dimensional Gaussian
/// integrals per direction (``ActivationMoments``): O(L) with closed forms, O(L n²) otherwise.
public struct OrderParameters: Codable, Sendable, Equatable {
    /// Which forward/backward recursions are used.
    public enum Propagation: String, Codable, Sendable, CaseIterable {
        /// Eq. 5–7 (no normalization; also the recursions behind last-layer mean subtraction).
        case plain
        /// Layer normalization in every hidden layer (S.74, S.87).
        case layerNorm = "layernorm"
    }

    public var activation: Activation
    public var sigmaW2: Double
    /// σ_b² as used by the recursions (0 for a network without biases).
    public var sigmaB2: Double
    /// L, the number of weight layers.
    public var depth: Int
    public var propagation: Propagation

    /// q_t^l (eq. 6), the variance of the pre-activation u_i^l(t), for l = 1…L; q_t^0 = 0 (unused).
    /// Under layer norm this is the variance σ^l(t)² before normalization (S.72).
    public var q: [Double]
    /// q_st^l (eq. 6), the covariance of u_i^l(s) and u_i^l(t), for l = 1…L; index 0 is 0 (unused).
    public var qOverlap: [Double]
    /// q̂_t^l (eq. 5) for l = 0…L−1, with q̂_t^0 = 1; q̂_t^L = q_t^L (the readout is linear, h^L = u^L).
    public var qHat: [Double]
    /// q̂_st^l (eq. 5) for l = 0…L−1, with q̂_st^0 = 0; q̂_st^L = q_st^L.
    public var qHatOverlap: [Double]
    /// q̃_t^l (eq. 7) for l = 1…L, with q̃_t^L = 1; q̃_t^0 = 0 (unused: no weights act through δ^0).
    public var qTilde: [Double]
    /// q̃_st^l (eq. 7) for l = 1…L, with q̃_st^L = 1; index 0 is 0 (unused).
    public var qTildeOverlap: [Double]

    private enum CodingKeys: String, CodingKey {
        case activation, sigmaW2 = "sigma_w2", sigmaB2 = "sigma_b2", depth, propagation
        case q = "q_t", qOverlap = "q_st", qHat = "q_hat_t", qHatOverlap = "q_hat_st"
        case qTilde = "q_tilde_t", qTildeOverlap = "q_tilde_st"
    }

    /// Runs the recursions for `depth` = L weight layers. Throws
    /// ``WispError/invalidConfiguration(_:)`` for L < 1, negative or non-finite variances, or a
    /// layer-normalized layer whose pre-activations have zero variance (σ_w² = σ_b² = 0).
    public init(activation: Activation, sigmaW2: Double, sigmaB2: Double, depth: Int,
                propagation: Propagation = .plain, method: ActivationMoments.Method = .automatic) throws {
        guard depth >= 1 else { throw WispError.invalidConfiguration("order parameters need at least one weight layer (got depth \(depth))") }
        guard sigmaW2.isFinite, sigmaW2 >= 0, sigmaB2.isFinite, sigmaB2 >= 0 else {
            throw WispError.invalidConfiguration("σ_w² and σ_b² must be finite and non-negative (got \(sigmaW2), \(sigmaB2))")
        }
        let L = depth
        var q = [Double](repeating: 0, count: L + 1), qs = q
        var qh = q, qhs = q, qt = q, qts = q
        qh[0] = 1
        qhs[0] = 0
        for l in 1...L {
            q[l] = sigmaW2 * qh[l - 1] + sigmaB2
            qs[l] = sigmaW2 * qhs[l - 1] + sigmaB2
            if l == L {
                qh[l] = q[l]
                qhs[l] = qs[l]
                break
            }
            switch propagation {
            case .plain:
                qh[l] = try ActivationMoments.secondMoment(activation, variance: q[l], method: method)
                qhs[l] = try ActivationMoments.crossMoment(activation, variance: q[l], covariance: qs[l], method: method)
            case .layerNorm:
                guard q[l] > 0 else {
                    throw WispError.invalidConfiguration("layer normalization is undefined when the pre-activations of layer \(l) have zero variance (σ_w² = σ_b² = 0)")
                }
                qh[l] = try ActivationMoments.secondMoment(activation, variance: 1, method: method)
                qhs[l] = try ActivationMoments.crossMoment(activation, variance: 1, covariance: qs[l] / q[l], method: method)
            }
        }
        qt[L] = 1
        qts[L] = 1
        if L >= 2 {
            for l in stride(from: L - 1, through: 1, by: -1) {
                switch propagation {
                case .plain:
                    qt[l] = sigmaW2 * qt[l + 1] * (try ActivationMoments.derivativeSecondMoment(activation, variance: q[l], method: method))
                    qts[l] = sigmaW2 * qts[l + 1]
                        * (try ActivationMoments.derivativeCrossMoment(activation, variance: q[l], covariance: qs[l], method: method))
                case .layerNorm:
                    qt[l] = sigmaW2 * qt[l + 1] * (try ActivationMoments.derivativeSecondMoment(activation, variance: 1, method: method)) / q[l]
                    qts[l] = sigmaW2 * qts[l + 1]
                        * (try ActivationMoments.derivativeCrossMoment(activation, variance: 1, covariance: qs[l] / q[l], method: method)) / q[l]
                }
            }
        }
        self.activation = activation
        self.sigmaW2 = sigmaW2
        self.sigmaB2 = sigmaB2
        self.depth = L
        self.propagation = propagation
        self.q = q
        self.qOverlap = qs
        self.qHat = qh
        self.qHatOverlap = qhs
        self.qTilde = qt
        self.qTildeOverlap = qts
    }

    /// The order parameters of `architecture`'s activation, variances and depth. σ_b² counts only
    /// if the network has biases; layers that differ in having one are not covered (an error). (The parametrization does not enter: both forms give the same
    /// forward pass; the caller decides whether the theory applies to its Fisher matrix.)
    public init(architecture a: Architecture, propagation: Propagation = .plain,
                method: ActivationMoments.Method = .automatic) throws {
        guard !a.hasMixedBias else {
            throw WispError.invalidConfiguration("the order parameters assume every layer has a bias or none, with one σ_b²; this network's layers differ (layer biases \(a.layerBias)): not covered")
        }
        try self.init(activation: a.activation, sigmaW2: a.sigmaW2, sigmaB2: a.everyLayerHasBias ? a.sigmaB2 : 0,
                      depth: a.depth, propagation: propagation, method: method)
    }
}

// MARK: - Batch-norm order parameters

/// The feedforward order parameters of a layer under batch normalization over the T samples
/// (eq. 20–21 with γ = 1, β = 0; Supplementary eq. S.66, S.68–S.69):
///
///     q̂_t,BN = E[φ(ū(t))²],   q̂_st,BN = E[φ(ū(s)) φ(ū(t))]   (s ≠ t),
///     ū(t) = (u(t) − Σ_t' u(t')/T) / σ,   σ² = Σ_t (u(t) − Σ_t' u(t')/T)² / T
///
/// for one unit's pre-activations u = (u(1), …, u(T)). (S.68–S.69 as printed divide by σ²
/// instead of σ; eq. 21 defines σ as the standard deviation.) In the mean-field limit the
/// vector u is N(0, σ_w² Σ) with Σ = a I + b 11ᵀ (exchangeable samples; a > 0), so G u
/// (G = I − 11ᵀ/T) is isotropic in the (T−1)-dimensional subspace 1^⊥ and ū = √T Gu/‖Gu‖ is
/// uniform on the sphere of radius √T there — whatever σ_w², σ_b², a and b, and in every layer.
/// The parameters therefore depend only on φ and T. Writing the projection of ū on the plane of
/// G e_s, G e_t in polar form (angle θ uniform, squared radius fraction B ~ Beta(1, (T−3)/2)):
///
///     ū(s) = √(T B) (α cos θ + sin θ/√2),   ū(t) = √(T B) (α cos θ − sin θ/√2),   α = √((T−2)/(2T)).
///
/// - Positively 1-homogeneous φ (relu, leaky-relu, linear): the radius factors out exactly and
///   q̂_t,BN = ∫Du φ²(u), q̂_st,BN = I_φ[1, −1/(T−1)]; for relu this is 1/2 and J(−1/(T−1))/2 with
///   J the arc-cosine kernel, Yang's result quoted in S.70 and Theorem 3.4.
/// - Other φ: Gauss–Jacobi in B (weight (1−B)^((T−5)/2), Golub–Welsch through `dstev`, 64 nodes)
///   times the trapezoid rule in θ (256 points; spectral for smooth periodic integrands).
///   T = 2 (ū = ±(1, −1)) and T = 3 (B = 1) are handled exactly. Cost ~ 33,000 evaluations of φ.
///
/// These are the T-dependent, exact-in-T mean-field values; ``gaussianApproximation`` gives the
/// large-T approximation (Wei et al., ū(s), ū(t) jointly Gaussian with correlation −1/(T−1)),
/// which differs by O(1/T) for non-homogeneous φ. First layer caveat: the symmetry needs
/// X Xᵀ/d ≈ I, i.e. d ≫ T, as the mean-field limit (α_0 = d/M fixed, M → ∞) assumes.
public struct BatchNormOrderParameters: Codable, Sendable, Equatable {
    public var activation: Activation
    /// T, the batch (here: all samples).
    public var samples: Int
    /// q̂_t,BN (S.66).
    public var qHat: Double
    /// q̂_st,BN (S.66), s ≠ t.
    public var qHatOverlap: Double

    private enum CodingKeys: String, CodingKey {
        case activation, samples, qHat = "q_hat_t_bn", qHatOverlap = "q_hat_st_bn"
    }

    /// Throws for T < 2 (batch normalization of one sample is undefined).
    public init(activation phi: Activation, samples T: Int) throws {
        guard T >= 2 else { throw WispError.invalidConfiguration("batch normalization needs at least 2 samples (got \(T))") }
        self.activation = phi
        self.samples = T
        switch phi {
        case .relu, .leakyRelu, .linear:
            qHat = try ActivationMoments.secondMoment(phi, variance: 1)
            qHatOverlap = try ActivationMoments.crossMoment(phi, variance: 1, covariance: -1 / Double(T - 1))
        case .tanh, .sigmoid, .erf, .softplus, .normalizedSoftplus:
            (qHat, qHatOverlap) = try Self.sphereMoments(phi, samples: T, radialOrder: 64, angles: 256)
        }
    }

    /// The large-T Gaussian approximation: (∫Du φ²(u), I_φ[1, −1/(T−1)]). Exact for
    /// positively 1-homogeneous φ.
    public static func gaussianApproximation(activation phi: Activation, samples T: Int) throws -> (qHat: Double, qHatOverlap: Double) {
        guard T >= 2 else { throw WispError.invalidConfiguration("batch normalization needs at least 2 samples (got \(T))") }
        return (try ActivationMoments.secondMoment(phi, variance: 1),
                try ActivationMoments.crossMoment(phi, variance: 1, covariance: -1 / Double(T - 1)))
    }

    /// E[φ(ū(t))²] and E[φ(ū(s))φ(ū(t))] for ū uniform on the radius-√T sphere of 1^⊥, by the
    /// polar decomposition in the type's documentation. Also used for homogeneous φ in tests.
    static func sphereMoments(_ phi: Activation, samples T: Int, radialOrder: Int, angles: Int) throws -> (Double, Double) {
        let Td = Double(T)
        if T == 2 {
            // ū = ±(1, −1) with equal probability.
            let p = phi.value(1), m = phi.value(-1)
            return ((p * p + m * m) / 2, p * m)
        }
        let alpha = ((Td - 2) / (2 * Td)).squareRoot()
        let half = 1 / 2.0.squareRoot()
        // Radial nodes B_i and weights (B ≡ 1 when T = 3).
        var radial: [(b: Double, w: Double)] = [(1, 1)]
        if T >= 4 { radial = try gaussJacobiUnitInterval(order: radialOrder, exponent: (Td - 5) / 2) }
        let n = max(2, angles + angles % 2)  // even: θ and θ + π both present
        var diagonal = 0.0, overlap = 0.0
        for (b, w) in radial {
            let r = (Td * b).squareRoot()
            var d = 0.0, o = 0.0
            for j in 0..<n {
                let theta = 2 * Double.pi * Double(j) / Double(n)
                let cs = alpha * cos(theta), sn = half * sin(theta)
                let us = phi.value(r * (cs + sn)), ut = phi.value(r * (cs - sn))
                d += ut * ut
                o += us * ut
            }
            diagonal += w * d / Double(n)
            overlap += w * o / Double(n)
        }
        return (diagonal, overlap)
    }

    /// Gauss–Jacobi nodes on [0, 1] for the probability weight ∝ (1 − B)^e (e > −1), by
    /// Golub–Welsch on the Jacobi matrix of P^(e, 0) mapped from [−1, 1]; weights are the squared
    /// first eigenvector components (absolute accuracy ~ε, enough for expectations).
    static func gaussJacobiUnitInterval(order n: Int, exponent e: Double) throws -> [(b: Double, w: Double)] {
        precondition(e > -1 && n >= 1)
        var diag = [Double](repeating: 0, count: n)
        var off = [Double](repeating: 0, count: max(n - 1, 0))
        // Jacobi polynomials P^(α, β) with α = e, β = 0 (weight (1−x)^α (1+x)^β on [−1, 1]).
        let a = e
        for k in 0..<n {
            let kd = Double(k)
            if k == 0 {
                diag[k] = -a / (a + 2)
            } else {
                diag[k] = -a * a / ((2 * kd + a) * (2 * kd + a + 2))
            }
            if k >= 1 {
                let s = 2 * kd + a
                off[k - 1] = 2 * kd * (kd + a) / (s * ((s + 1) * (s - 1)).squareRoot())
            }
        }
        let eig = try LAPACK.tridiagonalEigen(diagonal: diag, offDiagonal: off)
        var out = [(b: Double, w: Double)]()
        var total = 0.0
        for j in 0..<n {
            let v0 = eig.vectors[j]  // row 0, column j
            out.append(((1 + eig.values[j]) / 2, v0 * v0))
            total += v0 * v0
        }
        return out.map { ($0.b, $0.w / total) }
    }
}
