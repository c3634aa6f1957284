import Foundation

/// Settings of a layerwise alignment run.
public struct AlignSettings: Codable, Sendable, Equatable {
    /// Form every K_l densely (exact A_l and ‖C K_l C‖_F) when TC is at most this; else
    /// Hutchinson. Memory of the exact path per process: about 3·T_block·C·TC doubles per layer.
    public var exactLimit: Int = 4096
    /// Rademacher probes of the Hutchinson estimate of ‖C K_l C‖²_F (the same probes for every layer).
    public var probes: Int = 30
    /// Seed of the probe streams and of the Lanczos start vectors.
    public var seed: UInt64 = 0
    /// Relative residual tolerance of λ_max(C K_l C) (Lanczos); the eigenvalue's own error is of
    /// order tolerance² · λ_max²/gap, far below what a stable rank needs.
    public var tolerance: Double = 1e-6

    public init(exactLimit: Int = 4096, probes: Int = 30, seed: UInt64 = 0, tolerance: Double = 1e-6) {
        self.exactLimit = exactLimit
        self.probes = probes
        self.seed = seed
        self.tolerance = tolerance
    }

    private enum CodingKeys: String, CodingKey { case exactLimit = "exact_limit", probes, seed, tolerance }
}

/// One layer's alignment with the labels and the shape of its kernel's spectrum.
public struct LayerAlignment: Codable, Sendable {
    /// l, 1…L, the l-th module that owns parameters, in θ's order (an MLP's PyTorch tensor `<2(l−1)>.weight`).
    public var layer: Int
    /// The module's state-dict prefix on a network given as layers ("0", "3.body.0", "3.projection"); absent for an MLP.
    public var name: String?
    /// P_l.
    public var parameters: Int
    /// A_l = Ỹᵀ K_l Ỹ / (‖C K_l C‖_F ‖Ỹ‖²) (Lou et al. eq. 7).
    public var alignment: Double
    /// 0 when exact; else the delta-method error from the Hutchinson estimate of ‖C K_l C‖²_F.
    public var alignmentStandardError: Double
    /// Ỹᵀ K_l Ỹ (always exact).
    public var labelProjection: Double
    /// ‖C K_l C‖_F and its standard error.
    public var centeredFrobeniusNorm: Double
    public var centeredFrobeniusNormStandardError: Double
    /// λ_max(C K_l C) by Lanczos, and ‖(C K_l C) y − λ y‖ recomputed.
    public var lambdaMax: Double
    public var lambdaMaxResidual: Double
    public var lambdaMaxConverged: Bool
    /// R_l = ‖C K_l C‖²_F / λ_max(C K_l C)² (Lou et al. App. G.1) and its standard error.
    public var stableRank: Double
    public var stableRankStandardError: Double
    /// A(forward ⊗ 1 1ᵀ, Y Yᵀ) and A(backward, Y Yᵀ) of the eq. 9 factors (exact path on an MLP
    /// only; nil on networks given as layers, whose K_l is not one Hadamard product of two kernels,
    /// and nil for a factor that is the same for every sample, where A is 0/0: the top layer's
    /// backward kernel when C = 1).
    public var forwardAlignment: Double?
    public var backwardAlignment: Double?

    private enum CodingKeys: String, CodingKey {
        case layer, name, parameters, alignment, alignmentStandardError = "alignment_standard_error",
             labelProjection = "label_projection", centeredFrobeniusNorm = "centered_frobenius_norm",
             centeredFrobeniusNormStandardError = "centered_frobenius_norm_standard_error", lambdaMax = "lambda_max",
             lambdaMaxResidual = "lambda_max_residual", lambdaMaxConverged = "lambda_max_converged", stableRank = "stable_rank",
             stableRankStandardError = "stable_rank_standard_error", forwardAlignment = "forward_alignment",
             backwardAlignment = "backward_alignment"
    }
}

/// The layerwise centered kernel alignments A_l of Lou et al. (eq. 6–7) with stable ranks and
/// the layer of peak alignment.
public struct AlignResult: Encodable, Sendable {
    /// "exact" or "hutchinson".
    public var method: String
    public var methodDetail: String
    public var convention = "K_l = (1/T) J_l J_lᵀ over (sample, output) pairs (TC × TC, index t·C + k); Y ∈ R^(TC) the targets in the same order (one-hot rows for labels), Y Yᵀ rank one; C = I − 11ᵀ/(TC) centers all TC entries (Lou et al. eq. 6–7); stable rank of the centered kernel C K_l C (App. G.1)"
    public var stableRankMethod = "R_l = ‖C K_l C‖²_F / λ_max(C K_l C)², λ_max by thick-restart Lanczos on C K_l C (matrix-free), error from ‖C K_l C‖²_F only"
    public var targets: String
    public var classes: Int?
    /// Hutchinson probes (nil when exact); the same probes are used for every layer, so the
    /// layers' errors are correlated.
    public var probes: Int?
    public var layers: [LayerAlignment]
    /// argmax_l A_l.
    public var peakLayer: Int
    public var peakAlignment: Double
    /// ‖Ỹ‖².
    public var labelNormSquared: Double
    public var lanczosTolerance: Double
    /// Wall-clock timings of the run (also the run record's `timings`).
    public var timings = Timings(totalSeconds: 0, operatorSeconds: 0, operatorApplications: 0)

    private enum CodingKeys: String, CodingKey {
        case method, methodDetail = "method_detail", convention, stableRankMethod = "stable_rank_method", targets, classes,
             probes, layers, peakLayer = "peak_layer", peakAlignment = "peak_alignment", labelNormSquared = "label_norm_squared",
             lanczosTolerance = "lanczos_tolerance"
    }
}

/// Layerwise tangent-kernel alignment (Lou et al. 2022, §2; Baratin et al. 2021): for every layer l,
/// A_l from ``KernelAlignment``, λ_max and the stable rank of C K_l C, and the peak layer, on any
/// ``AlignmentProblem``: an MLP (``Problem``) or a network given as layers (``LayerProblem``,
/// whose layers are its modules that own parameters, named by state-dict prefix). Reusable at
/// training checkpoints: it reads only the problem's current network and its targets.
///
/// Exact path (TC ≤ ``AlignSettings/exactLimit`` and ``AlignmentProblem/exactLayerKernelsUnavailable``
/// nil: no batch statistics, every parameterized layer with a factor): each K_l is formed by
/// ``AlignmentProblem/exactLayerKernels(_:)`` — on an MLP from its forward and backward kernels
/// (eq. 9, ``Problem/layerKernelFactors(layers:visit:)``; C backward passes, then
/// 2 (TC)² M_l + 2 T² M_(l−1) flops per layer), whose own alignments are reported too; on layers
/// site by site (``LayerTangentKernel/layerRows(forms:gather:visit:)``; the eq. 9 alignments are
/// then nil). Otherwise matrix-free (``LayerKernelOperator``, ``LayerGramOperator`` restricted to the layer's block):
/// Ỹᵀ K_l Ỹ from one product (exact), ‖C K_l C‖²_F by Hutchinson (one product per probe). Both
/// paths: λ_max(C K_l C) by Lanczos (k = 1): on the dense rows of C K_l C in the exact path
/// (``DenseRowsOperator``, 2·TC² flops per product), else on the matrix-free operator, typically
/// 30–50 products per layer.
public enum AlignJob {
    public static func run<Problem: AlignmentProblem>(_ problem: Problem, settings: AlignSettings,
                                                      reporter: ProgressReporter? = nil) throws -> AlignResult {
        let start = DispatchTime.now().uptimeNanoseconds
        let communicationBefore = problem.communicator.statistics
        let communicator = problem.communicator
        let layerList = problem.alignmentLayers
        let L = layerList.count, C = problem.alignmentOutputs, N = problem.sampleSpaceDimension, T = problem.totalSamples
        guard settings.probes >= 2 else { throw WispError.invalidConfiguration("\(Setting.alignProbes) must be at least 2 for an error bar (got \(settings.probes))") }
        guard settings.exactLimit >= 0 else { throw WispError.invalidConfiguration("\(Setting.alignExactLimit) must be non-negative (got \(settings.exactLimit))") }
        guard L >= 1 else { throw WispError.invalidConfiguration("the network has no layer with parameters, so there is no layerwise alignment") }
        let targets = try problem.alignmentTargets()
        guard targets.columns == C else {
            throw WispError.badInput("\(targets.source): the targets have \(targets.columns) columns but the network has \(C) outputs")
        }
        let (labels, labelNorm2) = KernelAlignment.centeredLabels(targets, totalEntries: N, communicator: communicator)
        guard labelNorm2 > 0 else {
            throw WispError.invalidConfiguration("\(targets.source): the targets are the same for every sample and output, so the centered labels C Y vanish and the alignment is undefined")
        }
        let unavailable = problem.exactLayerKernelsUnavailable
        let exact = N <= settings.exactLimit && unavailable == nil
        var layers = [LayerAlignment]()
        /// ‖C K_l C‖²_F per layer (standard error 0 when exact).
        var frobeniusSquared = [Estimate]()
        /// λ_max(C K_l C) per layer.
        var top = [Eigenpairs]()
        var opSeconds = 0.0, applications = 0

        if exact {
            // One layer at a time: its rows of K_l (and an MLP's factors), and the gathered labels.
            try communicator.agree {
                let doubles = try problem.exactLayerKernelDoubles()
                try MemoryBudget.require(try MemoryBudget.bytes("the exact layer kernels", doubles, 8),
                                         for: "the exact layer kernels (TC = \(N) ≤ \(Setting.alignExactLimit) \(settings.exactLimit); a lower limit uses the matrix-free path)")
            }
            let rowCounts = (0..<communicator.size).map { communicator.block(of: T, rank: $0).count * C }
            let allLabels = communicator.allgather(labels, counts: rowCounts)
            reporter?.report("forming the \(N) × \(N) kernels of \(L) layers", force: true)
            let first = rowCounts[..<communicator.rank].reduce(0, +)
            let space = VectorSpace(dimension: N, local: first..<(first + rowCounts[communicator.rank]),
                                    communicator: communicator.size > 1 ? communicator : nil)
            var failure: (any Error)? = nil
            try problem.exactLayerKernels { f in
                guard failure == nil else { return }
                let rows = f.rows
                do {
                    let op = TimedOperator(CenteredOperator(DenseRowsOperator(rows: rows, space: space, counts: rowCounts,
                                                                              communicator: communicator)))
                    top.append(try lambdaMax(op, layer: f.layer, depth: L, settings: settings, reporter: reporter))
                    opSeconds += op.seconds
                    applications += op.applications
                } catch {
                    failure = error
                }
                let k = KernelAlignment.dense(rows: rows, columns: N, rowCounts: rowCounts, labels: allLabels, communicator: communicator)
                let fw = f.forward.map { KernelAlignment.dense(rows: $0(), columns: N, rowCounts: rowCounts, labels: allLabels, communicator: communicator) }
                let bw = f.backward.map { KernelAlignment.dense(rows: $0, columns: N, rowCounts: rowCounts, labels: allLabels, communicator: communicator) }
                func a(_ x: (numerator: Double, centeredFrobeniusSquared: Double)) -> Double {
                    KernelAlignment.alignment(numerator: x.numerator, centeredFrobeniusSquared: Estimate(mean: x.centeredFrobeniusSquared, standardError: 0, samples: 1),
                                              labelNormSquared: labelNorm2).mean
                }
                /// A factor's alignment, nil where the factor is the same for every sample
                /// (‖C B C‖_F = 0: the top layer's backward kernel δ_kk' when C = 1), which
                /// centering removes entirely, so that A is 0/0.
                func factor(_ x: (numerator: Double, centeredFrobeniusSquared: Double)?) -> Double? {
                    x.flatMap { $0.centeredFrobeniusSquared > 0 ? a($0) : nil }
                }
                let layer = layerList[f.layer - 1]
                layers.append(LayerAlignment(layer: f.layer, name: layer.name, parameters: layer.parameters, alignment: a(k),
                                             alignmentStandardError: 0, labelProjection: k.numerator,
                                             centeredFrobeniusNorm: k.centeredFrobeniusSquared.squareRoot(),
                                             centeredFrobeniusNormStandardError: 0, lambdaMax: 0, lambdaMaxResidual: 0,
                                             lambdaMaxConverged: false, stableRank: 0, stableRankStandardError: 0,
                                             forwardAlignment: factor(fw), backwardAlignment: factor(bw)))
                frobeniusSquared.append(Estimate(mean: k.centeredFrobeniusSquared, standardError: 0, samples: 1))
            }
            if let failure { throw failure }
        } else {
            for l in 1...L {
                let op = TimedOperator(try problem.makeAlignmentOperator(layer: l))
                let numerator = KernelAlignment.labelProjection(op, labels: labels)
                let d = try KernelAlignment.centeredFrobeniusSquared(op, probes: settings.probes, seed: settings.seed) { done in
                    reporter?.report("layer \(l)/\(L): probe \(done)/\(settings.probes)")
                }
                let a = KernelAlignment.alignment(numerator: numerator, centeredFrobeniusSquared: d, labelNormSquared: labelNorm2)
                let norm = d.mean.squareRoot()
                layers.append(LayerAlignment(layer: l, name: layerList[l - 1].name, parameters: layerList[l - 1].parameters, alignment: a.mean,
                                             alignmentStandardError: a.standardError, labelProjection: numerator,
                                             centeredFrobeniusNorm: norm,
                                             centeredFrobeniusNormStandardError: norm > 0 ? d.standardError / (2 * norm) : 0,
                                             lambdaMax: 0, lambdaMaxResidual: 0, lambdaMaxConverged: false,
                                             stableRank: 0, stableRankStandardError: 0,
                                             forwardAlignment: nil, backwardAlignment: nil))
                frobeniusSquared.append(d)
                let centered = TimedOperator(CenteredOperator(op))
                top.append(try lambdaMax(centered, layer: l, depth: L, settings: settings, reporter: reporter))
                opSeconds += op.seconds
                applications += op.applications
            }
        }

        // The stable ranks.
        for i in layers.indices {
            let pairs = top[i]
            let lambda = pairs.values[0]
            let (d, dError) = (frobeniusSquared[i].mean, frobeniusSquared[i].standardError)
            layers[i].lambdaMax = lambda
            layers[i].lambdaMaxResidual = pairs.residuals[0]
            layers[i].lambdaMaxConverged = pairs.converged[0]
            layers[i].stableRank = lambda > 0 ? d / (lambda * lambda) : .nan
            layers[i].stableRankStandardError = lambda > 0 ? dError / (lambda * lambda) : .nan
        }

        let peak = layers.filter { $0.alignment.isFinite }.max { $0.alignment < $1.alignment }
        var result = AlignResult(
            method: exact ? "exact" : "hutchinson",
            methodDetail: exact
                ? "exact: K_l formed densely \(layerList.first?.name == nil ? "from the forward and backward kernels of Lou et al. eq. 9" : "from per-layer factors (per-sample gradients or position-pair Grams)") (TC = \(N) ≤ \(Setting.alignExactLimit) \(settings.exactLimit))"
                : "Ỹᵀ K_l Ỹ exact (one product K_l Ỹ); ‖C K_l C‖²_F = E‖C K_l C r‖² over \(settings.probes) Rademacher probes (the same probes for every layer), standard errors propagated to A_l by the delta method (first order: se(A) = A·se(D)/(2D))"
                    + (N > settings.exactLimit ? " (TC = \(N) > \(Setting.alignExactLimit) \(settings.exactLimit))" : "; \(unavailable ?? "")"),
            targets: targets.source, classes: targets.classes, probes: exact ? nil : settings.probes, layers: layers,
            peakLayer: peak?.layer ?? 0, peakAlignment: peak?.alignment ?? .nan, labelNormSquared: labelNorm2,
            lanczosTolerance: settings.tolerance)
        if exact { result.stableRankMethod = result.stableRankMethod.replacingOccurrences(of: "(matrix-free)", with: "(on the dense C K_l C, rows distributed like sample-space vectors)") }
        let total = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        let communication = (problem.communicator.statistics - communicationBefore).seconds
        result.timings = Timings(totalSeconds: total, operatorSeconds: opSeconds, operatorApplications: applications,
                                 communicationSeconds: communication)
        return result
    }

    /// λ_max(C K_l C) by thick-restart Lanczos (k = 1), residual recomputed.
    static func lambdaMax(_ op: any LinearOperator, layer l: Int, depth L: Int, settings: AlignSettings,
                          reporter: ProgressReporter?) throws -> Eigenpairs {
        try Lanczos.solve(op, settings: LanczosSettings(count: 1, tolerance: settings.tolerance, seed: settings.seed)) { p in
            reporter?.report(String(format: "layer %d/%d: λ_max applications %d, relative residual %.2e", l, L, p.operatorApplications,
                                    p.worstRelativeResidual))
        }
    }
}
