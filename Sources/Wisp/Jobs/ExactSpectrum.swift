import Foundation

/// Eigenpairs of F (or K, or G) computed exactly through sample space: the TC × TC matrix is
/// formed and handed to a dense symmetric eigensolver.
///
///     F = (1/T) Jᵀ J  and  K = (1/T) J Jᵀ  have the same nonzero eigenvalues (Karakida et al.
///     eq. S.5); G = (1/T) Jᵀ H_ℓ J has those of B K B, B = H_ℓ^(1/2) (``OutputHessianRoot``).
///
/// K comes from per-layer factors, each process forming its own rows: for MLPs the Gram factors
/// of Lou et al. eq. 9 (``BatchedJacobian/layerKernelFactors(layers:gather:visit:)``, C backward
/// passes and Σ_l 2(TC)² M_l + 2T² M_(l−1) flops; with batch statistics column by column, TC
/// operator applications), for networks given as layers ``LayerTangentKernel`` (dense and
/// convolutional blocks, ``LayerKernelForm``, layer norms; with batch norm column by column,
/// ``LayerExactKernel``). The problem supplies them
/// (``ExactSampleSpaceProblem``).
/// Eigenvectors u are sample-space vectors (index t·C + k); F's are v = Jᵀ u / √(T λ)
/// (``EigenvectorExport``).
public struct ExactSpectrum: Sendable {
    /// The matrix asked for (fisher, ntk or ggn).
    public var matrix: CurvatureMatrix
    /// "K = (1/T) J Jᵀ" or "B K B, B = H_ℓ^(1/2)": the sample-space matrix that was solved.
    public var sampleSpaceMatrix: String
    /// TC.
    public var dimension: Int
    /// The selected eigenvalues, descending.
    public var values: [Double]
    /// This process's rows of the unit eigenvectors u_j (T_block·C × values.count, row-major,
    /// column j ↔ values[j]); empty without vectors.
    public var vectorRows: [Double]
    /// How the matrix was formed and solved.
    public var method: String
    public var formSeconds: Double
    public var solveSeconds: Double
    /// Operator applications spent forming the matrix (TC with batch statistics, else 0).
    public var formApplications: Int
    /// B for G of a non-mse loss (this process's samples), to map u to G's eigenvectors.
    public var root: OutputHessianRoot?
    /// The trace of the solved matrix (all TC diagonal entries, summed over processes).
    public var trace: Double = 0

    /// Column j of ``vectorRows``: this process's part of u_j.
    public func vector(_ j: Int) -> [Double] {
        let m = values.count, rows = vectorRows.count / max(m, 1)
        return (0..<rows).map { vectorRows[$0 * m + j] }
    }
}

/// This process's rows of a sample-space matrix, as a problem forms them for the exact path.
public struct SampleSpaceRows {
    /// (T_block·C) × TC, row-major.
    public var rows: [Double]
    /// The matrix: "K = (1/T) J Jᵀ" or "B K B with B = H_ℓ^(1/2) …".
    public var described: String
    /// How it was formed, for the method string.
    public var formed: String
    /// Operator applications spent forming it (TC when formed column by column, else 0).
    public var formApplications: Int
    /// B for G of a non-mse loss (this process's samples).
    public var root: OutputHessianRoot?

    public init(rows: [Double], described: String, formed: String, formApplications: Int = 0, root: OutputHessianRoot? = nil) {
        (self.rows, self.described, self.formed, self.formApplications, self.root) = (rows, described, formed, formApplications, root)
    }

    /// K's rows turned into those of B K B, B = H_ℓ^(1/2) of `loss` at this process's outputs
    /// (``OutputHessianRoot``; block-diagonal over samples), whose nonzero eigenvalues are G's
    /// (G = (1/T) Jᵀ H_ℓ J = (1/T) (B J)ᵀ (B J)). Collective: gathers every process's blocks
    /// (T·C² doubles). Cost O(T C³) for the roots and O(n_local · TC · C) for the product.
    public mutating func sandwich(_ hessian: OutputHessian, loss: Loss, totalSamples T: Int, outputs C: Int,
                                  communicator c: any Communicator) throws {
        let local = c.block(of: T)
        let mine = try OutputHessianRoot(hessian, rows: local.count)
        let counts = (0..<c.size).map { c.block(of: T, rank: $0).count * C * C }
        let all = OutputHessianRoot(columns: C, blocks: c.allgather(mine.blocks, counts: counts))
        mine.sandwich(&rows, localRows: local.count * C, all: all)
        described = "B K B with B = H_ℓ^(1/2) of the \(loss.rawValue) loss (block-diagonal over samples)"
        root = mine
    }
}

/// What the exact sample-space path (``ExactSpectrumJob``, ``MethodChoice``,
/// ``TopJob/runExact(_:matrix:count:which:tolerance:solver:reporter:)``,
/// ``DensityJob/runExact(_:matrix:grid:solver:reporter:)``) needs of a problem: its sizes, a
/// cost model of forming the TC × TC matrix, this process's rows of it, and the matrix-free
/// operator that checks the residuals. ``Problem`` (MLPs, per-layer Gram factors) and
/// ``LayerProblem`` (networks given as layers, ``LayerTangentKernel``) conform.
public protocol ExactSampleSpaceProblem: AnyObject {
    var communicator: any Communicator { get }
    /// T.
    var totalSamples: Int { get }
    /// C.
    var outputCount: Int { get }
    /// P.
    var parameterCount: Int { get }
    /// TC.
    var sampleSpaceDimension: Int { get }
    /// Flops of one matrix-free product over all T samples (all processes together).
    var productFlops: Double { get }
    /// Why `matrix` has no exact sample-space form for this problem (nil: it has one).
    func exactUnsupportedReason(_ matrix: CurvatureMatrix) -> String?
    /// Modelled flops of forming the sample-space matrix (all processes together).
    func exactFormFlops() -> Double
    /// Bytes per process that forming it holds at the peak, its rows included (not the solver's).
    func exactFormBytesPerProcess() -> Double
    /// This process's rows of the sample-space matrix of `matrix` (collective), handed over.
    func exactSampleSpaceRows(_ matrix: CurvatureMatrix) throws -> SampleSpaceRows
    /// The matrix-free K (sample space, this process's block) for residual checks.
    func sampleSpaceGramOperator() throws -> any LinearOperator
}

public enum ExactSpectrumJob {
    /// Why `matrix` has no exact sample-space form here (nil: it has one).
    public static func unsupportedReason(_ matrix: CurvatureMatrix) -> String? {
        switch matrix {
        case .fisher, .ntk, .ggn: return nil
        case .hessian, .residual:
            return "the loss Hessian H and its residual part S are indefinite parameter-space matrices with no sample-space dual; use the matrix-free Lanczos/SLQ/KPM path"
        }
    }

    /// Bytes per process the exact path holds at its peak: forming the matrix
    /// (``ExactSampleSpaceProblem/exactFormBytesPerProcess()``) plus the eigensolver's own
    /// (``SymmetricEigensolver/bytesPerProcess(dimension:vectors:processes:)``).
    public static func bytesPerProcess(_ problem: some ExactSampleSpaceProblem, vectors: Bool, solver: any SymmetricEigensolver) -> Double {
        problem.exactFormBytesPerProcess()
            + solver.bytesPerProcess(dimension: problem.sampleSpaceDimension, vectors: vectors, processes: problem.communicator.size)
    }

    /// Flops of the exact path (all processes together): forming the matrix and the solve.
    /// The dense solve's reduction to tridiagonal form runs at BLAS-2 speed for half its flops,
    /// so it is weighted ×3 against GEMM flops when methods are compared.
    public static func flops(_ problem: some ExactSampleSpaceProblem, selection: EigenSelection, vectors: Bool) -> (form: Double, solve: Double) {
        let n = Double(problem.sampleSpaceDimension)
        var solve = 4.0 / 3.0 * n * n * n
        if vectors {
            switch selection {
            case .all: solve += 4 * n * n * n
            case .indices(let r): solve += 2 * n * n * Double(r.count)
            }
        }
        return (problem.exactFormFlops(), solve)
    }

    /// Refuses, before anything is formed, an exact path that does not fit in memory, naming the
    /// bytes needed and available.
    public static func ensureFits(_ problem: some ExactSampleSpaceProblem, vectors: Bool, solver: any SymmetricEigensolver) throws {
        let bytes = bytesPerProcess(problem, vectors: vectors, solver: solver)
        if let available = ResourceUsage.availableBytes(), bytes > 0.8 * Double(available) {
            let n = problem.sampleSpaceDimension
            throw WispError.invalidConfiguration(String(
                format: "\(Setting.method) exact: the %d × %d sample-space matrix needs %.2f GB per process but only %.2f GB are available; use more processes, or \(Setting.method) lanczos (top) / slq (density)",
                n, n, bytes / 1e9, Double(available) / 1e9))
        }
    }

    /// The eigenpairs `selection` (ascending indices into the TC eigenvalues) of the sample-space
    /// matrix of `matrix`, descending. Collective.
    public static func run(_ problem: some ExactSampleSpaceProblem, matrix: CurvatureMatrix, selection: EigenSelection, vectors: Bool,
                           solver: any SymmetricEigensolver, reporter: ProgressReporter? = nil) throws -> ExactSpectrum {
        if let reason = unsupportedReason(matrix) ?? problem.exactUnsupportedReason(matrix) {
            throw WispError.invalidConfiguration("\(Setting.method) exact: \(reason)")
        }
        try problem.communicator.agree { try ensureFits(problem, vectors: vectors, solver: solver) }
        let n = problem.sampleSpaceDimension
        reporter?.report("forming the \(n) × \(n) sample-space matrix", force: true)
        let formStart = DispatchTime.now().uptimeNanoseconds
        var formed = try problem.exactSampleSpaceRows(matrix)
        let formSeconds = Double(DispatchTime.now().uptimeNanoseconds - formStart) * 1e-9
        reporter?.report(String(format: "formed in %.2f s; eigensolve of size %d", formSeconds, n), force: true)
        return try solve(&formed, of: problem, matrix: matrix, selection: selection, vectors: vectors, solver: solver, formSeconds: formSeconds)
    }

    /// The eigenpairs `selection` of a sample-space matrix already formed (``ExactSampleSpaceProblem/exactSampleSpaceRows(_:)``),
    /// for callers that used its rows first (``MomentsJob`` takes tr and ‖·‖²_F from them); the
    /// solver consumes `formed`'s rows. Collective. Cost: the dense solve only.
    public static func solve(_ formed: inout SampleSpaceRows, of problem: some ExactSampleSpaceProblem, matrix: CurvatureMatrix,
                             selection: EigenSelection, vectors: Bool, solver: any SymmetricEigensolver,
                             formSeconds: Double) throws -> ExactSpectrum {
        let n = problem.sampleSpaceDimension, C = problem.outputCount
        let c = problem.communicator
        let local = c.block(of: problem.totalSamples)
        let localRows = (local.lowerBound * C)..<(local.upperBound * C)
        // tr of the solved matrix (semidefinite: it bounds its norm), before the solver consumes the rows.
        let trace = c.sum((0..<localRows.count).reduce(0.0) { $0 + formed.rows[$1 * n + localRows.lowerBound + $1] })
        let solveStart = DispatchTime.now().uptimeNanoseconds
        let pairs = try solver.solve(rows: &formed.rows, local: localRows, dimension: n, selection: selection, vectors: vectors)
        let solveSeconds = Double(DispatchTime.now().uptimeNanoseconds - solveStart) * 1e-9
        // Descending order, vectors' columns with them.
        let m = pairs.values.count
        let values = Array(pairs.values.reversed())
        var vectorRows = [Double]()
        if vectors && m > 0 {
            let r = pairs.vectorRows.count / m
            vectorRows = [Double](repeating: 0, count: r * m)
            for i in 0..<r { for j in 0..<m { vectorRows[i * m + j] = pairs.vectorRows[i * m + (m - 1 - j)] } }
        }
        var spectrum = ExactSpectrum(matrix: matrix, sampleSpaceMatrix: formed.described, dimension: n, values: values, vectorRows: vectorRows,
                                     method: "exact: \(formed.described) \(formed.formed), \(pairs.method)", formSeconds: formSeconds,
                                     solveSeconds: solveSeconds, formApplications: formed.formApplications, root: formed.root)
        spectrum.trace = trace
        return spectrum
    }

    /// The matrix-free sample-space operator whose eigenpairs the exact path computed (K, or
    /// B K B for G), for checking residuals of the reported pairs.
    public static func sampleSpaceOperator(_ problem: some ExactSampleSpaceProblem, spectrum: ExactSpectrum) throws -> any LinearOperator {
        let k = try problem.sampleSpaceGramOperator()
        if let root = spectrum.root { return SandwichedOperator(k, root: root) }
        return k
    }

    /// ‖A u_j − λ_j u_j‖ for the pairs (values[j], vectors[j]) with the matrix-free operator A of
    /// ``sampleSpaceOperator(_:spectrum:)`` (one application each; vectors are this process's
    /// parts). Collective.
    public static func residuals(_ op: any LinearOperator, values: [Double], vectors: [[Double]],
                                 reporter: ProgressReporter? = nil) -> [Double] {
        let n = op.space.localDimension
        var y = [Double](repeating: 0, count: max(n, 1))
        let start = DispatchTime.now().uptimeNanoseconds
        return values.indices.map { j in
            if j > 0 {
                let perPair = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9 / Double(j)
                reporter?.report("residual check \(j + 1)/\(values.count) (one matrix-free product each)", eta: perPair * Double(values.count - j))
            }
            let u = vectors[j] + (n == 0 ? [0] : [])
            u.withUnsafeBufferPointer { up in y.withUnsafeMutableBufferPointer { op.apply(up.baseAddress!, into: $0.baseAddress!) } }
            var local = 0.0
            for i in 0..<n { let d = y[i] - values[j] * u[i]; local += d * d }
            return (op.space.communicator?.sum(local) ?? local).squareRoot()
        }
    }
}

/// The MLP path's exact sample-space matrix: K from the per-layer Gram factors (column by column
/// under batch statistics), B K B for G of a non-mse loss.
extension Problem: ExactSampleSpaceProblem {
    public var outputCount: Int { architecture.outputs }
    public var productFlops: Double { flopsPerProduct }

    public func exactUnsupportedReason(_ matrix: CurvatureMatrix) -> String? { nil }

    /// C backward passes (a quarter of a JVP + VJP product each) and the Gram GEMMs
    /// Σ_l 2(TC)² M_l + 2T² M_(l−1); TC products under batch statistics.
    public func exactFormFlops() -> Double {
        let a = architecture
        let T = Double(totalSamples), C = Double(a.outputs), n = T * C
        if a.normalization.couplesSamples { return n * flopsPerProduct }
        var grams = 0.0
        for l in 1...a.depth { grams += 2 * n * n * Double(a.widths[l]) + 2 * T * T * Double(a.widths[l - 1]) }
        return C * flopsPerProduct / 4 + grams
    }

    /// This process's rows of the TC × TC matrix, the stacked backward signals of one layer
    /// (TC·M_l) and its two Gram factors.
    public func exactFormBytesPerProcess() -> Double {
        let n = Double(sampleSpaceDimension), p = Double(communicator.size)
        let T = Double(totalSamples)
        let localRows = n / p
        let widest = Double(architecture.widths.max() ?? 0)
        let factors = (localRows * n + T * T / p) + 2 * n * widest
        return 8 * (localRows * n + factors)
    }

    public func exactSampleSpaceRows(_ matrix: CurvatureMatrix) throws -> SampleSpaceRows {
        let c = communicator, C = architecture.outputs
        let coupled = architecture.normalization.couplesSamples
        var formed = SampleSpaceRows(rows: takeGramRows(), described: "K = (1/T) J Jᵀ",
                                     formed: coupled ? "formed column by column (K e_i, batch statistics couple the samples)" : "formed from per-layer Gram factors (Lou et al. eq. 9)",
                                     formApplications: coupled ? sampleSpaceDimension : 0)
        if matrix == .ggn && configuration.loss != .mse {
            try formed.sandwich(try lossEvaluation().outputHessian, loss: configuration.loss, totalSamples: totalSamples, outputs: C,
                                communicator: c)
        }
        return formed
    }

    public func sampleSpaceGramOperator() throws -> any LinearOperator { try makeOperator(.ntk) }
}
