import Foundation

/// A density estimate (SLQ or KPM) measured against the exact spectrum of the same matrix
/// (``ExactSpectrumJob``), both as spectral measures of F (its null space included):
///
///     W₁ = ∫ |F_est(λ) − F_exact(λ)| dλ   (``SpectralDistance/wasserstein1(_:_:)``),
///
/// also relative to λ_max, and W₁ of the nonzero parts on log₁₀ λ (in decades; each part
/// normalized to mass 1), which weighs every decade of a sloppy spectrum alike. The moments
/// tr(Fᵖ)/P of the estimate against the exact ones, in relative terms and in standard errors.
public struct DensityComparison: Codable, Sendable {
    public struct MomentError: Codable, Sendable {
        public var order: Int
        public var estimate: Double
        public var exact: Double
        public var relativeError: Double
        /// (estimate − exact) / standard error (nil when the estimate has none).
        public var standardErrors: Double?

        private enum CodingKeys: String, CodingKey {
            case order, estimate, exact, relativeError = "relative_error", standardErrors = "standard_errors"
        }
    }

    /// What the estimate's measure was: "gauss nodes" (SLQ) or "density grid" (KPM).
    public var estimateMeasure: String
    public var wasserstein1: Double
    public var wasserstein1Relative: Double
    public var wasserstein1Log10: Double
    public var zeroMassEstimate: Double
    public var zeroMassExact: Double
    public var moments: [MomentError]
    /// The exact run's wall time and method.
    public var exactSeconds: Double
    public var exactMethod: String

    private enum CodingKeys: String, CodingKey {
        case estimateMeasure = "estimate_measure", wasserstein1 = "wasserstein_1", wasserstein1Relative = "wasserstein_1_relative",
             wasserstein1Log10 = "wasserstein_1_log10_decades", zeroMassEstimate = "zero_mass_estimate", zeroMassExact = "zero_mass_exact",
             moments, exactSeconds = "exact_seconds", exactMethod = "exact_method"
    }

    /// Compares `estimate` (nodes and weights of F's measure, summing to 1 with its zero mass
    /// at λ = 0 included) and its moments with the exact result.
    public static func compare(estimate: (nodes: [Double], weights: [Double]), measure: String, moments: [MomentRecord],
                               zeroMass: Double, exact: DensityResult, parameters: Int, exactSeconds: Double) -> DensityComparison {
        let values = Array((exact.exactEigenvalues ?? []).prefix(parameters))
        var exactNodes = values, exactWeights = [Double](repeating: 1 / Double(parameters), count: values.count)
        exactNodes.append(0)
        exactWeights.append(exact.nullSpaceFraction)
        let w1 = SpectralDistance.wasserstein1(estimate, (exactNodes, exactWeights))
        let lambdaMax = values.first ?? 0
        let threshold = 1e-10 * lambdaMax
        let w1Log = SpectralDistance.wasserstein1(SpectralDistance.logPositivePart(estimate, threshold: threshold),
                                                  SpectralDistance.logPositivePart((exactNodes, exactWeights), threshold: threshold))
        let errors = zip(moments, exact.moments).map { e, x in
            MomentError(order: e.order, estimate: e.estimate, exact: x.estimate,
                        relativeError: (e.estimate - x.estimate) / max(abs(x.estimate), .leastNormalMagnitude),
                        standardErrors: e.standardError > 0 ? (e.estimate - x.estimate) / e.standardError : nil)
        }
        return DensityComparison(estimateMeasure: measure, wasserstein1: w1, wasserstein1Relative: lambdaMax > 0 ? w1 / lambdaMax : 0,
                                 wasserstein1Log10: w1Log, zeroMassEstimate: zeroMass, zeroMassExact: exact.density.zeroMass,
                                 moments: errors, exactSeconds: exactSeconds, exactMethod: exact.method)
    }
}

extension DensityComparison {
    /// An SLQ estimate (the Gauss nodes of every probe, ``DensityResult/estimateMeasure``)
    /// against the exact spectrum of the same matrix, which took `exactSeconds`.
    public static func compare(_ slq: DensityResult, exact: DensityResult, parameters: Int, exactSeconds: Double) -> DensityComparison {
        precondition(slq.estimateMeasure != nil, "an SLQ result carries its measure; an exact one does not")
        return compare(estimate: slq.estimateMeasure!, measure: "Gauss nodes of every probe", moments: slq.moments,
                       zeroMass: slq.density.zeroMass, exact: exact, parameters: parameters, exactSeconds: exactSeconds)
    }

    /// A KPM estimate (its damped density on the grid with the deflated pairs,
    /// ``KPMDensityResult/estimateMeasure``) against the exact spectrum.
    public static func compare(_ kpm: KPMDensityResult, exact: DensityResult, parameters: Int, exactSeconds: Double) -> DensityComparison {
        compare(estimate: kpm.estimateMeasure, measure: "damped density on the grid, deflated pairs", moments: kpm.moments,
                zeroMass: kpm.density.zeroMass, exact: exact, parameters: parameters, exactSeconds: exactSeconds)
    }
}
