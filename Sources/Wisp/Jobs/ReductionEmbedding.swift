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

/// One model's own InPCA of its S predictions (a panel of Cowlagi & Chaudhari's Fig. 3).
public struct OwnEmbedding: Encodable, Sendable {
    /// The leading eigenvalues (at most 20) by |λ|, signed, and their explained fractions.
    public var eigenvalues: [Double]
    public var explainedFractions: [Double]
    public var negativeFraction: Double

    private enum CodingKeys: String, CodingKey {
        case eigenvalues, explainedFractions = "explained_fractions", negativeFraction = "negative_fraction"
    }
}

/// The InPCA embedding of the predictions of the full and reduced models (Cowlagi & Chaudhari
/// Fig. 3; ``IntensivePCA``): each point a (model, sample) pair, the distribution the model
/// predicts for that sample. Two views: all N·S points in **one** embedding, so that the models
/// share coordinates and a reduced model's picture lies on the full one's (a collapsed model is
/// seen collapsed); and each model's S points in an embedding **of its own**, as the paper's
/// panels show them (the shape of a collapsed model's predictions, stretched to fill its axes).
/// Also the N models as points (distances averaged over the samples, eq. (1) with m = S).
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
    /// Each model's own embedding of its S predictions, in model order.
    public var own: [OwnEmbedding]
    /// N·S × components, model-major: each model's own coordinates; in the CSV.
    public var ownCoordinates: [Double]
    /// The files written (set by the command).
    public var csvFile: String?
    public var svgFile: String?
    /// N·S × components, model-major (point = model·S + sample); in the CSV, not the JSON.
    public var coordinates: [Double]
    /// The class label of each of the S samples (nil for real-valued targets); in the CSV.
    public var labels: [Int?]

    private enum CodingKeys: String, CodingKey {
        case family, distance, method, samples, models, points, components, eigenvalues, explainedFractions = "explained_fractions",
             negativeFraction = "negative_fraction", residuals, residualScale = "residual_scale", modelLevel = "model_level", own,
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
    static func localRows(_ problem: some ExactSampleSpaceProblem, samples S: Int, rank: Int? = nil) -> Int {
        let b = problem.communicator.block(of: problem.totalSamples, rank: rank)
        return max(0, min(b.upperBound, S) - b.lowerBound)
    }

    /// This process's predictions for its share of the first S samples (rows × C), for the
    /// problem's current parameters: softmax or σ probabilities, or the outputs for mse.
    public static func localPredictions(_ problem: some ReducibleProblem, samples S: Int) throws -> [Double] {
        let C = problem.outputCount, rows = localRows(problem, samples: S)
        return Array(try problem.localPredictions().prefix(rows * C))
    }

    /// Checks, before any work, that the embedding of `models` models over the first S samples
    /// fits in memory (agreed by every process).
    public static func checkMemory(_ problem: some ExactSampleSpaceProblem, models N: Int, samples S: Int) throws {
        try problem.communicator.agree {
            let n = try MemoryBudget.count("the InPCA points", N, S)
            try MemoryBudget.require(try IntensivePCA.bytes(points: n),
                                     for: "the InPCA embedding of \(N) models × \(S) samples (\(Setting.inpcaSamples) embeds fewer)")
        }
    }

    /// Gathers every process's predictions (`local[model]`, this process's first-S rows × C) and
    /// labels, and embeds them. Collective (one allgather per model and one for the labels);
    /// every process computes the same embedding from the same gathered bits.
    public static func compute(_ problem: some ReducibleProblem, local: [[Double]], models: [EmbeddedModel], samples S: Int,
                               components: Int) throws -> ReductionEmbedding {
        precondition(local.count == models.count && !models.isEmpty)
        let c = problem.communicator, C = problem.outputCount, N = models.count
        let rowCounts = (0..<c.size).map { localRows(problem, samples: S, rank: $0) }
        var values = [Double]()
        values.reserveCapacity(N * S * C)
        for m in local { values += c.allgather(m, counts: rowCounts.map { $0 * C }) }
        let targets = try problem.localTargets()
        let rows = localRows(problem, samples: S)
        var localLabels = [Double](repeating: -1, count: rows)
        let loss = problem.matrixLoss
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
            func negativeShare(_ values: [Double]) -> Double {
                let total = values.reduce(0) { $0 + abs($1) }
                return total > 0 ? values.reduce(0) { $0 + ($1 < 0 ? -$1 : 0) } / total : 0
            }
            let lead = min(20, joint.eigenvalues.count)
            var own = [OwnEmbedding](), ownCoordinates = [Double]()
            for m in 0..<N {
                let e = try IntensivePCA.embed(Array(values[(m * S * C)..<((m + 1) * S * C)]), points: S, factors: 1, outcomes: C,
                                               family: family, components: joint.components)
                own.append(OwnEmbedding(eigenvalues: Array(e.eigenvalues.prefix(20)), explainedFractions: Array(e.explainedFractions.prefix(20)),
                                        negativeFraction: negativeShare(e.eigenvalues)))
                // Rows padded to the joint embedding's width (S can be below it).
                for i in 0..<S {
                    ownCoordinates += e.coordinates[(i * e.components)..<((i + 1) * e.components)]
                    ownCoordinates += [Double](repeating: 0, count: joint.components - e.components)
                }
            }
            return ReductionEmbedding(
                family: family, distance: distanceDescription(family),
                method: "InPCA (Quinn et al. 2019): W = −½ Π D Π of the \(N * S) × \(N * S) squared distances (and of each model's \(S) × \(S)), all eigenpairs by LAPACK dsyevd, ordered by |λ|, signs kept",
                samples: S, models: models, points: N * S, components: joint.components,
                eigenvalues: Array(joint.eigenvalues.prefix(lead)), explainedFractions: Array(joint.explainedFractions.prefix(lead)),
                negativeFraction: negativeShare(joint.eigenvalues), residuals: joint.residuals, residualScale: joint.scale,
                modelLevel: ModelLevelEmbedding(eigenvalues: perModel.eigenvalues, explainedFractions: perModel.explainedFractions,
                                                coordinates: (0..<N).map { Array(perModel.coordinates[($0 * q)..<(($0 + 1) * q)]) },
                                                distanceFromFull: (0..<N).map { d[$0] }),
                own: own, ownCoordinates: ownCoordinates,
                csvFile: nil, svgFile: nil, coordinates: joint.coordinates, labels: labels)
        }
    }
}
