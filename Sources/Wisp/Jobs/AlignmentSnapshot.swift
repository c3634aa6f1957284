import Foundation

/// The layerwise alignment measured at a training checkpoint (`wisp train --measure align`):
/// the per-layer records of ``AlignJob`` (A_l of Lou et al. eq. 7 with its error, ‖C K_l C‖_F,
/// λ_max(C K_l C) and the stable rank) and the peak layer, without the run-level prose of
/// ``AlignResult``. Codable, so it survives in the training state of a resumable run.
public struct AlignmentSnapshot: Codable, Sendable {
    /// "exact" or "hutchinson" (``AlignResult/method``).
    public var method: String
    /// Hutchinson probes (nil when exact).
    public var probes: Int?
    public var layers: [LayerAlignment]
    /// argmax_l A_l and its A_l.
    public var peakLayer: Int
    public var peakAlignment: Double
    /// ‖Ỹ‖² of the centered targets.
    public var labelNormSquared: Double
    /// Products with the layer kernels this measurement took.
    public var operatorApplications: Int

    public init(_ r: AlignResult) {
        method = r.method
        probes = r.probes
        layers = r.layers
        peakLayer = r.peakLayer
        peakAlignment = r.peakAlignment
        labelNormSquared = r.labelNormSquared
        operatorApplications = r.timings.operatorApplications
    }

    private enum CodingKeys: String, CodingKey {
        case method, probes, layers, peakLayer = "peak_layer", peakAlignment = "peak_alignment",
             labelNormSquared = "label_norm_squared", operatorApplications = "operator_applications"
    }
}
