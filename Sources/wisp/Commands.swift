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
    @Option(help: "Stop when ‖A y − θ y‖ ≤ tol · |θ| for every pair.")
    var tol: Double = 1e-8
    @Option(help: "Lanczos basis size between restarts. Default: max(2k + 20, 40).")
    var basis: Int?
    @Option(name: .customLong("max-applications"), help: "Budget of operator applications. Default: 50 × basis.")
    var maxApplications: Int?
    @Option(name: .customLong("save-eigenvectors"), help: "Write the k eigenvectors of F to this .safetensors file, shaped like the parameters (eigenvector.<i>.<layer>.weight/.bias).")
    var saveEigenvectors: String?
    @OptionGroup var checkpointing: CheckpointOptions
    @OptionGroup var out: OutputOptions

    func run() throws {
        let problem = try network.makeProblem(outputs: [out.output], files: [saveEigenvectors], directories: [checkpointing.checkpoint])
        let settings = LanczosSettings(count: k, which: which, tolerance: tol, basisSize: basis, maxApplications: maxApplications,
                                       seed: network.seed)
        if saveEigenvectors != nil { try problem.communicator.agree { try EigenvectorExport.ensureFits(problem, k: k) } }
        let matrix = saveEigenvectors != nil && EigenvectorExport.usesSampleSpace(matrix: self.matrix, k: k, problem: problem) ? .ntk : self.matrix
        // Tolerance and budget only decide when to stop, so a run may resume with other values.
        let checkpoint = try checkpointing.open("top", problem: problem, settings: [
            "matrix": matrix.rawValue, "k": "\(k)", "which": which.rawValue, "basis": "\(basis.map(String.init) ?? "default")",
        ], replicated: !matrix.isSampleSpace)
        var (result, timings) = try TopJob.run(problem, matrix: matrix, settings: settings, checkpoint: checkpoint,
                                               reporter: Runtime.progress("top", quiet: out.quiet))
        if let path = saveEigenvectors {
            result.eigenvectors = try EigenvectorExport.run(problem, top: result, path: path, rule: EigenvectorExport.rule)
        }
        let theory = TheoryBlock.make(for: problem, matrix: matrix).comparing(["lambda_max": result.eigenvalues[0]])
        if Runtime.isLead { try report(problem, result, timings, theory) }
        if !result.converged.allSatisfy({ $0 }) {
            let missing = result.converged.filter { !$0 }.count
            throw WispError.numerical("\(missing) of \(k) eigenpairs did not reach --tol \(tol) after \(result.operatorApplications) operator applications (budget \(settings.maxApplications ?? 50 * result.basisSize)); they are reported with their residuals (raise --max-applications or --basis)")
        }
    }

    private func report(_ problem: Problem, _ result: TopResult, _ timings: Timings, _ theory: TheoryBlock) throws {
        // The file first, the summary after: a summary that cannot be written never loses it.
        if let path = out.output {
            try RunRecord(command: "top", problem: problem,
                          settings: ["matrix": result.matrix.rawValue, "k": "\(k)", "which": which.rawValue, "tol": "\(tol)", "basis": "\(result.basisSize)"],
                          timings: timings, theory: theory, result: result).write(to: path)
        }
        say(Summary.header(problem))
        for (i, (value, residual)) in zip(result.eigenvalues, result.residuals).enumerated() {
            say(String(format: "  λ_%-3d %.10e   residual %.2e%@", i + 1, value, residual, result.converged[i] ? "" : "  (not converged)"))
        }
        if let e = result.eigenvectors {
            say(String(format: "  vectors    %d written to %@ (%@ space, %.2f s), orthogonality %.1e, worst relative residual %.1e%@", e.written.count,
                       e.file, e.space, e.seconds, e.orthogonality, e.relativeResiduals.max() ?? 0,
                       e.unmapped.isEmpty ? "" : "; not mapped (λ ≈ 0): \(e.unmapped)"))
        }
        say(Summary.theory(theory))
        say(Summary.timing(timings))
        if let path = out.output { say("  output     \(path)") }
    }
}

struct Density: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The spectral density of F by stochastic Lanczos quadrature or the kernel polynomial method, as JSON, CSV and an SVG plot.")

    @OptionGroup var network: NetworkOptions
    @Option(help: "fisher: probes in parameter space; ntk: probes in sample space, mapped to F's density (recommended when P ≫ TC); ggn, hessian, residual: the matrices of --loss in parameter space (use --grid linear for the indefinite ones).")
    var matrix: CurvatureMatrix = .ntk
    @Option(help: "slq: stochastic Lanczos quadrature; kpm: kernel polynomial method (Chebyshev moments, same probes).")
    var method: DensityMethod = .slq
    @OptionGroup var kpm: KPMOptions
    @Option(help: "Rademacher probe vectors n_v.")
    var probes: Int = 10
    @Option(help: "Lanczos steps (quadrature nodes) per probe.")
    var steps: Int = 64
    @Option(help: "Grid: log (density per unit log10 λ) or linear (per unit λ).")
    var grid: GridScale = .log
    @Option(name: .customLong("grid-points"), help: "Grid points.")
    var gridPoints: Int = 400
    @Option(help: "Gaussian broadening σ: decades on a log grid, fraction of the span on a linear grid. Default: 0.05 / 0.01.")
    var broadening: Double?
    @OptionGroup var checkpointing: CheckpointOptions
    @OptionGroup var out: OutputOptions

    func run() throws {
        try kpm.validate(method: method, broadening: broadening)
        if method == .kpm { return try runKPM() }
        let path = out.output ?? "wisp-output/density.json"
        let problem = try network.makeProblem(outputs: [path], siblings: ["csv", "svg"], directories: [checkpointing.checkpoint])
        // Probe p depends on (seed, p, steps) only: a rerun with more --probes reuses the finished ones.
        let checkpoint = try checkpointing.open("density", problem: problem, settings: ["matrix": matrix.rawValue, "steps": "\(steps)"],
                                                replicated: true)
        let (result, timings) = try DensityJob.run(
            problem, matrix: matrix, settings: SLQSettings(probes: probes, steps: steps, seed: network.seed),
            grid: DensitySettings(scale: grid, points: gridPoints, broadening: broadening), checkpoint: checkpoint,
            reporter: Runtime.progress("density", quiet: out.quiet))
        let theory = TheoryBlock.make(for: problem, matrix: matrix).comparing([
            "mean_eigenvalue": result.moments[0].exact ?? result.moments[0].estimate, "second_moment": result.moments[1].estimate,
        ])
        guard Runtime.isLead else { return }
        let written = try DensityOutput.write(result, timings: timings, problem: problem, jsonPath: path, command: "density",
                                              settings: ["matrix": matrix.rawValue, "probes": "\(probes)", "steps": "\(steps)",
                                                         "grid": grid.rawValue, "grid_points": "\(gridPoints)"], theory: theory,
                                              markers: theory.predictions["lambda_max"].map { [("λ_max theory", $0)] } ?? [])
        say(Summary.header(problem))
        say(Summary.density(written))
        say(Summary.theory(theory))
        say(Summary.timing(timings))
        say("  output     \([path, written.csv, written.svg].compactMap { $0 }.joined(separator: ", "))")
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

    func run() throws {
        let problem = try network.makeProblem(outputs: [out.output])
        guard matrix != .ntk else { throw ValidationError("--matrix ntk has the moments of F scaled by P/TC; use --matrix fisher") }
        let (result, timings) = try MomentsJob.run(problem, matrix: matrix, exactLimit: exactLimit, probes: probes, seed: network.seed,
                                                   reporter: Runtime.progress("moments", quiet: out.quiet))
        let theory = TheoryBlock.make(for: problem, matrix: matrix).comparing(["mean_eigenvalue": result.meanEigenvalue,
                                                               "second_moment": result.secondMoment])
        guard Runtime.isLead else { return }
        if let path = out.output {
            try RunRecord(command: "moments", problem: problem, settings: ["matrix": matrix.rawValue, "exact_limit": "\(exactLimit)", "probes": "\(probes)"],
                          timings: timings, theory: theory, result: result).write(to: path)
        }
        say(Summary.header(problem))
        let a = ["ggn": "G", "hessian": "H", "residual": "S"][matrix.rawValue] ?? "F"
        func label(_ s: String) -> String { s.padding(toLength: 10, withPad: " ", startingAt: 0) }
        if result.traceStandardError > 0 {
            say(String(format: "  %@ %.6e ± %.2e  (Hutchinson, %d probes)", label("tr \(a)"), result.trace, result.traceStandardError, probes))
            say(String(format: "  mean λ     %.6e  (tr \(a) / P)", result.meanEigenvalue))
        } else {
            say(String(format: "  %@ %.10e  (exact)", label("tr \(a)"), result.trace))
            say(String(format: "  mean λ     %.10e  (exact, tr \(a) / P)", result.meanEigenvalue))
        }
        if result.probes != nil {
            say(String(format: "  %@ %.6e ± %.2e  (Hutchinson, %d probes)", label("tr(\(a)²)/P"), result.secondMoment, result.secondMomentStandardError, probes))
        } else {
            say(String(format: "  %@ %.10e  (%@)", label("tr(\(a)²)/P"), result.secondMoment, result.secondMomentMethod))
        }
        say(Summary.theory(theory))
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
            try RunRecord(command: "theory", problem: problem, settings: [:],
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
