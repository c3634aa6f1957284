import Wisp

// The typed settings each resumable command puts in its checkpoint fingerprint
// (``RunFingerprint``, encoded canonically): exactly the settings that change the numbers of
// the saved state. Settings that only decide when to stop are left out, so a rerun may change
// them: `--tol`, `--max-applications`, `--probes` (finished probes are reused), and KPM's
// `--kernel` (it acts on the reconstruction only).

/// `wisp top`: the Lanczos factorization depends on the operator, k, the end and the basis size.
struct TopResumeSettings: Encodable {
    var matrix: CurvatureMatrix
    var k: Int
    var which: SpectrumEnd
    var basis: Int?
}

/// `wisp density --method slq`: probe p depends on (seed, p, steps) and the operator.
struct SLQResumeSettings: Encodable {
    var matrix: CurvatureMatrix
    var method = "slq"
    var steps: Int
}

/// `wisp density --method kpm`: the moments depend on the operator, their number, the
/// deflation and the bounds.
struct KPMResumeSettings: Encodable {
    var matrix: CurvatureMatrix
    var method = "kpm"
    var moments: Int
    var deflate: Int
    var boundSteps: Int
    var lowerBound: Double?
    var upperBound: Double?

    enum CodingKeys: String, CodingKey {
        case matrix, method, moments, deflate, boundSteps = "bound_steps", lowerBound = "lower_bound", upperBound = "upper_bound"
    }
}

/// `wisp train`: every training and measurement setting, and the validation set (its numbers
/// are part of the saved series).
struct TrainResumeSettings: Encodable {
    var training: TrainingSettings
    var measurements: MeasurementSettings
    var validation: ValidationSettings?
}
