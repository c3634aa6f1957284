/// Normalization layers (Karakida et al. §3–4), with γ = 1, β = 0 (not parameters) and
/// statistics over all T samples (full batch).
///
/// - `lastMean`: f_k(t) = u_k^L(t) − μ_k, μ_k = (1/T) Σ_s u_k^L(s) (eq. 15).
/// - `lastBatchNorm`: f_k(t) = (u_k^L(t) − μ_k)/σ_k, σ_k² = (1/T) Σ_s (u_k^L(s) − μ_k)² (eq. 13–14).
/// - `middleBatchNorm`: ū_i^l = (u_i^l − μ_i^l)/σ_i^l, h^l = φ(ū^l) for l = 1…L−1; the last
///   layer is plain (eq. 20–21).
/// - `layerNorm`: ū_i^l(t) = (u_i^l(t) − μ^l(t))/σ^l(t) with μ, σ over the units of the layer,
///   for every layer l = 1…L, the output included (eq. 23–24).
///
/// The batch variants couple the samples: every f(t) depends on every sample's
/// pre-activations, and so do its derivatives.
public enum Normalization: String, Codable, Sendable, CaseIterable {
    case none
    case lastMean = "last-mean"
    case lastBatchNorm = "last-batchnorm"
    case middleBatchNorm = "middle-batchnorm"
    case layerNorm = "layernorm"

    /// The statistic layer l (1…L) of a depth-L network normalizes with, if any.
    public func kind(layer l: Int, depth L: Int) -> NormalizationKind? {
        switch self {
        case .none: return nil
        case .lastMean: return l == L ? .batchMean : nil
        case .lastBatchNorm: return l == L ? .batch : nil
        case .middleBatchNorm: return l < L ? .batch : nil
        case .layerNorm: return .layer
        }
    }

    /// Whether the network's outputs for one sample depend on the other samples.
    public var couplesSamples: Bool { self == .lastMean || self == .lastBatchNorm || self == .middleBatchNorm }
}

/// How one layer's pre-activations are standardized.
public enum NormalizationKind: Sendable {
    /// Subtract the mean over samples, per unit.
    case batchMean
    /// Subtract the mean and divide by the standard deviation over samples, per unit.
    case batch
    /// Subtract the mean and divide by the standard deviation over units, per sample.
    case layer
}
