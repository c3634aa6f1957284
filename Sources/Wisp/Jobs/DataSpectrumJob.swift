import Foundation

/// How `data-spectrum` computes eigenvalues.
public enum DataSpectrumMethod: String, Codable, Sendable, CaseIterable {
    /// Dense when d ≤ the dense limit, else Lanczos.
    case auto
    /// All d eigenvalues by LAPACK `dsyevd` on the d × d matrix.
    case dense
    /// The k largest by thick-restart Lanczos on the distributed operator.
    case lanczos
}

/// Settings of ``DataSpectrumJob``.
public struct DataSpectrumSettings: Codable, Sendable {
    public var method: DataSpectrumMethod = .auto
    /// `auto` uses the dense method up to this d (d² doubles per matrix, O(d³) flops).
    public var denseLimit: Int = 2048
    /// Eigenvalues wanted from Lanczos.
    public var count: Int = 10
    public var tolerance: Double = 1e-10
    public var seed: UInt64 = 0

    public init(method: DataSpectrumMethod = .auto, denseLimit: Int = 2048, count: Int = 10, tolerance: Double = 1e-10, seed: UInt64 = 0) {
        self.method = method
        self.denseLimit = denseLimit
        self.count = count
        self.tolerance = tolerance
        self.seed = seed
    }

    private enum CodingKeys: String, CodingKey { case method, denseLimit = "dense_limit", count = "k", tolerance, seed }
}

/// The spectrum of one d × d data matrix.
public struct MatrixSpectrum: Encodable, Sendable {
    /// Which matrix, as a formula.
    public var matrix: String
    public var method: String
    /// Descending: all d (dense) or the k largest (Lanczos).
    public var eigenvalues: [Double]
    /// ‖A y − θ y‖ per Lanczos pair (nil for the dense method, whose backward error is ~ε‖A‖).
    public var residuals: [Double]?
    public var converged: [Bool]?
    public var operatorApplications: Int?
    /// The exact trace (Σ of all d eigenvalues), computed directly from the data.
    public var trace: Double

    private enum CodingKeys: String, CodingKey {
        case matrix, method, eigenvalues, residuals, converged, operatorApplications = "operator_applications", trace
    }
}

/// The eigenvalues of the inputs' second-moment and covariance matrices.
public struct DataSpectrumResult: Encodable, Sendable {
    /// (1/T) XᵀX (d × d): its nonzero eigenvalues are those of the T × T Gram matrix (1/T) X Xᵀ,
    /// which has max(T − d, 0) further zeros.
    public var correlation: MatrixSpectrum
    /// (1/T)(X − 1μᵀ)ᵀ(X − 1μᵀ), μ = (1/T) Xᵀ1: the population covariance.
    public var covariance: MatrixSpectrum
    public var normalization = "1/T: for a linear model f(x) = wᵀx, Wisp's F = (1/T) JᵀJ is exactly the correlation matrix here, so both spectra share the FIM's scale; the unnormalized X Xᵀ of Cowlagi & Chaudhari is T times it"
    public var dimension: Int
    public var gramZeroEigenvalues: Int
    public var inputFormat: String
    public var imageShape: [Int]?
    public var preprocessing: Preprocessing.Summary

    private enum CodingKeys: String, CodingKey {
        case correlation, covariance, normalization, dimension, gramZeroEigenvalues = "gram_zero_eigenvalues",
             inputFormat = "input_format", imageShape = "image_shape", preprocessing
    }
}

/// `wisp data-spectrum`: the eigenvalues of the correlation (second-moment) matrix
/// (1/T) XᵀX and of the covariance (1/T)(X − 1μᵀ)ᵀ(X − 1μᵀ) of the inputs, as Cowlagi &
/// Chaudhari compare with the FIM spectrum (their X Xᵀ, normalized by 1/T like F).
///
/// Dense: each process forms X_bᵀX_b (and X_cbᵀX_cb of its centered rows) with `dsyrk`
/// (T_b d² flops each), one allreduce of d² doubles per matrix (plus d for μ), then `dsyevd`
/// (O(d³)) on every process. Lanczos: ``DataCovarianceOperator`` (2 GEMVs and one allreduce of
/// d + 1 doubles per product) under ``Lanczos/solve(_:settings:checkpoint:progress:)``.
public enum DataSpectrumJob {
    public static func run(_ data: LoadedData, settings: DataSpectrumSettings, communicator: any Communicator,
                           reporter: ProgressReporter? = nil) throws -> (DataSpectrumResult, Timings) {
        let start = DispatchTime.now().uptimeNanoseconds
        let before = communicator.statistics
        let x = data.dataset
        let d = x.dimension, rows = x.samples.count, T = Double(x.totalSamples)
        guard settings.denseLimit >= 0 else { throw WispError.invalidConfiguration("\(Setting.dataSpectrumDenseLimit) must be non-negative") }
        let dense: Bool
        switch settings.method {
        case .auto: dense = d <= settings.denseLimit
        case .dense: dense = true
        case .lanczos: dense = false
        }
        if !dense {
            guard settings.count >= 1, settings.count <= d else {
                throw WispError.invalidConfiguration("\(Setting.dataSpectrumCount) must be between 1 and d = \(d) (got \(settings.count))")
            }
        }
        // The dense path holds X_bᵀX_b and dsyevd's copy and workspace (≈ 3 d² doubles); agreed,
        // since the memory available differs between nodes.
        try communicator.agree {
            if dense {
                try MemoryBudget.allocation("the dense \(d) × \(d) correlation matrix (d ≤ \(Setting.dataSpectrumDenseLimit) \(settings.denseLimit))",
                                            count: try MemoryBudget.count("the dense correlation matrix", 3, d, d))
            } else {
                try RunMemory.checkBasis(vectors: min(d, max(2 * settings.count + 20, 40)) + 1 + settings.count, length: d,
                                         what: "the Lanczos basis")
            }
        }

        // μ = (1/T) Xᵀ1 and tr (1/T) XᵀX = (1/T) Σ ‖x_t‖²: one allreduce of d + 1 doubles.
        var sums = [Double](repeating: 0, count: d + 1)
        if rows > 0 {
            let ones = [Double](repeating: 1, count: rows)
            x.values.withUnsafeBufferPointer { xp in
                sums.withUnsafeMutableBufferPointer { sp in
                    Double.gemv(trans: true, m: rows, n: d, alpha: 1 / T, a: xp.baseAddress!, lda: d, x: ones, beta: 0, y: sp.baseAddress!)
                    sp[d] = Double.dot(n: xp.count, x: xp.baseAddress!, y: xp.baseAddress!) / T
                }
            }
        }
        sums.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
        let mean = Array(sums[0..<d]), trace = sums[d]
        // tr of the covariance, (1/T) Σ ‖x_t − μ‖², from the deviations (no cancellation).
        var deviation = 0.0
        for t in 0..<rows {
            var row = 0.0   // per-row partial sums keep the running sums short
            for j in 0..<d { let e = x.values[t * d + j] - mean[j]; row += e * e }
            deviation += row
        }
        let centeredTrace = communicator.sum(deviation / T)

        let correlationFormula = "(1/T) XᵀX (d × d; nonzero eigenvalues = those of (1/T) X Xᵀ)"
        let covarianceFormula = "(1/T) (X − 1μᵀ)ᵀ(X − 1μᵀ), μ = (1/T) Xᵀ1"
        let correlation: MatrixSpectrum, covariance: MatrixSpectrum
        var applications = 0, operatorSeconds = 0.0
        if dense {
            let method = "dense: allreduce of X_bᵀX_b over the sample blocks (dsyrk), LAPACK dsyevd"
            correlation = MatrixSpectrum(matrix: correlationFormula, method: method,
                                         eigenvalues: try denseEigenvalues(x.values, rows: rows, columns: d, mean: nil, totalSamples: T,
                                                                           communicator: communicator),
                                         trace: trace)
            covariance = MatrixSpectrum(matrix: covarianceFormula, method: method,
                                        eigenvalues: try denseEigenvalues(x.values, rows: rows, columns: d, mean: mean, totalSamples: T,
                                                                          communicator: communicator),
                                        trace: centeredTrace)
        } else {
            let lanczos = LanczosSettings(count: settings.count, tolerance: settings.tolerance, seed: settings.seed)
            func solve(_ name: String, _ formula: String, _ mean: [Double]?, _ trace: Double) throws -> MatrixSpectrum {
                let op = TimedOperator(DataCovarianceOperator(dataset: x, mean: mean, communicator: communicator))
                let pairs = try Lanczos.solve(op, settings: lanczos) { p in
                    reporter?.report(String(format: "%@: applications %d/%d, worst relative residual %.2e, λ %.6e", name,
                                            p.operatorApplications, p.budget, p.worstRelativeResidual, p.leadingValue))
                }
                applications += op.applications
                operatorSeconds += op.seconds
                return MatrixSpectrum(matrix: formula, method: "thick-restart Lanczos on the distributed operator (one allreduce of d + 1 doubles per product)",
                                      eigenvalues: pairs.values, residuals: pairs.residuals, converged: pairs.converged,
                                      operatorApplications: pairs.operatorApplications, trace: trace)
            }
            correlation = try solve("correlation", correlationFormula, nil, trace)
            covariance = try solve("covariance", covarianceFormula, mean, centeredTrace)
        }
        let result = DataSpectrumResult(correlation: correlation, covariance: covariance, dimension: d,
                                        gramZeroEigenvalues: max(x.totalSamples - d, 0), inputFormat: data.inputFormat,
                                        imageShape: data.imageShape, preprocessing: data.preprocessing)
        let total = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        return (result, Timings(totalSeconds: total, operatorSeconds: operatorSeconds, operatorApplications: applications,
                                communicationSeconds: (communicator.statistics - before).seconds))
    }

    /// Eigenvalues (descending) of (1/T) Σ_b X_bᵀX_b, or with `mean` of the centered rows
    /// (1/T) Σ_b (X_b − 1μᵀ)ᵀ(X_b − 1μᵀ): `dsyrk` per process (T_b d² flops; centered rows are
    /// formed `chunk` at a time, so no second copy of X), one allreduce of d² doubles, `dsyevd`.
    static func denseEigenvalues(_ x: [Double], rows: Int, columns d: Int, mean: [Double]?, totalSamples T: Double,
                                 communicator: any Communicator) throws -> [Double] {
        var gram = [Double](repeating: 0, count: d * d)
        if let mean {
            let chunk = max(1, min(rows, 1 << 20 / max(d, 1)))
            var block = [Double](repeating: 0, count: chunk * d)
            var first = 0
            while first < rows {
                let n = min(chunk, rows - first)
                for t in 0..<n { for j in 0..<d { block[t * d + j] = x[(first + t) * d + j] - mean[j] } }
                block.withUnsafeBufferPointer { symmetricRankK(n: d, k: n, alpha: 1 / T, a: $0.baseAddress!, beta: 1, c: &gram) }
                first += n
            }
        } else if rows > 0 {
            x.withUnsafeBufferPointer { symmetricRankK(n: d, k: rows, alpha: 1 / T, a: $0.baseAddress!, beta: 0, c: &gram) }
        }
        gram.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
        return try LAPACK.symmetricEigen(gram, n: d).values.reversed()
    }

    /// The eigenvalues as CSV: `index,correlation,covariance`, descending.
    public static func csv(_ r: DataSpectrumResult) -> String {
        var s = "index,correlation,covariance\n"
        for i in 0..<max(r.correlation.eigenvalues.count, r.covariance.eigenvalues.count) {
            let a = i < r.correlation.eigenvalues.count ? "\(r.correlation.eigenvalues[i])" : ""
            let b = i < r.covariance.eigenvalues.count ? "\(r.covariance.eigenvalues[i])" : ""
            s += "\(i + 1),\(a),\(b)\n"
        }
        return s
    }
}
