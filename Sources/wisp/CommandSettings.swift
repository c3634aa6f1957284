import Wisp

// Every command's settings as one typed value (numbers as numbers): what its JSON record writes
// under `settings` (``RunRecord``), and — for the resumable commands — what its checkpoint
// fingerprint (``RunFingerprint``) is made from, through `resumable`: exactly the settings that
// change the numbers of the saved state. The settings that only decide when to stop are left out
// of the fingerprint, so a rerun may change them: `--tol`, `--max-applications`, `--probes`
// (finished probes are reused), and KPM's `--kernel` (it acts on the reconstruction only).
// The layout is `python/wisp/record.schema.json`.

/// `wisp top` (MLP and layer networks): the matrix, the method asked for and the Lanczos
/// settings (k, which, tolerance, basis, budget, seed), flattened into one object.
struct TopSettings: Encodable {
    var matrix: CurvatureMatrix
    var method: TopMethod
    var lanczos: LanczosSettings

    /// The Lanczos factorization depends on the operator (`matrix`: the one the solver ran on), k, the end and the basis size.
    func resumable(matrix: CurvatureMatrix) -> TopResumeSettings {
        TopResumeSettings(matrix: matrix, k: lanczos.count, which: lanczos.which, basis: lanczos.basisSize)
    }

    private enum CodingKeys: String, CodingKey { case matrix, method }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(matrix, forKey: .matrix)
        try c.encode(method.rawValue, forKey: .method)
        try lanczos.encode(to: encoder)
    }
}

/// `wisp top`'s fingerprint (``TopSettings/resumable(matrix:)``).
struct TopResumeSettings: Encodable {
    var matrix: CurvatureMatrix
    var k: Int
    var which: SpectrumEnd
    var basis: Int?
}

/// `wisp density` (and the densities of `wisp run`): the matrix, the method asked for, the
/// grid, and the settings of the estimator that ran (`slq` or `kpm`; neither for exact).
struct DensityRunSettings: Encodable {
    var matrix: CurvatureMatrix
    /// The method asked for (`auto` stays `auto`: the record's `method_choice` says what ran).
    var method: DensityMethod
    var grid: DensitySettings
    var slq: SLQSettings?
    var kpm: KPMRunSettings?
    var compareExact: Bool

    /// Probe p depends on (seed, p, steps) and the operator: a rerun with more probes reuses the finished ones.
    var slqResumable: SLQResumeSettings? { slq.map { SLQResumeSettings(matrix: matrix, steps: $0.steps) } }
    /// The moments depend on the operator, their number, the deflation and the bounds.
    var kpmResumable: KPMResumeSettings? {
        kpm.map { KPMResumeSettings(matrix: matrix, moments: $0.expansion.moments, options: $0.options) }
    }

    private enum CodingKeys: String, CodingKey { case matrix, method, grid, slq, kpm, compareExact = "compare_exact" }
}

/// KPM's settings: the expansion (probes, moments, kernel, seed) and the bounds and deflation.
struct KPMRunSettings: Encodable {
    var expansion: KPMSettings
    var options: KPMJobOptions

    func encode(to encoder: any Encoder) throws {
        try expansion.encode(to: encoder)
        try options.encode(to: encoder)
    }
}

/// `wisp density --method slq`'s fingerprint (``DensityRunSettings/slqResumable``).
struct SLQResumeSettings: Encodable {
    var matrix: CurvatureMatrix
    var method = "slq"
    var steps: Int
}

/// `wisp density --method kpm`'s fingerprint (``DensityRunSettings/kpmResumable``).
struct KPMResumeSettings: Encodable {
    var matrix: CurvatureMatrix
    var method = "kpm"
    var moments: Int
    var options: KPMJobOptions

    init(matrix: CurvatureMatrix, moments: Int, options: KPMJobOptions) {
        self.matrix = matrix
        self.moments = moments
        self.options = options
    }

    private enum CodingKeys: String, CodingKey { case matrix, method, moments }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(matrix, forKey: .matrix)
        try c.encode(method, forKey: .method)
        try c.encode(moments, forKey: .moments)
        try options.encode(to: encoder)
    }
}

/// `wisp moments`.
struct MomentsRunSettings: Encodable {
    var matrix: CurvatureMatrix
    var exactLimit: Int
    var probes: Int
    var seed: UInt64

    private enum CodingKeys: String, CodingKey { case matrix, exactLimit = "exact_limit", probes, seed }
}

/// `wisp train`: every training and measurement setting, and the validation set. All of them
/// change the saved series, so the fingerprint is this value whole.
struct TrainRunSettings: Encodable {
    var training: TrainingSettings
    var measurements: MeasurementSettings
    var validation: ValidationSettings?
}

/// `wisp reduce`.
struct ReduceRunSettings: Encodable {
    var keep: KeepCount
    var sweep: [KeepCount]
    var denseLimit: Int
    var tolerance: Double
    /// The model the reduced parameters start from (`--init`); nil: the trained model.
    var initial: String?
    var variant: String
    var inpca: Bool
    var inpcaSamples: Int?

    private enum CodingKeys: String, CodingKey {
        case keep, sweep, denseLimit = "dense_limit", tolerance, initial = "init", variant, inpca, inpcaSamples = "inpca_samples"
    }
}

/// `wisp run` (the default job): the SLQ estimate's probes and steps.
struct DefaultRunSettings: Encodable {
    var slq: SLQSettings
}
