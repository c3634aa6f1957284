import ArgumentParser
import Foundation
import Wisp

struct Top: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The k largest eigenvalues of F (or K) by thick-restart Lanczos, each with its residual.")

    @OptionGroup var network: NetworkOptions
    @Option(help: "fisher: F = (1/T) JᵀJ in parameter space; ntk: K = (1/T) J Jᵀ in sample space (same nonzero eigenvalues); ggn: G = (1/T) Jᵀ H_ℓ J of --loss; hessian: H = G + S; residual: S = H − G.")
    var matrix: CurvatureMatrix = .fisher
    @Option(name: .customLong("k"), help: "Number of eigenpairs.")
    var k: Int = 1
    @Option(help: "Which eigenvalues: largest, smallest (most negative) or largest-magnitude (for the indefinite hessian and residual).")
    var which: SpectrumEnd = .largest
    @Option(help: "Stop when ‖A y − θ y‖ ≤ tol · |θ| for every pair. Default: 1e-8, or the rounding floor 100·ε of --precision where larger (1.2e-5 in float32); a pair is called converged only if it meets tol.")
    var tol: Double?
    @Option(help: "Lanczos basis size between restarts. Default: max(2k + 20, 40).")
    var basis: Int?
    @Option(name: .customLong("max-applications"), help: "Budget of operator applications. Default: 50 × basis.")
    var maxApplications: Int?
    @Option(name: .customLong("save-eigenvectors"), help: "Write the k eigenvectors of F to this .safetensors file, shaped like the parameters (eigenvector.<i>.<layer>.weight/.bias).")
    var saveEigenvectors: String?
    @Option(help: "auto: the exact sample-space path when the TC × TC matrix fits and its cost model says it is cheaper, else Lanczos (the choice and its reason are recorded); exact: form K (or H_ℓ^½ K H_ℓ^½ for ggn) from per-layer Gram factors and solve with LAPACK; lanczos: matrix-free thick-restart Lanczos.")
    var method: TopMethod = .auto
    @OptionGroup var eigen: EigensolverOptions
    @OptionGroup var checkpointing: CheckpointOptions
    @OptionGroup var out: OutputOptions

    func run() throws {
        let directories = [checkpointing.checkpoint]
        if network.isLayerNetwork {
            let problem = try network.makeLayerProblem(outputs: [out.output], files: [saveEigenvectors], directories: directories, matrix: matrix)
            try solve(problem, NetworkContext(problem, file: network.layerFile, checkpointing: checkpointing), precision: problem.precision)
        } else {
            let problem = try network.makeProblem(outputs: [out.output], files: [saveEigenvectors], directories: directories)
            try solve(problem, NetworkContext(problem, checkpointing: checkpointing), precision: problem.configuration.precision)
        }
    }

    /// The top eigenpairs of `--matrix` on `problem` (an MLP or a layer network): the exact
    /// sample-space path or Lanczos by ``MethodChoice``, Lanczos resumable from a checkpoint,
    /// with `--save-eigenvectors` F's eigenvectors mapped and written (``EigenvectorExport``),
    /// and the theory block where the theory covers the network. Rank 0 writes the record, then
    /// the summary; unconverged pairs are reported with their residuals and then an error.
    func solve(_ problem: some ReducibleProblem, _ context: NetworkContext, precision: Precision) throws {
        let tol = solverTolerance(self.tol, fallback: 1e-8, precision: precision)
        let settings = LanczosSettings(count: k, which: which, tolerance: tol, basisSize: basis, maxApplications: maxApplications,
                                       seed: network.seed)
        if saveEigenvectors != nil { try problem.communicator.agree { try EigenvectorExport.ensureFits(problem, k: k) } }
        let n = problem.sampleSpaceDimension
        let solver = try eigen.solver(dimension: n)
        let restriction = MethodChoice.topRestriction(matrix: self.matrix, which: which, count: k, parameters: problem.parameterCount, dimension: n)
        let basisSize = min(problem.parameterCount, basis ?? max(2 * k + 20, 40))
        let choice = try MethodChoice.choose(problem, matrix: self.matrix, requested: method.rawValue, iterative: "lanczos",
                                             iterativeApplications: 2 * basisSize, selection: .indices(max(n - k, 0)..<n), vectors: true,
                                             solver: solver, exactRestriction: restriction)
        var result: TopResult, timings: Timings
        if choice.isExact {
            (result, timings) = try TopJob.runExact(problem, matrix: self.matrix, count: k, which: which, tolerance: tol, solver: solver,
                                                    reporter: Runtime.progress("top", quiet: out.quiet))
        } else {
            let matrix = saveEigenvectors != nil && EigenvectorExport.usesSampleSpace(matrix: self.matrix, k: k, problem: problem) ? .ntk : self.matrix
            // Tolerance and budget only decide when to stop, so a run may resume with other values.
            let checkpoint = try context.open("top", TopSettings(matrix: self.matrix, method: method, lanczos: settings).resumable(matrix: matrix),
                                              !matrix.isSampleSpace)
            (result, timings) = try TopJob.run(problem, matrix: matrix, settings: settings, checkpoint: checkpoint,
                                               reporter: Runtime.progress("top", quiet: out.quiet))
        }
        result.methodChoice = choice
        let matrix = self.matrix
        if let path = saveEigenvectors {
            result.eigenvectors = try EigenvectorExport.run(problem, top: result, path: path, rule: EigenvectorExport.rule)
        }
        let theory = context.theory?(matrix).comparing(["lambda_max": result.eigenvalues[0]])
        if Runtime.isLead { try report(context, result, TopSettings(matrix: matrix, method: method, lanczos: settings), timings, theory) }
        if !choice.isExact && !result.converged.allSatisfy({ $0 }) {
            let missing = result.converged.filter { !$0 }.count
            if result.atRoundingFloor.contains(true) {
                throw WispError.numerical(String(format: "%d of %d eigenpairs did not reach --tol %g: %d stopped at the rounding floor %.3g of the %@ passes (100·ε·‖A‖); they are reported with their residuals (ask for a larger --tol, or --precision float64)",
                                                 missing, k, tol, result.atRoundingFloor.filter { $0 }.count, result.residualFloor, precision.rawValue))
            }
            throw WispError.numerical("\(missing) of \(k) eigenpairs did not reach --tol \(tol) after \(result.operatorApplications) operator applications (budget \(settings.maxApplications ?? 50 * result.basisSize)); they are reported with their residuals (raise --max-applications or --basis)")
        }
    }

    private func report(_ context: NetworkContext, _ result: TopResult, _ settings: TopSettings, _ timings: Timings, _ theory: TheoryBlock?) throws {
        // The file first, the summary after: a summary that cannot be written never loses it.
        if let path = out.output {
            try RunRecord(command: "top", subject: context.subject, settings: settings, timings: timings, theory: theory, result: result).write(to: path)
        }
        say(context.header)
        if let c = result.methodChoice { say("  method     \(c.method) (\(c.requested == "auto" ? "auto: " : "")\(c.reason))") }
        for (i, (value, residual)) in zip(result.eigenvalues, result.residuals).enumerated() {
            say(String(format: "  λ_%-3d %.10e   residual %.2e%@", i + 1, value, residual,
                       result.converged[i] ? "" : result.atRoundingFloor[i] ? "  (not converged: at the rounding floor)" : "  (not converged)"))
        }
        if let e = result.eigenvectors { say(Summary.eigenvectors(e)) }
        if let theory { say(Summary.theory(theory)) }
        say(Summary.timing(timings))
        if let path = out.output { say("  output     \(path)") }
    }
}

struct Density: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The spectral density of F: exact from the sample-space matrix, or estimated by stochastic Lanczos quadrature or the kernel polynomial method; JSON, CSV and an SVG plot.")

    @OptionGroup var network: NetworkOptions
    @Option(help: "fisher or ntk: the density of F (estimates probe in parameter or sample space; ntk is recommended when P ≫ TC); ggn, hessian, residual: the matrices of --loss (use --grid linear for the indefinite ones).")
    var matrix: CurvatureMatrix = .ntk
    @Option(help: "auto: exact when the TC × TC matrix fits and is cheaper than SLQ (the choice and its reason are recorded), else slq; exact: every eigenvalue from the formed sample-space matrix and LAPACK (written to <output>.eigenvalues.csv); slq: stochastic Lanczos quadrature; kpm: kernel polynomial method (Chebyshev moments, same probes).")
    var method: DensityMethod = .auto
    @Flag(name: .customLong("compare-exact"), help: "With slq or kpm: also compute the exact spectrum and report the estimate's Wasserstein-1 distance and moment errors against it (exact_comparison).")
    var compareExact = false
    @OptionGroup var kpm: KPMOptions
    @OptionGroup var eigen: EigensolverOptions
    @Option(help: "Rademacher probe vectors n_v.")
    var probes: Int = 10
    @Option(help: "Lanczos steps (quadrature nodes) per probe.")
    var steps: Int = 64
    @Option(help: "Grid: log (density per unit log10 λ) or linear (per unit λ).")
    var grid: GridScale = .log
    @Option(name: .customLong("grid-points"), help: "Grid points.")
    var gridPoints: Int = 400
    @Option(help: "Gaussian broadening σ (slq and exact): decades on a log grid, fraction of the span on a linear grid. Default: 0.05 / 0.01.")
    var broadening: Double?
    @OptionGroup var checkpointing: CheckpointOptions
    @OptionGroup var out: OutputOptions

    /// Flag combinations refused before anything is read or built.
    func validate() throws {
        try kpm.validate(method: method, broadening: broadening)
        if compareExact && (method == .exact || method == .auto) {
            throw ValidationError("--compare-exact compares an estimate with the exact spectrum: give --method slq or --method kpm")
        }
    }

    func run() throws {
        let path = out.output ?? "wisp-output/density.json"
        let siblings = ["csv", "svg", "eigenvalues.csv"]
        if network.isLayerNetwork {
            let problem = try network.makeLayerProblem(outputs: [path], siblings: siblings, directories: [checkpointing.checkpoint], matrix: matrix)
            try report(problem, NetworkContext(problem, file: network.layerFile, checkpointing: checkpointing), path: path)
        } else {
            let problem = try network.makeProblem(outputs: [path], siblings: siblings, directories: [checkpointing.checkpoint])
            try report(problem, NetworkContext(problem, checkpointing: checkpointing), path: path)
        }
    }

    /// The estimate (``estimate(_:open:)``) on `problem`, an MLP or a layer network, with the
    /// theory block where the theory covers the network; rank 0 writes the record, CSV and SVG
    /// and prints the summary. Collective.
    func report(_ problem: some CurvatureProblem, _ context: NetworkContext, path: String) throws {
        let (estimate, timings, settings, choice) = try estimate(problem) { try context.open("density", $0, true) }
        let measured: (mean: Double, second: Double, largest: Double?)
        switch estimate {
        case let .quadrature(r): measured = (r.moments[0].exact ?? r.moments[0].estimate, r.moments[1].estimate, choice.isExact ? r.largestNode : nil)
        case let .kpm(r): measured = (r.moments[0].exact ?? r.moments[0].estimate, r.moments[1].estimate, nil)
        }
        let theory = context.theory?(matrix).comparing([
            "mean_eigenvalue": measured.mean, "second_moment": measured.second,
        ].merging(measured.largest.map { ["lambda_max": $0] } ?? [:]) { a, _ in a })
        guard Runtime.isLead else { return }
        let markers = theory?.predictions["lambda_max"].map { [("λ_max theory", $0)] } ?? []
        say(context.header)
        switch estimate {
        case let .quadrature(result):
            let written = try DensityOutput.write(result, timings: timings, subject: context.subject, network: context.caption, jsonPath: path,
                                                  command: "density", settings: settings, theory: theory, markers: markers)
            say("  method     \(choice.method) (\(choice.requested == "auto" ? "auto: " : "")\(choice.reason))")
            say(Summary.density(written))
            if let c = written.comparison { say(Summary.comparison(c)) }
            if let theory { say(Summary.theory(theory)) }
            say(Summary.timing(timings))
            say("  output     \([path, written.csv, written.svg, written.eigenvaluesFile].compactMap { $0 }.joined(separator: ", "))")
        case let .kpm(result):
            let written = try DensityOutput.write(result, timings: timings, subject: context.subject, network: context.caption, jsonPath: path,
                                                  command: "density", settings: settings, theory: theory, markers: markers)
            say(Summary.kpm(written))
            if let c = written.comparison { say(Summary.comparison(c)) }
            if let theory { say(Summary.theory(theory)) }
            say(Summary.timing(timings))
            say("  output     \([path, written.csv, written.svg].compactMap { $0 }.joined(separator: ", "))")
        }
    }
}

struct Moments: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "tr F, the mean eigenvalue tr F / P and the second moment tr(F²)/P.")

    @OptionGroup var network: NetworkOptions
    @Option(help: "fisher (F), or the matrices of --loss: ggn (G, exact from sample space when TC ≤ --exact-limit), hessian (H), residual (S) (Hutchinson).")
    var matrix: CurvatureMatrix = .fisher
    @Option(name: .customLong("exact-limit"), help: "Form K exactly for tr(F²) when TC is at most this; else use Hutchinson.")
    var exactLimit: Int = 8192
    @Option(help: "Hutchinson probes when tr(F²) is estimated.")
    var probes: Int = 30
    @OptionGroup var out: OutputOptions

    /// Hutchinson's error bar needs two probes: refused before anything is read or built.
    func validate() throws {
        guard probes >= 2 else { throw ValidationError("--probes must be at least 2 for an error bar (got \(probes))") }
    }

    func run() throws {
        guard matrix != .ntk else { throw ValidationError("--matrix ntk has the moments of F scaled by P/TC; use --matrix fisher") }
        let (seed, exactLimit, probes, matrix) = (network.seed, exactLimit, probes, matrix)
        let reporter = Runtime.progress("moments", quiet: out.quiet)
        if network.isLayerNetwork {
            let problem = try network.makeLayerProblem(outputs: [out.output], matrix: matrix)
            try report(NetworkContext(problem, file: network.layerFile, checkpointing: nil)) {
                try MomentsJob.run(sampleSpaceOf: problem, matrix: matrix, exactLimit: exactLimit, probes: probes, seed: seed, reporter: reporter)
            }
        } else {
            let problem = try network.makeProblem(outputs: [out.output])
            try report(NetworkContext(problem, checkpointing: nil)) {
                try MomentsJob.run(problem, matrix: matrix, exactLimit: exactLimit, probes: probes, seed: seed, reporter: reporter)
            }
        }
    }

    /// The moments `measure` returns (``MomentsJob``: an MLP's, or a layer network's from its
    /// sample-space matrix), with the theory block where the theory covers the network; rank 0
    /// writes the record and prints the summary. Collective.
    func report(_ context: NetworkContext, measure: () throws -> (MomentsResult, Timings)) throws {
        let (result, timings) = try measure()
        let theory = context.theory?(matrix).comparing(["mean_eigenvalue": result.meanEigenvalue, "second_moment": result.secondMoment])
        guard Runtime.isLead else { return }
        if let path = out.output {
            try RunRecord(command: "moments", subject: context.subject,
                          settings: MomentsRunSettings(matrix: matrix, exactLimit: exactLimit, probes: probes, seed: network.seed),
                          timings: timings, theory: theory, result: result).write(to: path)
        }
        say(context.header)
        say(Summary.moments(result, probes: probes))
        if let theory { say(Summary.theory(theory)) }
        say(Summary.timing(timings))
        if let path = out.output { say("  output     \(path)") }
    }
}

struct Theory: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The mean-field predictions for a configuration (Karakida et al.): order parameters, κ₁, κ₂, m_λ, λ_max.",
        discussion: "Builds the network (for the realized outputs that layer and last-layer batch norm use) but runs no solver.")

    @OptionGroup var network: NetworkOptions
    @OptionGroup var out: OutputOptions

    func run() throws {
        let start = DispatchTime.now().uptimeNanoseconds
        let problem = try network.makeProblem(outputs: [out.output])
        let theory = TheoryBlock.make(for: problem)
        if !theory.covered { throw WispError.invalidConfiguration("the mean-field theory does not cover this configuration: \(theory.reason ?? "")") }
        guard Runtime.isLead else { return }
        if let path = out.output {
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            try RunRecord(command: "theory", problem: problem, settings: NoSettings(),
                          timings: Timings(totalSeconds: seconds, operatorSeconds: 0, operatorApplications: 0),
                          theory: theory, result: EmptyResult()).write(to: path)
        }
        say(Summary.header(problem))
        say(Summary.theory(theory, detailed: true))
        if let path = out.output { say("  output     \(path)") }
    }
}

/// A command whose record has no fields beyond the common ones.
struct EmptyResult: Encodable {}
