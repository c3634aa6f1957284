/// Mean-field predictions of the eigenvalue statistics of the empirical Fisher matrix
/// F = Σ_k (1/T) Σ_t ∇θ f_k(t) ∇θ f_k(t)ᵀ (eq. 8) of a wide network at random initialization
/// (eq. 2, standard parametrization) on T Gaussian inputs (eq. 3), after Karakida, Akaho & Amari,
/// "The normalization method for alleviating pathological sharpness in wide neural networks".
///
/// Conventions (§2.1–2.3; eq. 11 with the extraction typo fixed: backward × forward):
///
///     M = M_1, the reference width (every prediction below is independent of this choice)
///     α_l = M_l/M (l = 0…L−1), α_0 = d/M,   α = Σ_(l=1)^(L−1) α_l α_(l−1)   (α M² = Σ_(l<L) M_l M_(l−1))
///     κ_1 = Σ_(l=1)^L (α_(l−1)/α) q̃_t^l q̂_t^(l−1),   κ_2 = Σ_(l=1)^L (α_(l−1)/α) q̃_st^l q̂_st^(l−1)   (eq. 11)
///
/// They come from Lemma A.1: the reversed FIM F* = Rᵀ R, R = [∇θ f_1 … ∇θ f_C]/√T (the NTK Gram
/// matrix, S.1–S.3), has (k, k') blocks α(M/T) K δ_kk' + O(M^(1/2))/T with K_tt = κ_1, K_st = κ_2
/// (S.6–S.7), because ⟨∇_(W^l) f_k(s), ∇_(W^l) f_k(t)⟩ = (δ^l(s)·δ^l(t)) (h^(l−1)(s)·h^(l−1)(t))
/// → q̃_st^l M_(l−1) q̂_st^(l−1).
///
/// Finite-width refinement (derived here, not in the paper): the paper drops biases and the last
/// layer from P and bias rows from F*. Keeping them, with b = 1 if the network has biases
/// (∂f_k/∂b_i^l = δ_i^l) and 0 otherwise,
///
///     A = (1/T) Σ_(l=1)^L q̃_t^l  (M_(l−1) q̂_t^(l−1)  + b)     (mean-field diagonal of a block of F*)
///     B = (1/T) Σ_(l=1)^L q̃_st^l (M_(l−1) q̂_st^(l−1) + b)     (its off-diagonal)
///     tr F = (1/T) Σ_t Σ_k Σ_l ‖δ_k^l(t)‖² (‖h^(l−1)(t)‖² + b)  ⇒  E[tr F] ≈ C T A,
///
/// over the exact parameter count P (``Architecture/parameterCount``). As α M κ_1 =
/// Σ_l M_(l−1) q̃_t^l q̂_t^(l−1) exactly, A = α M κ_1/T + b Σ_l q̃_t^l/T: the refinement changes only
/// the bias terms and P (relative O(1/M) and O(C/M)). The remaining error is the O(1/√M)
/// fluctuation of a finite network's order parameters about eq. 5–7 (the weights are shared by
/// all samples, so these fluctuations do not average out over T).
///
/// Predictions per normalization (the architecture's own ``Normalization`` unless overridden):
///
/// | field | none (Thm 2.2) | last-mean (Thm 3.3) | last-batchnorm (eq. 19) | middle-batchnorm (Thm 3.4) | layernorm (Thm 4.1) |
/// |---|---|---|---|---|---|
/// | m_λ | κ_1 C/M (10) | (1−1/T)(κ_1−κ_2)C/M (16) | (1−2/T) Q_1 (κ_1−κ_2)/M ‡ | — | (C−2) η_1 κ'_1/M (25) † |
/// | m_λ, finite width | C T A/P | C (T−1)(A−B)/P | (T−2) Q_1 (A−B)/P | — | (C−2) η_1 T A/P † |
/// | λ_max | α((T−1)κ_2 + κ_1)M/T (10) | α(κ_1−κ_2)M/T (17) | α(κ_1−κ_2)M/(T σ²_min) ‡ | — | — |
/// | λ_max, finite width | A + (T−1)B | A − B | (A−B)/σ²_min | — | — |
/// | multiplicity | C | C(T−1) | T−2 per output at σ²_min | — | — |
/// | λ_max ≥ | — | ρα(κ_1−κ_2) (18) | ρα(Q_2/Q_1)(κ_1−κ_2) (19) | M_(L−1)((T−1)q̂_st,BN + q̂_t,BN)/T (22) | α s M/((C−2)η_1κ'_1) (25) † |
/// | λ_max ≤ | — | — | — | — | α√s M (25) † |
/// | s_λ = Σλ²/P | Cα((T−1)κ_2² + κ_1²)/T | Cα(1−1/T)(κ_1−κ_2)²/T | α(T−2) Q_2 (κ_1−κ_2)²/T² ‡ | — | α s (26, corrected) † |
///
/// ρ = M/T. The constants c_1, c_2 of eq. 18 and c'_1, c'_2 of eq. 19 are not given by the
/// paper: the bounds are reported without them (c_1, c'_1 ≥ 0, so they stay lower bounds).
/// † needs the realized outputs (η_1…η_3 are functions of σ^L(t)); ‡ uses σ_k² from the realized
/// outputs, or else their mean-field value (see ``OutputVarianceStatistics``).
///
/// Cost: that of ``OrderParameters`` (O(L) with closed forms, O(L n²) with quadrature), plus
/// O(T²C) for output statistics and the batch-norm sphere integral for smooth φ.
public struct MeanFieldPrediction: Codable, Sendable, Equatable {
    /// The output statistics η_1, η_2, η_3 of Theorem 4.1 (layer norm), from the last layer's
    /// pre-normalization outputs u_k^L(t). With ū_k(t) = u_k^L(t) − (1/C)Σ_a u_a^L(t),
    /// σ(t)² = (1/C) Σ_k ū_k(t)² (S.88) and g(t, t') = Σ_a ū_a(t) ū_a(t') / (C σ(t) σ(t')):
    ///
    ///     η_1 = (1/T) Σ_t σ(t)^(−2),   η_2 = (1/T) Σ_t σ(t)^(−4),
    ///     η_3 = (1/T²) Σ_(t,t') g(t, t')² / (σ(t)² σ(t')²).
    ///
    /// η_3 differs from the paper's. From S.104, F*_LN(k, k') = (αM/T) diag(σ^(−2)) e_kk' K_LN
    /// with e(t) = I_C − 11ᵀ/C − n(t)n(t)ᵀ/C (n = ū/σ), a rank-(C−2) projector, so
    /// tr(F*²) = (αM/T)² Σ_(t,t') tr(e(t)e(t')) K_tt'²/(σ(t)²σ(t')²) with tr(e(t)e(t')) = C − 3 + g(t,t')²
    /// (S.112). This gives eq. 26 with η_3² replaced by the η_3 above; the paper's
    /// η_3 = (1/T²) Σ g/(σσ), squared, is a different number.
    public struct LayerNormStatistics: Codable, Sendable, Equatable {
        public var eta1: Double
        public var eta2: Double
        public var eta3: Double

        public init(eta1: Double, eta2: Double, eta3: Double) {
            self.eta1 = eta1
            self.eta2 = eta2
            self.eta3 = eta3
        }

        /// From the T × C row-major matrix of raw outputs u_k^L(t) (index t·C + k). Throws if a
        /// sample's outputs are all equal (σ(t) = 0) or the shape is wrong. Cost O(T² C).
        public init(outputs u: [Double], samples T: Int, classes C: Int) throws {
            guard T >= 1, C >= 2, u.count == T * C else {
                throw WispError.invalidConfiguration("layer-norm statistics need a T × C output matrix with C ≥ 2 (got \(u.count) values for T = \(T), C = \(C))")
            }
            var centred = [Double](repeating: 0, count: T * C)
            var variance = [Double](repeating: 0, count: T)
            for t in 0..<T {
                var mean = 0.0
                for k in 0..<C { mean += u[t * C + k] }
                mean /= Double(C)
                var v = 0.0
                for k in 0..<C {
                    let c = u[t * C + k] - mean
                    centred[t * C + k] = c
                    v += c * c
                }
                variance[t] = v / Double(C)
                guard variance[t] > 0, variance[t].isFinite else {
                    throw WispError.nonFinite("the outputs of sample \(t) have zero or non-finite spread over the \(C) units; layer normalization is undefined")
                }
            }
            var e1 = 0.0, e2 = 0.0, e3 = 0.0
            for t in 0..<T {
                e1 += 1 / variance[t]
                e2 += 1 / (variance[t] * variance[t])
                for s in 0..<T {
                    var dot = 0.0
                    for k in 0..<C { dot += centred[t * C + k] * centred[s * C + k] }
                    let g = dot / (Double(C) * (variance[t] * variance[s]).squareRoot())
                    e3 += g * g / (variance[t] * variance[s])
                }
            }
            self.init(eta1: e1 / Double(T), eta2: e2 / Double(T), eta3: e3 / Double(T * T))
        }

        private enum CodingKeys: String, CodingKey { case eta1 = "eta_1", eta2 = "eta_2", eta3 = "eta_3" }
    }

    /// The per-output variances over the samples of eq. 14, σ_k² = (1/T) Σ_t (u_k^L(t) − μ_k)²,
    /// that batch normalization of the last layer divides by (eq. 13, 19):
    /// Q_1 = Σ_k σ_k^(−2), Q_2 = Σ_k σ_k^(−4), and the smallest σ_k².
    ///
    /// Without realized outputs every σ_k² is set to its mean-field value
    /// E[σ_k²] = (1 − 1/T)(q_t^L − q_st^L) (σ_b² cancels). A realized σ_k² is a quadratic form of the
    /// row W_k^L with T−1 nearly equal eigenvalues, i.e. (q_t^L − q_st^L) χ²_(T−1)/T: it fluctuates
    /// by a relative √(2/(T−1)) whatever the width, so pass the outputs for a sharp prediction.
    public struct OutputVarianceStatistics: Codable, Sendable, Equatable {
        public var q1: Double
        public var q2: Double
        public var minimumVariance: Double
        /// How many outputs share the smallest variance (C for the mean-field value).
        public var minimumCount: Int
        /// Whether the numbers come from realized outputs.
        public var realized: Bool

        private enum CodingKeys: String, CodingKey {
            case q1 = "q_1", q2 = "q_2", minimumVariance = "minimum_variance", minimumCount = "minimum_count", realized
        }

        /// From the T × C row-major raw outputs u_k^L(t). Throws on a wrong shape or σ_k = 0.
        public init(outputs u: [Double], samples T: Int, classes C: Int) throws {
            guard T >= 2, C >= 1, u.count == T * C else {
                throw WispError.invalidConfiguration("output variances need a T × C output matrix with T ≥ 2 (got \(u.count) values for T = \(T), C = \(C))")
            }
            var q1 = 0.0, q2 = 0.0, smallest = Double.infinity
            var variances = [Double]()
            for k in 0..<C {
                var mean = 0.0
                for t in 0..<T { mean += u[t * C + k] }
                mean /= Double(T)
                var v = 0.0
                for t in 0..<T { v += (u[t * C + k] - mean) * (u[t * C + k] - mean) }
                v /= Double(T)
                guard v > 0, v.isFinite else {
                    throw WispError.nonFinite("output \(k) has zero or non-finite variance over the \(T) samples; batch normalization is undefined")
                }
                q1 += 1 / v
                q2 += 1 / (v * v)
                smallest = min(smallest, v)
                variances.append(v)
            }
            self.q1 = q1
            self.q2 = q2
            self.minimumVariance = smallest
            self.minimumCount = variances.filter { $0 == smallest }.count
            self.realized = true
        }

        /// Every σ_k² equal to `variance`.
        public init(meanFieldVariance variance: Double, classes C: Int) {
            q1 = Double(C) / variance
            q2 = Double(C) / (variance * variance)
            minimumVariance = variance
            minimumCount = C
            realized = false
        }
    }

    /// The network (standard parametrization, L ≥ 2).
    public var architecture: Architecture
    /// T, the number of input samples.
    public var samples: Int
    /// The normalization predicted for.
    public var normalization: Normalization
    /// M = M_1, the reference width of §2.1 (M_l = α_l M).
    public var referenceWidth: Int
    /// P, the exact number of parameters (weights and biases of every layer).
    public var parameterCount: Int
    /// α_l = M_l/M for l = 0…L−1 (α_0 = d/M).
    public var widthRatios: [Double]
    /// α_0 = d/M.
    public var alpha0: Double
    /// α = Σ_(l=1)^(L−1) α_l α_(l−1) (Theorem 2.2).
    public var alpha: Double
    /// The order parameters: eq. 5–7, or S.74/S.87 under layer norm. Absent for middle-layer
    /// batch norm, whose backward recursion the paper leaves open (Supplementary C).
    public var orderParameters: OrderParameters?
    /// κ_1 (eq. 11), or κ'_1 (S.102) under layer norm. Absent for middle-layer batch norm.
    public var kappa1: Double?
    /// κ_2 (eq. 11), or κ'_2 (S.102) under layer norm. Absent for middle-layer batch norm.
    public var kappa2: Double?
    /// Definition 2.1: biases with σ_b² > 0, or a non-zero Gaussian mean ∫Dz φ(z) (|·| > 1e−12).
    public var isNonCentered: Bool
    /// Whether the hypotheses of the theorem used hold: a non-centered network (Theorems 2.2,
    /// 3.3, eq. 19, 4.1), φ ≥ 0 (relu, sigmoid, softplus) for middle-layer batch norm. When false the fields still hold the formulas'
    /// values (κ_2 = 0 for a centered network) but the theorem does not vouch for them.
    public var hypothesesHold: Bool
    /// m_λ = Σλ_i/P, asymptotic (eq. 10, 16, 19, 25).
    public var predictedMeanEigenvalue: Double?
    /// E[tr F]/P with biases and the exact P (type documentation).
    public var predictedMeanEigenvalueFiniteWidth: Double?
    /// λ_max, asymptotic (eq. 10; eq. 17 and its eq. 13 analogue for T = O(1)). After the last
    /// layer's mean subtraction the leading term is only α(κ_1−κ_2)M/T, and once T is a sizable
    /// fraction of M the O(√(M/T)) fluctuations the paper leaves as c_1 lift the measured λ_max
    /// above it (1.5–1.75× at M = 2000, T = 100 in TheoryTests).
    public var predictedLargestEigenvalue: Double?
    /// The top eigenvalue of the mean-field F* with bias terms: A + (T−1)B, A − B, (A−B)/σ²_min.
    public var predictedLargestEigenvalueFiniteWidth: Double?
    /// How many eigenvalues share λ_max at leading order: C (Theorem 2.2: one per output, with
    /// eigenvectors E[∇θ f_k], Theorem 3.1); C(T−1) with mean subtraction (S.29); T−2 per output
    /// of smallest σ_k² with last-layer batch norm. Finite width splits them by O(1/√M) relative
    /// amounts, so the largest of the cluster lies slightly above the prediction.
    public var largestEigenvalueMultiplicity: Int?
    /// A lower bound on λ_max: eq. 18 and 19 without their unknown c_1, c'_1 ≥ 0 (eq. 18's is
    /// numerically equal to eq. 17), eq. 22, or s_λ/m_λ (eq. 25).
    public var largestEigenvalueLowerBound: Double?
    /// An upper bound on λ_max: α√s M (eq. 25, layer norm). The bounds of eq. 18–19 involve
    /// constants c_2, c'_2 the paper does not give.
    public var largestEigenvalueUpperBound: Double?
    /// s_λ = Σλ_i²/P = tr(F*²)/P at leading order. Plain network: Σ_(k,s,t) (αM/T K_st)²/P from
    /// Lemma A.1 (the steps of S.34–S.36; the O(M^(1/2))/T remainder changes it by a relative
    /// O(M^(−1/2))). Mean subtraction and last-layer batch norm: the K-term of S.35 and S.54
    /// (exact projector algebra, see below), valid for T = O(1); for T = O(M) the paper's
    /// non-negative c_0/M^(2q*) term is of the same order, so this is then a lower estimate.
    /// Layer norm: α s, eq. 26 with the corrected η_3.
    public var predictedSecondMoment: Double?
    /// q̂_t,BN and q̂_st,BN of layer L−1 (S.66), for middle-layer batch norm.
    public var batchNorm: BatchNormOrderParameters?
    /// η_1…η_3 (Theorem 4.1), when the outputs were given.
    public var layerNormStatistics: LayerNormStatistics?
    /// Q_1, Q_2, σ²_min (eq. 19), for last-layer batch norm.
    public var outputVariances: OutputVarianceStatistics?

    private enum CodingKeys: String, CodingKey {
        case architecture, samples, normalization
        case referenceWidth = "reference_width", parameterCount = "parameters"
        case widthRatios = "width_ratios", alpha0 = "alpha_0", alpha
        case orderParameters = "order_parameters", kappa1 = "kappa_1", kappa2 = "kappa_2"
        case isNonCentered = "non_centered", hypothesesHold = "hypotheses_hold"
        case predictedMeanEigenvalue = "mean_eigenvalue"
        case predictedMeanEigenvalueFiniteWidth = "mean_eigenvalue_finite_width"
        case predictedLargestEigenvalue = "largest_eigenvalue"
        case predictedLargestEigenvalueFiniteWidth = "largest_eigenvalue_finite_width"
        case largestEigenvalueMultiplicity = "largest_eigenvalue_multiplicity"
        case largestEigenvalueLowerBound = "largest_eigenvalue_lower_bound"
        case largestEigenvalueUpperBound = "largest_eigenvalue_upper_bound"
        case predictedSecondMoment = "second_moment"
        case batchNorm = "batch_norm", layerNormStatistics = "layer_norm_statistics"
        case outputVariances = "output_variances"
    }

    /// The predictions for `architecture` on T = `samples` Gaussian inputs.
    ///
    /// - `normalization`: what to predict for; nil takes ``Architecture/normalization``. A value
    ///   other than the architecture's own is allowed only when that is `.none` (predicting a
    ///   normalized variant of a plain network).
    /// - `outputs`: the realized raw last-layer outputs u_k^L(t) before normalization, T × C
    ///   row-major (index t·C + k), used by `.layerNorm` (η_1…η_3; without them only κ'_1, κ'_2 and
    ///   the order parameters are given) and `.lastBatchNorm` (σ_k²; else mean-field values).
    ///
    /// Throws ``WispError/invalidConfiguration(_:)`` naming the reason for: the NTK
    /// parametrization (the theory is for eq. 2's standard one), L < 2 (α = 0 without a hidden
    /// layer), T < 1; T < 2 with mean subtraction or middle batch norm and T < 3 with last-layer
    /// batch norm (F = 0 or undefined); C ≤ 2 with layer norm (F = 0 at C = 2, Theorem 4.1);
    /// layers that differ in having a bias; a normalization conflicting with the architecture's; outputs given for another
    /// normalization or of the wrong shape.
    public init(architecture a: Architecture, samples T: Int, normalization requested: Normalization? = nil,
                outputs: [Double]? = nil, method: ActivationMoments.Method = .automatic) throws {
        guard a.parametrization == .standard else {
            throw WispError.invalidConfiguration("mean-field predictions assume the standard parametrization W ~ N(0, σ_w²/M_(l−1)) of Karakida et al. eq. 2 (got \(a.parametrization.rawValue))")
        }
        if let requested, a.normalization != .none, requested != a.normalization {
            throw WispError.invalidConfiguration("the architecture is normalized with \(a.normalization.rawValue) but a prediction for \(requested.rawValue) was requested")
        }
        guard !a.hasMixedBias else {
            throw WispError.invalidConfiguration("mean-field predictions assume every layer has a bias or none, with one σ_b²; this network's layers differ (layer biases \(a.layerBias)): not covered")
        }
        let normalization = requested ?? a.normalization
        let L = a.depth
        guard L >= 2 else {
            throw WispError.invalidConfiguration("mean-field predictions need at least one hidden layer (depth ≥ 2): with depth \(L), α = Σ α_l α_(l−1) = 0")
        }
        guard T >= 1 else { throw WispError.invalidConfiguration("mean-field predictions need at least 1 sample (got \(T))") }
        switch normalization {
        case .lastMean, .middleBatchNorm:
            guard T >= 2 else {
                throw WispError.invalidConfiguration("\(normalization.rawValue) needs at least 2 samples (got \(T)): with one sample the normalized output does not depend on θ")
            }
        case .lastBatchNorm:
            guard T >= 3 else {
                throw WispError.invalidConfiguration("last-batchnorm needs at least 3 samples (got \(T)): with T = 2 the standardized outputs are ±1 and F = 0")
            }
        case .none, .layerNorm:
            break
        }
        let C = a.outputs
        if normalization == .layerNorm, C <= 2 {
            throw WispError.invalidConfiguration("layernorm predictions need more than 2 outputs (got \(C)): the Fisher matrix is zero for C = 2 (Theorem 4.1, S.88)")
        }
        if outputs != nil, normalization != .layerNorm, normalization != .lastBatchNorm {
            throw WispError.invalidConfiguration("realized outputs are used only by the layernorm and last-batchnorm predictions (got \(normalization.rawValue))")
        }

        let M = a.widths[1]
        let Md = Double(M), Td = Double(T), Cd = Double(C)
        let ratios = (0..<L).map { Double(a.widths[$0]) / Md }
        let alpha = (1..<L).reduce(0.0) { $0 + ratios[$1] * ratios[$1 - 1] }
        let b = a.everyLayerHasBias ? 1.0 : 0.0
        let sigmaB2 = a.everyLayerHasBias ? a.sigmaB2 : 0
        let gaussianMean = try ActivationMoments.mean(a.activation, variance: 1, method: method)
        let nonCentered = sigmaB2 > 0 || abs(gaussianMean) > 1e-12

        self.architecture = a
        self.samples = T
        self.normalization = normalization
        self.referenceWidth = M
        self.parameterCount = a.parameterCount
        self.widthRatios = ratios
        self.alpha0 = ratios[0]
        self.alpha = alpha
        self.isNonCentered = nonCentered

        if normalization == .middleBatchNorm {
            // Theorem 3.4 (S.61–S.67): λ_max ≥ λ_max(F_L) ≥ ν_kᵀ F*_L ν_k with F*_L = (M_(L−1)/T) K_L.
            let bn = try BatchNormOrderParameters(activation: a.activation, samples: T)
            self.batchNorm = bn
            self.largestEigenvalueLowerBound = Double(a.widths[L - 1]) * ((Td - 1) / Td * bn.qHatOverlap + bn.qHat / Td)
            switch a.activation {
            case .relu, .sigmoid, .softplus: self.hypothesesHold = true
            case .leakyRelu, .tanh, .erf, .linear, .normalizedSoftplus: self.hypothesesHold = false
            }
            return
        }

        let op = try OrderParameters(architecture: a, propagation: normalization == .layerNorm ? .layerNorm : .plain,
                                     method: method)
        var k1 = 0.0, k2 = 0.0, diag = 0.0, offDiag = 0.0
        for l in 1...L {
            k1 += ratios[l - 1] / alpha * op.qTilde[l] * op.qHat[l - 1]
            k2 += ratios[l - 1] / alpha * op.qTildeOverlap[l] * op.qHatOverlap[l - 1]
            let fanIn = Double(a.widths[l - 1])
            diag += op.qTilde[l] * (fanIn * op.qHat[l - 1] + b) / Td
            offDiag += op.qTildeOverlap[l] * (fanIn * op.qHatOverlap[l - 1] + b) / Td
        }
        self.orderParameters = op
        self.kappa1 = k1
        self.kappa2 = k2
        let P = Double(a.parameterCount)

        switch normalization {
        case .none:
            // Theorem 2.2: K = (κ_1 − κ_2) I + κ_2 11ᵀ per output block.
            hypothesesHold = nonCentered
            predictedMeanEigenvalue = k1 * Cd / Md
            predictedMeanEigenvalueFiniteWidth = Cd * Td * diag / P
            predictedLargestEigenvalue = alpha * ((Td - 1) / Td * k2 + k1 / Td) * Md
            predictedLargestEigenvalueFiniteWidth = diag + (Td - 1) * offDiag
            largestEigenvalueMultiplicity = C
            predictedSecondMoment = Cd * alpha * ((Td - 1) / Td * k2 * k2 + k1 * k1 / Td)
        case .lastMean:
            // Theorem 3.3: G K G = (κ_1 − κ_2) G, G = I − 11ᵀ/T (S.18–S.22).
            hypothesesHold = nonCentered
            predictedMeanEigenvalue = (1 - 1 / Td) * (k1 - k2) * Cd / Md
            predictedMeanEigenvalueFiniteWidth = Cd * (Td - 1) * (diag - offDiag) / P
            predictedLargestEigenvalue = alpha * (k1 - k2) * Md / Td
            predictedLargestEigenvalueFiniteWidth = diag - offDiag
            largestEigenvalueMultiplicity = C * (T - 1)
            largestEigenvalueLowerBound = (Md / Td) * alpha * (k1 - k2)
            predictedSecondMoment = Cd * alpha / Td * (1 - 1 / Td) * (k1 - k2) * (k1 - k2)
        case .lastBatchNorm:
            // S.43–S.55. Q(k,k) G K G = ((κ_1−κ_2)/σ_k²)(G − P_ū_k) with P_ū_k the projector on
            // ū_k ⊥ 1 (ūᵀG = ūᵀ, ‖ū‖² = Tσ²): (αM/T)(κ_1−κ_2)/σ_k² on a (T−2)-dimensional space.
            // (S.50 as printed has I for G and an extra (1 − 1/T); eq. 19 is the T → ∞ form.)
            let stats = try outputs.map { try OutputVarianceStatistics(outputs: $0, samples: T, classes: C) }
                ?? OutputVarianceStatistics(meanFieldVariance: (1 - 1 / Td) * (op.q[L] - op.qOverlap[L]), classes: C)
            outputVariances = stats
            hypothesesHold = nonCentered
            let gap = k1 - k2
            predictedMeanEigenvalue = (1 - 2 / Td) * stats.q1 * gap / Md
            predictedMeanEigenvalueFiniteWidth = (Td - 2) * stats.q1 * (diag - offDiag) / P
            predictedLargestEigenvalue = alpha * gap * Md / (Td * stats.minimumVariance)
            predictedLargestEigenvalueFiniteWidth = (diag - offDiag) / stats.minimumVariance
            largestEigenvalueMultiplicity = (T - 2) * stats.minimumCount
            largestEigenvalueLowerBound = (Md / Td) * alpha * stats.q2 / stats.q1 * gap
            predictedSecondMoment = alpha * (Td - 2) / (Td * Td) * stats.q2 * gap * gap
        case .layerNorm:
            hypothesesHold = nonCentered && C > 2
            if let outputs {
                let eta = try LayerNormStatistics(outputs: outputs, samples: T, classes: C)
                layerNormStatistics = eta
                predictedMeanEigenvalue = (Cd - 2) * eta.eta1 * k1 / Md
                predictedMeanEigenvalueFiniteWidth = (Cd - 2) * eta.eta1 * Td * diag / P
                // Eq. 26 with η_3² → η_3 (see LayerNormStatistics); s_λ = α s.
                let s = ((eta.eta3 - eta.eta1 * eta.eta1) * Td + (Cd - 2) * (eta.eta1 * eta.eta1 * Td - eta.eta2)) / Td * k2 * k2
                    + (Cd - 2) * eta.eta2 * k1 * k1 / Td
                predictedSecondMoment = alpha * s
                largestEigenvalueLowerBound = alpha * s / ((Cd - 2) * eta.eta1 * k1) * Md
                largestEigenvalueUpperBound = alpha * s.squareRoot() * Md
            }
        case .middleBatchNorm:
            preconditionFailure("handled above")
        }
    }

    /// As ``init(architecture:samples:normalization:outputs:method:)`` with the normalization
    /// given by name ("none", "last-mean", "last-batchnorm", "middle-batchnorm", "layernorm").
    public init(architecture: Architecture, samples: Int, normalization name: String, outputs: [Double]? = nil) throws {
        guard let n = Normalization(rawValue: name) else {
            let names = Normalization.allCases.map(\.rawValue).joined(separator: ", ")
            throw WispError.invalidConfiguration("unknown normalization '\(name)' (expected one of: \(names))")
        }
        try self.init(architecture: architecture, samples: samples, normalization: n, outputs: outputs)
    }
}
