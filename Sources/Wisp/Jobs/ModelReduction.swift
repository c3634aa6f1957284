import Foundation

/// How many eigenvectors to keep: a count k, or a percentage of P (`--keep 40`, `--keep 5%`).
public enum KeepCount: Codable, Sendable, Equatable, CustomStringConvertible {
    case count(Int)
    case percent(Double)

    /// Parses "K" (an integer ≥ 0) or "P%" (0 ≤ P ≤ 100).
    public init(parsing text: String) throws {
        let s = text.trimmingCharacters(in: .whitespaces)
        if s.hasSuffix("%") {
            guard let p = Double(s.dropLast()), p.isFinite, p >= 0, p <= 100 else {
                throw WispError.invalidConfiguration("\(Setting.keepCount) '\(text)': a percentage must be a number in 0…100 followed by %")
            }
            self = .percent(p)
        } else {
            guard let k = Int(s), k >= 0 else {
                throw WispError.invalidConfiguration("\(Setting.keepCount) '\(text)': expected a count k ≥ 0 or a percentage like 5%")
            }
            self = .count(k)
        }
    }

    /// k for P parameters: the count itself (at most P), or round(p·P/100).
    public func resolve(parameters P: Int) throws -> Int {
        switch self {
        case .count(let k):
            guard k <= P else { throw WispError.invalidConfiguration("\(Setting.keepCount) \(k) exceeds the P = \(P) parameters (eigenvectors) of the model") }
            return k
        case .percent(let p): return min(P, Int((p * Double(P) / 100).rounded()))
        }
    }

    public var description: String {
        switch self {
        case .count(let k): return "\(k)"
        case .percent(let p): return "\(p)%"
        }
    }

    private enum CodingKeys: String, CodingKey { case percent }

    /// JSON: a count as a number (`5`), a percentage as `{"percent": 5}`.
    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .count(let k):
            var c = encoder.singleValueContainer()
            try c.encode(k)
        case .percent(let p):
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(p, forKey: .percent)
        }
    }

    public init(from decoder: any Decoder) throws {
        if let c = try? decoder.container(keyedBy: CodingKeys.self), let p = try c.decodeIfPresent(Double.self, forKey: .percent) {
            self = .percent(p)
        } else {
            self = .count(try decoder.singleValueContainer().decode(Int.self))
        }
    }
}

/// The top eigenpairs of the model's Fisher matrix, as parameter-space vectors.
public struct FisherEigenbasis: Sendable {
    /// Descending; all P in the dense path, the k wanted (minus any unmapped) otherwise.
    public var values: [Double]
    /// k × P row-major, orthonormal rows, each with its largest-magnitude entry positive.
    public var vectors: [Double]
    public var count: Int { values.count }
    public var matrix: CurvatureMatrix
    public var method: String
    /// max_i ‖A v_i − λ_i v_i‖ over the returned vectors (recomputed with the operator).
    public var worstResidual: Double
    public var operatorApplications: Int
    public var operatorSeconds: Double
}

/// One reduced model: the projection at k kept eigenvectors, evaluated on the data.
public struct ReducedModel: Codable, Sendable {
    public var k: Int
    /// k / P.
    public var fraction: Double
    /// "weights": w_k = Σ_(i≤k) ⟨w, e_i⟩ e_i; "change": w_k = w₀ + Σ_(i≤k) ⟨w − w₀, e_i⟩ e_i.
    public var variant: String
    public var loss: Double
    public var accuracy: Double?
    /// ‖w_k − w‖ / ‖w‖.
    public var relativeDistance: Double
    /// ‖V_k (w − w₀)‖² / ‖w − w₀‖²: the share of the projected vector inside the kept span.
    public var capturedShare: Double

    private enum CodingKeys: String, CodingKey {
        case k, fraction, variant, loss, accuracy, relativeDistance = "relative_distance", capturedShare = "captured_share"
    }
}

/// Loss and accuracy of a full model.
public struct ModelEvaluation: Codable, Sendable {
    public var loss: Double
    public var accuracy: Double?
}

public struct ReductionSettings: Sendable {
    public var keep: KeepCount
    public var sweep: [KeepCount]
    /// The dense path (A formed by P products, LAPACK dsyevd) when P is at most this.
    public var denseLimit: Int
    public var tolerance: Double
    public var seed: UInt64
    /// The InPCA embedding of the full and reduced models' predictions (``ReductionEmbedding``), if wanted.
    public var inpca: InPCASettings?
    public init(keep: KeepCount, sweep: [KeepCount] = [], denseLimit: Int = 4096, tolerance: Double = 1e-8, seed: UInt64 = 0,
                inpca: InPCASettings? = nil) {
        self.inpca = inpca
        self.keep = keep
        self.sweep = sweep
        self.denseLimit = denseLimit
        self.tolerance = tolerance
        self.seed = seed
    }
}

/// The result of `wisp reduce`.
public struct ReductionResult: Encodable, Sendable {
    public var matrix: CurvatureMatrix
    public var matrixDescription: String
    public var method: String
    public var parameters: Int
    /// The eigenvalues computed (descending): all P in the dense path.
    public var eigenvalues: [Double]
    public var worstResidual: Double
    public var full: ModelEvaluation
    public var initial: ModelEvaluation?
    /// ‖w₀‖/‖w‖ and ‖w − w₀‖/‖w‖ when an initial model is given.
    public var initialNormRatio: Double?
    public var changeNormRatio: Double?
    public var keep: Int
    /// The reduced models at `keep` (both variants with --init).
    public var reduced: [ReducedModel]
    /// The sweep over k (both variants with --init), ascending k.
    public var sweep: [ReducedModel]
    /// The variant written to `reducedModel`, if one was written.
    public var savedVariant: String?
    public var reducedModel: String?
    public var operatorApplications: Int
    /// The InPCA embedding of the full and every reduced model's predictions (`--inpca`).
    public var inpca: ReductionEmbedding?

    private enum CodingKeys: String, CodingKey {
        case matrix, matrixDescription = "matrix_description", method, parameters, eigenvalues, worstResidual = "worst_residual",
             full, initial, initialNormRatio = "initial_norm_ratio", changeNormRatio = "change_norm_ratio", keep, reduced, sweep,
             savedVariant = "saved_variant", reducedModel = "reduced_model", operatorApplications = "operator_applications",
             inpca
    }
}

/// Model reduction on the top eigenvectors of the Fisher information matrix (Cowlagi & Chaudhari,
/// "Model reduction"): with e_i the unit eigenvectors of the FIM sorted by eigenvalue,
///
///     weights:  w ≈ Σ_(i≤k) ⟨w, e_i⟩ e_i                       (the paper's projection)
///     change:   w ≈ w₀ + Σ_(i≤k) ⟨w − w₀, e_i⟩ e_i              (w₀ the initialization)
///
/// The FIM is the metric of the model manifold: its top eigenvectors are the directions in which
/// a *change* of the weights changes the predictions most. The first variant also projects w₀,
/// a random vector with no relation to the FIM whose norm is usually most of ‖w‖, so even small k
/// discards most of the network; the second keeps w₀ and reduces only the learned change, which is
/// what the local (tangent) picture describes. Both give w exactly at k = P.
///
/// The FIM is F = (1/T) Jᵀ J for mse (g ∝ JᵀJ on the predictions z) and the classification Fisher
/// G = (1/T) Jᵀ (diag p − p pᵀ) J for softmax cross-entropy (the paper's z = √p coordinates:
/// with ∂√p_k = (√p_k/2) ∂log p_k the metric 4 Σ_k ∂√p_k ∂√p_k is exactly this G), i.e. `ggn`.
public enum ModelReduction {
    /// The FIM of the problem's loss: F for mse, the Gauss–Newton matrix of the loss otherwise.
    public static func fisherMatrix(for loss: Loss) -> CurvatureMatrix { loss == .mse ? .fisher : .ggn }

    public static func matrixDescription(_ loss: Loss) -> String {
        switch loss {
        case .mse: return "F = (1/T) Jᵀ J (Fisher of the Gaussian regression model)"
        case .crossEntropy: return "G = (1/T) Jᵀ (diag p − p pᵀ) J (Fisher of the softmax classifier, the √p coordinates)"
        case .binaryCrossEntropy: return "G = (1/T) Jᵀ diag σ(1 − σ) J (Fisher of the per-output Bernoulli model)"
        }
    }

    /// The top `count` eigenpairs of `matrix` in parameter space. Dense when P ≤ `denseLimit`:
    /// A = [A e_1 … A e_P] by P operator products, all eigenpairs by LAPACK `dsyevd` (O(P³));
    /// else thick-restart Lanczos for the top `count` (for F in sample space and mapped by
    /// v = Jᵀu/√(Tλ) when ``EigenvectorExport/usesSampleSpace(matrix:k:problem:)`` says so).
    /// Collective.
    public static func eigenbasis(_ problem: some ReducibleProblem, matrix: CurvatureMatrix, count: Int, denseLimit: Int, tolerance: Double,
                                  seed: UInt64, reporter: ProgressReporter? = nil) throws -> FisherEigenbasis {
        let P = problem.parameterCount
        if P <= denseLimit {
            // A (P²), dsyevd's eigenvectors in place and its workspace (≈ 2P² with vectors).
            try problem.communicator.agree {
                try MemoryBudget.require(try MemoryBudget.bytes("the dense \(matrix.rawValue)", 3, P, P, 8),
                                         for: "the dense \(matrix.rawValue) (P = \(P) ≤ \(Setting.reductionDenseLimit) \(denseLimit); a lower limit uses Lanczos)")
            }
            let op = TimedOperator(try problem.makeOperator(matrix))
            var a = [Double](repeating: 0, count: P * P)
            var e = [Double](repeating: 0, count: P)
            for i in 0..<P {
                e[i] = 1
                e.withUnsafeBufferPointer { ep in a.withUnsafeMutableBufferPointer { op.apply(ep.baseAddress!, into: $0.baseAddress! + i * P) } }
                e[i] = 0
                if i % 256 == 255 { reporter?.report("formed \(i + 1)/\(P) columns of \(matrix.rawValue)", eta: nil) }
            }
            // Symmetrize: the products are exact up to rounding, and dsyevd reads one triangle.
            for i in 0..<P { for j in (i + 1)..<P { let m = 0.5 * (a[i * P + j] + a[j * P + i]); a[i * P + j] = m; a[j * P + i] = m } }
            let full = a
            let (ascending, z) = try LAPACK.symmetricEigen(a, n: P, vectors: true)
            // Eigenvector j is column j of z; transpose once so that row i is e_i in descending order.
            var vt = [Double](repeating: 0, count: P * P)
            for r in 0..<P { for c in 0..<P { vt[(P - 1 - c) * P + r] = z[r * P + c] } }
            EigenvectorExport.normalizeSigns(&vt, rows: P, P: P)
            let values = Array(ascending.reversed())
            let worst = worstResidual(matrix: full, vectors: vt, values: values, P: P)
            return FisherEigenbasis(values: values, vectors: vt, matrix: matrix,
                                    method: "dense: \(matrix.rawValue) formed column by column (P = \(P) operator products, P ≤ \(Setting.reductionDenseLimit) \(denseLimit)), all eigenpairs by LAPACK dsyevd",
                                    worstResidual: worst, operatorApplications: P, operatorSeconds: op.seconds)
        }
        guard count >= 1 else {
            return FisherEigenbasis(values: [], vectors: [], matrix: matrix, method: "none (k = 0)", worstResidual: 0, operatorApplications: 0,
                                    operatorSeconds: 0)
        }
        let sample = EigenvectorExport.usesSampleSpace(matrix: matrix, k: count, problem: problem)
        let settings = LanczosSettings(count: count, which: .largest, tolerance: tolerance, seed: seed)
        let (top, timings) = try TopJob.run(problem, matrix: sample ? .ntk : matrix, settings: settings, reporter: reporter)
        if !top.converged.allSatisfy({ $0 }) {
            throw WispError.numerical("\(top.converged.filter { !$0 }.count) of \(count) eigenpairs of \(matrix.rawValue) did not reach \(Setting.reductionTolerance) \(tolerance) after \(top.operatorApplications) operator applications; lower k or raise \(Setting.reductionDenseLimit) above P = \(P)")
        }
        let (flat, written, _, _) = try EigenvectorExport.parameterVectors(problem, top: top)
        let values = written.map { top.eigenvalues[$0] }
        // Residuals with the parameter-space operator (the sample-space ones are K's).
        let worst = EigenvectorExport.residuals(try problem.makeOperator(matrix), vectors: flat, values: values, P: P).max() ?? 0
        return FisherEigenbasis(values: values, vectors: flat, matrix: matrix,
                                method: sample ? "thick-restart Lanczos on K = (1/T) J Jᵀ in sample space, vectors mapped v = Jᵀ u / √(T λ)"
                                               : "thick-restart Lanczos on \(matrix.rawValue) in parameter space (Ritz vectors)",
                                worstResidual: worst, operatorApplications: timings.operatorApplications + values.count,
                                operatorSeconds: timings.operatorSeconds)
    }

    /// w₀ + V_kᵀ V_k (w − w₀) for the first k rows of V (k × P, orthonormal rows); w₀ = 0 if nil.
    /// Also returns ‖V_k (w − w₀)‖². Cost: two GEMVs, 4kP flops.
    public static func project(_ w: [Double], origin w0: [Double]?, basis v: [Double], k: Int, P: Int) -> (parameters: [Double], captured: Double) {
        precondition(w.count == P && (w0 == nil || w0!.count == P) && v.count >= k * P)
        var d = w
        if let w0 { d.withUnsafeMutableBufferPointer { Double.axpy(n: P, alpha: -1, x: w0, y: $0.baseAddress!) } }
        var c = [Double](repeating: 0, count: max(k, 1))
        var result = w0 ?? [Double](repeating: 0, count: P)
        guard k > 0 else { return (result, 0) }
        Double.gemv(trans: false, m: k, n: P, alpha: 1, a: v, lda: P, x: d, beta: 0, y: &c)
        Double.gemv(trans: true, m: k, n: P, alpha: 1, a: v, lda: P, x: c, beta: 1, y: &result)
        return (result, Double.dot(n: k, x: c, y: c))
    }

    /// Reduces the problem's model (the trained one) at `settings.keep` and over `settings.sweep`,
    /// evaluating each reduced model on the problem's data; `initial` (P) enables the "change"
    /// variant. Leaves the problem at the last evaluated parameters. Collective.
    ///
    /// Every model is evaluated on the whole data set as one batch: with BatchNorm (batch
    /// statistics), a reduced model's loss uses the mean and variance of its own activations over
    /// all T samples (summed over the processes), exactly as the full model's and as F's
    /// operators do, so the loss at k = P is the full model's.
    public static func run(_ problem: some ReducibleProblem, initial: [Double]?, settings: ReductionSettings,
                           reporter: ProgressReporter? = nil) throws -> (result: ReductionResult, basis: FisherEigenbasis, reducedParameters: [String: [Double]]) {
        let P = problem.parameterCount
        if let initial, initial.count != P {
            throw WispError.badInput("the initial model has \(initial.count) parameters but the model has P = \(P)")
        }
        let keep = try settings.keep.resolve(parameters: P)
        let ks = Array(Set(try settings.sweep.map { try $0.resolve(parameters: P) })).sorted()
        let kMax = max(keep, ks.last ?? 0)
        let matrix = fisherMatrix(for: problem.matrixLoss)
        let variantCount = initial == nil ? 1 : 2
        // The embedded models: the full one and each (k, variant) evaluated, once.
        let embeddedKs = Array(Set(ks + [keep])).sorted()
        let inpcaSamples = settings.inpca.map { min($0.samples ?? problem.totalSamples, problem.totalSamples) } ?? 0
        if settings.inpca != nil {
            try ReductionEmbedding.checkMemory(problem, models: 1 + embeddedKs.count * variantCount, samples: inpcaSamples)
        }
        var embedded = [EmbeddedModel](), predictions = [[Double]]()
        func collect(_ model: EmbeddedModel) throws {
            guard settings.inpca != nil, !embedded.contains(model) else { return }
            embedded.append(model)
            predictions.append(try ReductionEmbedding.localPredictions(problem, samples: inpcaSamples))
        }
        let w = problem.parameterValues
        let full = try problem.evaluateLoss()
        try collect(EmbeddedModel(name: "full"))
        let basis = try eigenbasis(problem, matrix: matrix, count: kMax, denseLimit: settings.denseLimit, tolerance: settings.tolerance,
                                   seed: settings.seed, reporter: reporter)
        if basis.count < kMax {
            throw WispError.numerical("only \(basis.count) eigenvectors with nonzero eigenvalue could be mapped from sample space, fewer than k = \(kMax); raise \(Setting.reductionDenseLimit) above P = \(P)")
        }
        let wNorm = max(Double.dot(n: P, x: w, y: w).squareRoot(), .leastNormalMagnitude)
        var variants: [(String, [Double]?)] = [("weights", nil)]
        if let initial { variants.append(("change", initial)) }
        var saved = [String: [Double]]()
        // ‖w − w₀‖² per variant (w₀ = 0 for "weights"), the denominator of the captured share.
        var projectedNorm2 = [String: Double]()
        for (name, origin) in variants {
            var d = w
            if let origin { d.withUnsafeMutableBufferPointer { Double.axpy(n: P, alpha: -1, x: origin, y: $0.baseAddress!) } }
            projectedNorm2[name] = Double.dot(n: P, x: d, y: d)
        }
        func evaluate(_ k: Int, _ name: String, _ origin: [Double]?) throws -> ReducedModel {
            let (theta, captured) = project(w, origin: origin, basis: basis.vectors, k: k, P: P)
            var diff = theta
            diff.withUnsafeMutableBufferPointer { Double.axpy(n: P, alpha: -1, x: w, y: $0.baseAddress!) }
            let dd = projectedNorm2[name]!
            try problem.setParameters(theta)
            let e = try problem.evaluateLoss()
            try collect(EmbeddedModel(name: "\(name) k=\(k)", k: k, fraction: Double(k) / Double(P), variant: name))
            if k == keep { saved[name] = theta }
            return ReducedModel(k: k, fraction: Double(k) / Double(P), variant: name, loss: e.value, accuracy: e.accuracy,
                                relativeDistance: Double.dot(n: P, x: diff, y: diff).squareRoot() / wNorm,
                                capturedShare: dd > 0 ? captured / dd : 1)
        }
        var sweep = [ReducedModel]()
        for k in ks {
            for (name, origin) in variants { sweep.append(try evaluate(k, name, origin)) }
            reporter?.report("sweep k = \(k) evaluated", eta: nil)
        }
        let reduced = try variants.map { try evaluate(keep, $0.0, $0.1) }
        var initialEvaluation: ModelEvaluation? = nil
        var initialRatio: Double? = nil, changeRatio: Double? = nil
        if let initial {
            try problem.setParameters(initial)
            let e = try problem.evaluateLoss()
            initialEvaluation = ModelEvaluation(loss: e.value, accuracy: e.accuracy)
            initialRatio = Double.dot(n: P, x: initial, y: initial).squareRoot() / wNorm
            changeRatio = projectedNorm2["change"]!.squareRoot() / wNorm
        }
        // Full model first, then ascending k, weights before change.
        let order = embedded.indices.sorted { a, b in
            let (x, y) = (embedded[a], embedded[b])
            return (x.k ?? -1, x.variant == "change" ? 1 : 0) < (y.k ?? -1, y.variant == "change" ? 1 : 0)
        }
        let embedding = try settings.inpca.map {
            try ReductionEmbedding.compute(problem, local: order.map { predictions[$0] }, models: order.map { embedded[$0] },
                                           samples: inpcaSamples, components: $0.components)
        }
        var result = ReductionResult(
            matrix: matrix, matrixDescription: matrixDescription(problem.matrixLoss), method: basis.method, parameters: P,
            eigenvalues: basis.values, worstResidual: basis.worstResidual, full: ModelEvaluation(loss: full.value, accuracy: full.accuracy),
            initial: initialEvaluation, initialNormRatio: initialRatio, changeNormRatio: changeRatio, keep: keep, reduced: reduced,
            sweep: sweep, operatorApplications: basis.operatorApplications)
        result.inpca = embedding
        return (result, basis, saved)
    }

    /// The parameters of the initial model in `path`, checked against the problem's network
    /// (``ReducibleProblem/readModel(_:setting:)``: an MLP's layer shapes and biases, a layer
    /// network's whole description).
    public static func loadInitial(_ path: String, problem: some ReducibleProblem) throws -> [Double] {
        try problem.readModel(path, setting: .reductionInitial)
    }

    /// max_j ‖A v_j − λ_j v_j‖ with A dense (one GEMM, 2P³ flops).
    static func worstResidual(matrix a: [Double], vectors v: [Double], values: [Double], P: Int) -> Double {
        var av = [Double](repeating: 0, count: P * P)
        Double.gemm(transA: false, transB: true, m: P, n: P, k: P, alpha: 1, a: v, lda: P, b: a, ldb: P, beta: 0, c: &av, ldc: P)
        var worst = 0.0
        for j in 0..<P {
            var s = 0.0
            for i in 0..<P { let r = av[j * P + i] - values[j] * v[j * P + i]; s += r * r }
            worst = max(worst, s.squareRoot())
        }
        return worst
    }
}
