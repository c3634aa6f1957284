/// The mean-field predictions next to a measurement (Karakida, Akaho & Amari): what
/// ``MeanFieldPrediction`` says for the run's configuration, and measured/predicted ratios.
///
/// The theory covers random initialization (eq. 2, standard parametrization) on Gaussian inputs
/// (eq. 3); a run with `--inputs`, `--model` or the NTK parametrization gets `covered: false`
/// and the reason. Asymptotic predictions are the theorems' (leading order in M); the
/// `_finite_width` ones keep biases and the exact P (see ``MeanFieldPrediction``).
public struct TheoryBlock: Encodable, Sendable {
    public var covered: Bool
    public var reason: String?
    public var reference = "Karakida, Akaho & Amari, \"The normalization method for alleviating pathological sharpness in wide neural networks\": Theorem 2.2 (eq. 10-11), 3.3 (eq. 16-18), 3.4 (eq. 22), 4.1 (eq. 25)"
    /// Whether the hypotheses of the theorem used hold (e.g. a non-centered network).
    public var hypothesesHold: Bool?
    public var predictions: [String: Double] = [:]
    public var measuredOverPredicted: [String: Double] = [:]
    public var details: MeanFieldPrediction?

    private enum CodingKeys: String, CodingKey {
        case covered, reason, reference, hypothesesHold = "hypotheses_hold", predictions,
             measuredOverPredicted = "measured_over_predicted", details
    }

    /// The predictions for `problem` (collective: gathers the raw outputs, which the
    /// layer-norm and last-layer batch-norm predictions use).
    /// `matrix` is the matrix the run measured: Karakida et al.'s theory describes F (and K, and
    /// G for mse), not the Hessian or its residual part.
    public static func make(for problem: Problem, matrix: CurvatureMatrix = .fisher) -> TheoryBlock {
        let outputs = problem.rawOutputs()
        let c = problem.configuration
        if !matrix.sharesSpectrumWithFisher(loss: c.loss) {
            return TheoryBlock(covered: false, reason: "the mean-field theory (Karakida et al.) describes the Fisher matrix F = (1/T) JᵀJ, not \(Setting.matrix) \(matrix.rawValue) with \(Setting.loss) \(c.loss.rawValue)")
        }
        if c.inputsPath != nil {
            return TheoryBlock(covered: false, reason: "the inputs come from a file; the theory assumes Gaussian inputs (eq. 3)")
        }
        if c.modelPath != nil {
            return TheoryBlock(covered: false, reason: "the weights come from a file; the theory describes random initialization (eq. 2)")
        }
        let usesOutputs = c.normalization == .layerNorm || c.normalization == .lastBatchNorm
        do {
            let p = try MeanFieldPrediction(architecture: problem.architecture, samples: problem.totalSamples,
                                            outputs: usesOutputs ? outputs : nil)
            var block = TheoryBlock(covered: true, hypothesesHold: p.hypothesesHold, details: p)
            let values: [(String, Double?)] = [
                ("mean_eigenvalue", p.predictedMeanEigenvalue),
                ("mean_eigenvalue_finite_width", p.predictedMeanEigenvalueFiniteWidth),
                ("lambda_max", p.predictedLargestEigenvalue),
                ("lambda_max_finite_width", p.predictedLargestEigenvalueFiniteWidth),
                ("lambda_max_lower_bound", p.largestEigenvalueLowerBound),
                ("lambda_max_upper_bound", p.largestEigenvalueUpperBound),
                ("lambda_max_multiplicity", p.largestEigenvalueMultiplicity.map(Double.init)),
                ("second_moment", p.predictedSecondMoment),
                ("kappa1", p.kappa1), ("kappa2", p.kappa2), ("alpha", p.alpha),
            ]
            for case let (key, value?) in values where value.isFinite { block.predictions[key] = value }
            if !p.hypothesesHold {
                block.reason = "the theorem's hypotheses do not hold for this configuration (e.g. a centered network, Definition 2.1); the formulas' values are shown without its guarantee"
            }
            return block
        } catch {
            return TheoryBlock(covered: false, reason: "\(error)")
        }
    }

    /// Adds measured/predicted ratios for the measured quantities (keys `lambda_max`,
    /// `mean_eigenvalue`, `second_moment`), against each matching prediction.
    public func comparing(_ measured: [String: Double]) -> TheoryBlock {
        var block = self
        let pairs: [(String, String)] = [
            ("lambda_max", "lambda_max"), ("lambda_max", "lambda_max_finite_width"), ("lambda_max", "lambda_max_lower_bound"),
            ("lambda_max", "lambda_max_upper_bound"), ("mean_eigenvalue", "mean_eigenvalue"),
            ("mean_eigenvalue", "mean_eigenvalue_finite_width"), ("second_moment", "second_moment"),
        ]
        for (m, p) in pairs {
            if let x = measured[m], let y = predictions[p], y != 0 { block.measuredOverPredicted[p] = x / y }
        }
        return block
    }
}
