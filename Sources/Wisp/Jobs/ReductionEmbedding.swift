import Foundation

/// One model whose predictions `wisp reduce --inpca` embeds: the full model, or a reduction.
public struct EmbeddedModel: Codable, Sendable, Equatable {
    /// "full", or "<variant> k=<k>".
    public var name: String
    /// Eigenvectors kept (nil for the full model).
    public var k: Int?
    public var fraction: Double?
    /// "weights" or "change" (nil for the full model).
    public var variant: String?

    public init(name: String, k: Int? = nil, fraction: Double? = nil, variant: String? = nil) {
        self.name = name
        self.k = k
        self.fraction = fraction
        self.variant = variant
    }
}

/// What `--inpca` embeds: the first `samples` samples (nil: all T), `components` coordinates kept.
public struct InPCASettings: Sendable, Equatable {
    public var samples: Int?
    public var components: Int
    public init(samples: Int? = nil, components: Int = 3) {
        self.samples = samples
        self.components = components
    }
}

/// The model-level InPCA: each model one point, a product over the S samples.
public struct ModelLevelEmbedding: Encodable, Sendable {
    /// Every eigenvalue (N), by |λ| descending, signed.
    public var eigenvalues: [Double]
    public var explainedFractions: [Double]
    /// Per model, its first min(N, components) coordinates.
    public var coordinates: [[Double]]
    /// d²(full, model) of eq. (1): the mean Bhattacharyya distance per sample from the full model.
    public var distanceFromFull: [Double]

    private enum CodingKeys: String, CodingKey {
        case eigenvalues, explainedFractions = "explained_fractions", coordinates, distanceFromFull = "distance_from_full"
    }
}

/// The InPCA embedding of the predictions of the full and reduced models (Cowlagi & Chaudhari
/// Fig. 3; ``IntensivePCA``): each point a (model, sample) pair, the distribution the model
/// predicts for that sample, all N·S points in one embedding, so that the models share
/// coordinates and a reduced model's picture can be laid on the full one's. Also the N models as
/// points of their own (distances averaged over the samples, eq. (1) with m = S).
public struct ReductionEmbedding: Encodable, Sendable {
    public var family: IntensivePCA.Family
    public var distance: String
    public var method: String
    /// S, the first samples embedded.
    public var samples: Int
    public var models: [EmbeddedModel]
    /// N·S.
    public var points: Int
    public var components: Int
    /// The leading eigenvalues (at most 20) of W by |λ|, signed.
    public var eigenvalues: [Double]
    public var explainedFractions: [Double]
    /// Σ_(λ<0) |λ| / Σ |λ|: the share of the spectrum in time-like (negative) directions.
    public var negativeFraction: Double
    /// ‖W u_k − λ_k u_k‖ of the kept components, and max |W_ij| beside them.
    public var residuals: [Double]
    public var residualScale: Double
    public var modelLevel: ModelLevelEmbedding
    /// The files written (set by the command).
    public var csvFile: String?
    public var svgFile: String?
    /// N·S × components, model-major (point = model·S + sample); in the CSV, not the JSON.
    public var coordinates: [Double]
    /// The class label of each of the S samples (nil for real-valued targets); in the CSV.
    public var labels: [Int?]

    private enum CodingKeys: String, CodingKey {
        case family, distance, method, samples, models, points, components, eigenvalues, explainedFractions = "explained_fractions",
             negativeFraction = "negative_fraction", residuals, residualScale = "residual_scale", modelLevel = "model_level",
             csvFile = "csv", svgFile = "svg"
    }

    /// The family of the predictions of a loss: softmax probabilities (cross-entropy), per-output
    /// Bernoulli σ(f) (bce), unit-variance Gaussians around f (mse).
    public static func family(for loss: Loss) -> IntensivePCA.Family {
        switch loss {
        case .mse: return .gaussian
        case .crossEntropy: return .categorical
        case .binaryCrossEntropy: return .bernoulli
        }
    }

    public static func distanceDescription(_ family: IntensivePCA.Family) -> String {
        switch family {
        case .categorical: return "d² = −log Σ_c √(p_c q_c) (Bhattacharyya, softmax probabilities), per sample"
        case .bernoulli: return "d² = −Σ_c log(√(p_c q_c) + √((1−p_c)(1−q_c))) (Bhattacharyya, independent Bernoulli σ(f_c)), per sample"
        case .gaussian: return "d² = ‖f − g‖²/8 (Bhattacharyya of unit-variance Gaussians, the mse model), per sample"
        }
    }

    /// The first S samples of this process's block (a prefix of its rows).
    static func localRows(_ problem: Problem, samples S: Int, rank: Int? = nil) -> Int {
        let b = problem.communicator.block(of: problem.totalSamples, rank: rank)
        return max(0, min(b.upperBound, S) - b.lowerBound)
    }

    /// This process's predictions for its share of the first S samples (rows × C), for the
    /// problem's current parameters: softmax or σ probabilities, or the outputs for mse.
    public static func localPredictions(_ problem: Problem, samples S: Int) throws -> [Double] {
        let C = problem.architecture.outputs, rows = localRows(problem, samples: S)
        let all = problem.configuration.loss == .mse ? problem.localOutputs() : try problem.lossEvaluation().outputHessian.probabilities
        return Array(all.prefix(rows * C))
    }

    /// Checks, before any work, that the embedding of `models` models over the first S samples
    /// fits in memory (agreed by every process).
    public static func checkMemory(_ problem: Problem, models N: Int, samples S: Int) throws {
        try problem.communicator.agree {
            let n = try MemoryBudget.count("the InPCA points", N, S)
            try MemoryBudget.require(try IntensivePCA.bytes(points: n),
                                     for: "the InPCA embedding of \(N) models × \(S) samples (--inpca-samples embeds fewer)")
        }
    }

    /// Gathers every process's predictions (`local[model]`, this process's first-S rows × C) and
    /// labels, and embeds them. Collective (one allgather per model and one for the labels);
    /// every process computes the same embedding from the same gathered bits.
    public static func compute(_ problem: Problem, local: [[Double]], models: [EmbeddedModel], samples S: Int,
                               components: Int) throws -> ReductionEmbedding {
        precondition(local.count == models.count && !models.isEmpty)
        let c = problem.communicator, C = problem.architecture.outputs, N = models.count
        let rowCounts = (0..<c.size).map { localRows(problem, samples: S, rank: $0) }
        var values = [Double]()
        values.reserveCapacity(N * S * C)
        for m in local { values += c.allgather(m, counts: rowCounts.map { $0 * C }) }
        let targets = try problem.targets()
        let rows = localRows(problem, samples: S)
        var localLabels = [Double](repeating: -1, count: rows)
        let loss = problem.configuration.loss
        for t in 0..<rows {
            let y = targets.values[(t * C)..<((t + 1) * C)]
            if C >= 2, loss == .crossEntropy || targets.classes != nil {
                localLabels[t] = Double(y.indices.max { y[$0] < y[$1] || (y[$0] == y[$1] && $0 > $1) }! - t * C)
            } else if C == 1, loss == .binaryCrossEntropy {
                localLabels[t] = y[y.startIndex] > 0.5 ? 1 : 0
            }
        }
        let labels = c.allgather(localLabels, counts: rowCounts).map { $0 < 0 ? nil : Int($0) }
        let family = family(for: loss)
        return try c.agree {
            let joint = try IntensivePCA.embed(values, points: N * S, factors: 1, outcomes: C, family: family, components: components)
            let d = try IntensivePCA.distances(values, points: N, factors: S, outcomes: C, family: family)
            let perModel = try IntensivePCA.embed(distances: d, points: N, components: components)
            let q = perModel.components
            let total = joint.eigenvalues.reduce(0) { $0 + abs($1) }
            let negative = joint.eigenvalues.reduce(0) { $0 + ($1 < 0 ? -$1 : 0) }
            let lead = min(20, joint.eigenvalues.count)
            return ReductionEmbedding(
                family: family, distance: distanceDescription(family),
                method: "InPCA (Quinn et al. 2019): W = −½ Π D Π of the \(N * S) × \(N * S) squared distances, all eigenpairs by LAPACK dsyevd, ordered by |λ|, signs kept",
                samples: S, models: models, points: N * S, components: joint.components,
                eigenvalues: Array(joint.eigenvalues.prefix(lead)), explainedFractions: Array(joint.explainedFractions.prefix(lead)),
                negativeFraction: total > 0 ? negative / total : 0, residuals: joint.residuals, residualScale: joint.scale,
                modelLevel: ModelLevelEmbedding(eigenvalues: perModel.eigenvalues, explainedFractions: perModel.explainedFractions,
                                                coordinates: (0..<N).map { Array(perModel.coordinates[($0 * q)..<(($0 + 1) * q)]) },
                                                distanceFromFull: (0..<N).map { d[$0] }),
                csvFile: nil, svgFile: nil, coordinates: joint.coordinates, labels: labels)
        }
    }
}
