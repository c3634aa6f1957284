/// The exact sample-space path of a network given as layers, erased over the precision: the
/// parameterized layers (``LayerKernelSite``) for the cost model, and this process's rows of
/// J Jᵀ from ``LayerTangentKernel`` (collective: the factors are gathered from every process).
/// Holds the network; its inputs are copied only while forming.
struct LayerExactKernel {
    /// The parameterized layers, or nil with `reason` when a layer has no exact factor.
    let sites: [LayerKernelSite]?
    let reason: String?
    /// Bytes of one scalar of the passes (the stacked signals and layer inputs are kept in that precision).
    let scalarBytes: Int
    /// Every layer's input per sample, kept by the walk while forming.
    let inputScalarsPerSample: Int
    private let formRows: (_ forms: [LayerKernelForm]?) -> [Double]
    private let formLayerRows: (_ forms: [LayerKernelForm]?, _ visit: (Int, [Double]) -> Void) -> Void

    init<S: BLASScalar>(network: LayerSequence<S>, totalSamples total: Int, communicator: any Communicator) {
        scalarBytes = MemoryLayout<S>.size
        do {
            let kernel = try LayerTangentKernel(network: network)
            sites = kernel.sites
            inputScalarsPerSample = kernel.inputScalarsPerSample
            reason = nil
            let gather = { (local: [Double], rowsPerSample: Int, columns: Int) -> [Double] in
                let counts = (0..<communicator.size).map { communicator.block(of: total, rank: $0).count * rowsPerSample * columns }
                return communicator.allgather(local, counts: counts)
            }
            formRows = { forms in kernel.rows(forms: forms, gather: gather) }
            formLayerRows = { forms, visit in kernel.layerRows(forms: forms, gather: gather, visit: visit) }
        } catch {
            sites = nil
            inputScalarsPerSample = 0
            reason = (error as? WispError).map { "\($0)" } ?? "\(error)"
            formRows = { _ in [] }
            formLayerRows = { _, _ in }
        }
    }

    /// This process's rows of J Jᵀ (each layer in its cheaper form unless `forms` is given).
    func rows(forms: [LayerKernelForm]? = nil) -> [Double] { formRows(forms) }

    /// This process's rows of each site's J_l J_lᵀ, site by site (``LayerTangentKernel/layerRows(forms:gather:visit:)``).
    func layerRows(forms: [LayerKernelForm]? = nil, visit: (Int, [Double]) -> Void) { formLayerRows(forms, visit) }
}

/// `--method exact` on a network given as layers: K = (1/T) J Jᵀ formed from the per-layer
/// factors of ``LayerTangentKernel`` (the dense layers' Hadamard form, each convolution's
/// cheaper form by flop count), solved by the shared path (``ExactSpectrumJob``), residuals
/// checked with the matrix-free ``LayerGramOperator``.
extension LayerProblem: ExactSampleSpaceProblem {
    public var productFlops: Double { flopsPerSample * Double(totalSamples) }

    public func exactUnsupportedReason(_ matrix: CurvatureMatrix) -> String? {
        switch matrix {
        case .fisher, .ntk: return exactKernel.reason
        case .ggn, .hessian, .residual: return "the exact path on layer networks forms K for fisher and ntk only; \(Setting.matrix) \(matrix.rawValue) runs matrix-free (\(Setting.method) lanczos or slq)"
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
    public func exactFormFlops() -> Double {
        let T = totalSamples, C = outputCount
        let passes = Double(C + 1) * productFlops / 3
        return passes + exactSites.reduce(0.0) { sum, site in
            sum + site.cost(site.cheaperForm(localSamples: T, totalSamples: T, outputs: C), localSamples: T, totalSamples: T, outputs: C).flops
        }
    }

    /// This process's rows of K, the stacked signals of every layer (n·C·O·Q scalars each), every
    /// layer's input kept by the walk, and the largest layer's form with its signals in Float64.
    public func exactFormBytesPerProcess() -> Double {
        let n = Double(samples.count), C = Double(outputCount), N = Double(sampleSpaceDimension)
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
        let forms = zip(exactSites, exactForms).map { "\($0.name) \($0.kind): \($1.rawValue)" }.joined(separator: ", ")
        return SampleSpaceRows(rows: rows, described: "K = (1/T) J Jᵀ",
                               formed: "formed from per-layer factors (\(forms.isEmpty ? "no parameterized layers" : forms))")
    }

    public func sampleSpaceGramOperator() throws -> any LinearOperator { try makeOperator(.ntk) }
}
