/// The exact sample-space path of a network given as layers, erased over the precision: the
/// parameterized layers (``LayerKernelSite``) for the cost model, and this process's rows of
/// J Jᵀ from ``LayerTangentKernel`` (collective: the factors are gathered from every process).
/// Holds the network; its inputs are copied only while forming.
///
/// When the factor walk refuses a layer that couples samples (``BatchNorm`` with batch
/// statistics: J's rows no longer factor per sample), K is formed column by column from the
/// matrix-free ``LayerGramOperator`` instead (``columns``):
///
///     J Jᵀ e_j = T · K e_j,   j = 0 … TC−1,
///
/// each process keeping its rows of every column (K is symmetric, so its block of K e_j is
/// column j of its rows): TC operator applications, i.e. TC·(flops of one J v + Jᵀ u over T
/// samples) and TC allreduces of P doubles; memory its n·C × TC rows and the operator's P
/// doubles. Per-layer blocks K_l have no column form here (``layerReason``).
struct LayerExactKernel {
    /// The parameterized layers, or nil when a layer has no exact factor.
    let sites: [LayerKernelSite]?
    /// Why there is no exact K at all (nil: the factor walk or the column fallback forms it).
    let reason: String?
    /// Why there are no exact per-layer blocks K_l (the factor walk's refusal; nil: there are).
    let layerReason: String?
    /// Whether K is formed column by column from the operator (the factor walk refused a layer
    /// coupling samples), with the walk's refusal in ``layerReason``.
    let columns: Bool
    /// Bytes of one scalar of the passes (the stacked signals and layer inputs are kept in that precision).
    let scalarBytes: Int
    /// Every layer's input per sample, kept by the walk while forming.
    let inputScalarsPerSample: Int
    private let formRows: (_ forms: [LayerKernelForm]?) -> [Double]
    private let formLayerRows: (_ forms: [LayerKernelForm]?, _ visit: (Int, [Double]) -> Void) -> Void
    private let formTrace: () -> Double

    init<S: BLASScalar>(network: LayerSequence<S>, totalSamples total: Int, communicator: any Communicator) {
        scalarBytes = MemoryLayout<S>.size
        do {
            let kernel = try LayerTangentKernel(network: network)
            sites = kernel.sites
            inputScalarsPerSample = kernel.inputScalarsPerSample
            (reason, layerReason, columns) = (nil, nil, false)
            let gather = { (local: [Double], rowsPerSample: Int, columns: Int) -> [Double] in
                let counts = (0..<communicator.size).map { communicator.block(of: total, rank: $0).count * rowsPerSample * columns }
                return communicator.allgather(local, counts: counts)
            }
            formRows = { forms in kernel.rows(forms: forms, gather: gather) }
            formLayerRows = { forms, visit in kernel.layerRows(forms: forms, gather: gather, visit: visit) }
            formTrace = { communicator.sum(kernel.localTrace()) }
        } catch {
            let why = (error as? WispError).map { "\($0)" } ?? "\(error)"
            sites = nil
            inputScalarsPerSample = 0
            layerReason = why
            formLayerRows = { _, _ in }
            if network.couplesSamples {
                (reason, columns) = (nil, true)
                let samples = communicator.block(of: total)
                formRows = { _ in Self.columnRows(network: network, samples: samples, totalSamples: total, communicator: communicator, diagonalOnly: false) }
                formTrace = {
                    communicator.sum(Self.columnRows(network: network, samples: samples, totalSamples: total, communicator: communicator,
                                                     diagonalOnly: true).reduce(0, +))
                }
            } else {
                (reason, columns) = (why, false)
                formRows = { _ in [] }
                formTrace = { .nan }
            }
        }
    }

    /// This process's rows of J Jᵀ (each layer in its cheaper form unless `forms` is given; by
    /// columns of the operator when ``columns``).
    func rows(forms: [LayerKernelForm]? = nil) -> [Double] { formRows(forms) }

    /// tr(J Jᵀ) over every process's samples (collective): from the per-sample gradient norms
    /// (``LayerTangentKernel/localTrace()``: one forward and C backward passes, no Gram), or by
    /// columns its diagonal (TC operator applications).
    func trace() -> Double { formTrace() }

    /// This process's rows of J Jᵀ = T·K, (n·C) × TC, as T·K e_j for every j from
    /// ``LayerGramOperator`` (or only its entries on the diagonal, n·C of them, with
    /// `diagonalOnly`). Collective: every process applies the operator TC times.
    private static func columnRows<S: BLASScalar>(network: LayerSequence<S>, samples: Range<Int>, totalSamples T: Int,
                                                  communicator: any Communicator, diagonalOnly: Bool) -> [Double] {
        LayerGramOperator(network: network, samples: samples, totalSamples: T, communicator: communicator)
            .formedRows(scale: Double(T), diagonalOnly: diagonalOnly)
    }

    /// This process's rows of each site's J_l J_lᵀ, site by site (``LayerTangentKernel/layerRows(forms:gather:visit:)``).
    func layerRows(forms: [LayerKernelForm]? = nil, visit: (Int, [Double]) -> Void) { formLayerRows(forms, visit) }
}

/// `--method exact` on a network given as layers (fisher, ntk, and ggn as B K B with
/// B = H_ℓ^(1/2), ``SampleSpaceRows/sandwich(_:loss:totalSamples:outputs:communicator:)``): K = (1/T) J Jᵀ formed from the per-layer
/// factors of ``LayerTangentKernel`` (the dense layers' Hadamard form, each convolution's
/// cheaper form by flop count, layer norms' per-sample gradients), or, when a layer couples
/// samples (batch norm), column by column from the matrix-free operator (TC products;
/// ``LayerExactKernel``), solved by the shared path (``ExactSpectrumJob``), residuals checked
/// with the matrix-free ``LayerGramOperator``.
extension LayerProblem: ExactSampleSpaceProblem {
    public var productFlops: Double { flopsPerSample * Double(totalSamples) }

    public func exactUnsupportedReason(_ matrix: CurvatureMatrix) -> String? {
        switch matrix {
        case .fisher, .ntk: return exactKernel.reason
        case .ggn: return exactKernel.reason ?? (loss == nil ? "G needs a loss (\(Setting.loss))" : nil)
        case .hessian, .residual: return ExactSpectrumJob.unsupportedReason(matrix)
        }
    }

    /// Each layer's form in the order of ``exactSites``, as the exact path chooses them.
    public var exactForms: [LayerKernelForm] {
        (exactKernel.sites ?? []).map { $0.cheaperForm(localSamples: totalSamples, totalSamples: totalSamples, outputs: outputCount) }
    }

    /// The parameterized layers the exact path forms a kernel block for (empty when it cannot).
    public var exactSites: [LayerKernelSite] { exactKernel.sites ?? [] }

    /// One forward pass and C backward passes (each about a third of a J v + Jᵀ u product),
    /// plus every layer's cheaper form (``LayerKernelSite/cost(_:localSamples:totalSamples:outputs:)``),
    /// all processes together (the forms' costs are linear in the local samples).
    /// By columns: TC products over all T samples.
    public func exactFormFlops() -> Double {
        let T = totalSamples, C = outputCount
        if exactKernel.columns { return Double(sampleSpaceDimension) * productFlops }
        let passes = Double(C + 1) * productFlops / 3
        return passes + exactSites.reduce(0.0) { sum, site in
            sum + site.cost(site.cheaperForm(localSamples: T, totalSamples: T, outputs: C), localSamples: T, totalSamples: T, outputs: C).flops
        }
    }

    /// This process's rows of K, the stacked signals of every layer (n·C·O·Q scalars each), every
    /// layer's input kept by the walk, and the largest layer's form with its signals in Float64.
    /// By columns: the rows of K and the operator's P doubles (and its sample-space vectors).
    public func exactFormBytesPerProcess() -> Double {
        let n = Double(samples.count), C = Double(outputCount), N = Double(sampleSpaceDimension)
        if exactKernel.columns { return 8 * n * C * N + 8 * Double(parameterCount) * 2 + 8 * 4 * n * C }
        let signals = exactSites.reduce(0.0) { $0 + n * C * Double($1.outChannels * $1.positions) } * Double(exactKernel.scalarBytes)
        let form = exactSites.map { site in
            site.cost(site.cheaperForm(localSamples: totalSamples, totalSamples: totalSamples, outputs: outputCount),
                      localSamples: samples.count, totalSamples: totalSamples, outputs: outputCount).bytes
                + 8 * n * C * Double(site.outChannels * site.positions)   // its signals widened to Float64
        }.max() ?? 0
        let inputs = n * Double(exactKernel.inputScalarsPerSample) * Double(exactKernel.scalarBytes)
        return 8 * n * C * N + signals + inputs + form
    }

    public func exactSampleSpaceRows(_ matrix: CurvatureMatrix) throws -> SampleSpaceRows {
        if let reason = exactUnsupportedReason(matrix) { throw WispError.invalidConfiguration("\(Setting.method) exact: \(reason)") }
        try prepareExact()
        var rows = exactKernel.rows()
        let scale = 1 / Double(totalSamples)
        for i in rows.indices { rows[i] *= scale }
        // Every process learns of a non-finite entry anywhere (the solver after this is collective).
        try communicator.agree {
            if let bad = rows.firstIndex(where: { !$0.isFinite }) {
                let C = outputCount, N = sampleSpaceDimension, row = bad / max(N, 1)
                throw WispError.nonFinite("K[\(samples.lowerBound * C + row), \(bad % max(N, 1))] is \(rows[bad]) (overflow in the layer passes)")
            }
        }
        var formed: SampleSpaceRows
        if exactKernel.columns {
            let N = sampleSpaceDimension
            formed = SampleSpaceRows(rows: rows, described: "K = (1/T) J Jᵀ",
                                     formed: "formed column by column from the matrix-free operator, K e_j for all \(N) columns (TC = \(N) products of J v + Jᵀ u, \(String(format: "%.3g", exactFormFlops())) flops), as no per-layer factor applies: \(exactKernel.layerReason ?? "")")
        } else {
            let forms = zip(exactSites, exactForms).map { "\($0.name) \($0.kind): \($1.rawValue)" }.joined(separator: ", ")
            formed = SampleSpaceRows(rows: rows, described: "K = (1/T) J Jᵀ",
                                     formed: "formed from per-layer factors (\(forms.isEmpty ? "no parameterized layers" : forms))")
        }
        // G of a loss other than mse (whose H_ℓ = I makes G = F): B K B, B = H_ℓ^(1/2).
        if matrix == .ggn, let loss, loss != .mse {
            try formed.sandwich(try outputHessian(), loss: loss, totalSamples: totalSamples, outputs: outputCount, communicator: communicator)
        }
        return formed
    }

    public func sampleSpaceGramOperator() throws -> any LinearOperator { try makeOperator(.ntk) }
}
