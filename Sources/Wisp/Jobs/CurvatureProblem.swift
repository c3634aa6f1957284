/// What the matrix-free solvers' jobs (``TopJob``, ``DensityJob``, ``KPMDensityJob``) need of a
/// problem: the operator of a curvature matrix over this process's samples, the sizes, the loss
/// that G, H and S belong to, and an exact tr F where one is cheap — on top of the exact
/// sample-space path's needs (``ExactSampleSpaceProblem``). ``Problem`` (MLPs) and
/// ``LayerProblem`` (networks given as layers) conform, so every job runs on either; the jobs
/// see a network only through the operators it makes.
public protocol CurvatureProblem: ExactSampleSpaceProblem {
    /// The operator of `matrix` (F, K, G, H or S; ``CurvatureMatrix``) on this process's samples.
    /// Cost: one JVP + VJP pass over them per application (H and S: plus the R-operator).
    func makeOperator(_ matrix: CurvatureMatrix) throws -> any LinearOperator
    /// The loss of G, H and S (mse when none was given: then G = F).
    var matrixLoss: Loss { get }
    /// Exact tr F = tr K when it costs at most `products` operator applications (nil: none that
    /// cheap). Collective.
    func exactFisherTrace(withinProducts products: Int) -> Double?
    /// Operator applications the exact sample-space K costs when it is formed column by column
    /// (TC, batch statistics coupling the samples), or 0 when it is formed from factors.
    var exactFormProducts: Int { get }
}

extension Problem: CurvatureProblem {
    public var matrixLoss: Loss { configuration.loss }
    public var exactFormProducts: Int { exactMomentsCost }

    /// From the per-sample gradient norms (no products), or, when batch statistics couple the
    /// samples, the diagonal of K formed column by column (TC products).
    public func exactFisherTrace(withinProducts products: Int) -> Double? {
        exactMomentsCost <= products ? exactTrace() : nil
    }
}

extension LayerProblem: CurvatureProblem {
    public var matrixLoss: Loss { loss ?? .mse }
    public var exactFormProducts: Int { exactKernel.columns ? sampleSpaceDimension : 0 }

    /// tr F = tr K = (1/T) Σ_(t,k) ‖∇θ f_k(x_t)‖²: from the per-sample gradient norms of the
    /// factor walk (``LayerTangentKernel/localTrace()``: one forward and C backward passes, about
    /// (C + 1)/3 products, so allowed when C + 1 ≤ `products`), or, when a layer couples samples
    /// (batch norm), from the diagonal of K formed column by column (TC products, allowed when
    /// TC ≤ `products`). Nil when neither applies within `products` or the trace is not finite.
    /// Collective.
    public func exactFisherTrace(withinProducts products: Int) -> Double? {
        guard exactKernel.reason == nil else { return nil }
        let cost = exactKernel.columns ? sampleSpaceDimension : outputCount + 1
        guard cost <= products, (try? prepareExact()) != nil else { return nil }
        let trace = exactKernel.trace() / Double(totalSamples)
        return trace.isFinite ? trace : nil
    }
}
