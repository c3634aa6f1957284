import ArgumentParser
import Foundation
import Wisp

/// How `wisp density` measures.
enum DensityMethod: String, ExpressibleByArgument, CaseIterable {
    case auto, exact, slq, kpm
}

extension DampingKernel: ExpressibleByArgument {}

/// The kernel polynomial method's flags of `wisp density`.
struct KPMOptions: ParsableArguments {
    @Option(help: "KPM: Chebyshev moments M (⌊M/2⌋ operator applications per probe; resolution ≈ π·(bound width)/(2M)). Default 256.")
    var moments: Int?
    @Option(help: "KPM damping kernel: jackson (positive, near-Gaussian) or lorentz (λ = 4).")
    var kernel: DampingKernel?
    @Option(help: "KPM: deflate the top k eigenpairs (Lanczos) and report them separately before expanding the rest.")
    var deflate: Int?
    @Option(name: .customLong("lower-bound"), help: "KPM: lower spectral bound (default 0: F and K are positive semi-definite).")
    var lowerBound: Double?
    @Option(name: .customLong("upper-bound"), help: "KPM: upper spectral bound (default: Lanczos θ_max + residual norm + 10⁻³ span).")
    var upperBound: Double?
    @Option(name: .customLong("bound-steps"), help: "KPM: Lanczos steps of the bounding run. Default 30.")
    var boundSteps: Int?

    var anyGiven: [String] {
        [("--moments", moments != nil), ("--kernel", kernel != nil), ("--deflate", deflate != nil), ("--lower-bound", lowerBound != nil),
         ("--upper-bound", upperBound != nil), ("--bound-steps", boundSteps != nil)].filter(\.1).map(\.0)
    }

    func validate(method: DensityMethod, broadening: Double?) throws {
        if method != .kpm, let flag = anyGiven.first { throw ValidationError("\(flag) applies to --method kpm only") }
        if method == .kpm, broadening != nil { throw ValidationError("--broadening applies to --method slq only (KPM's resolution is set by --moments and --kernel)") }
    }

    var options: KPMJobOptions {
        KPMJobOptions(deflate: deflate ?? 0, boundSteps: boundSteps ?? 30, lowerBound: lowerBound, upperBound: upperBound)
    }
}

extension Density {
    /// The settings a KPM run records (and, through ``DensityRunSettings/kpmResumable``, fingerprints).
    var kpmSettings: DensityRunSettings {
        let expansion = KPMSettings(probes: probes, moments: kpm.moments ?? 256, kernel: kpm.kernel ?? .jackson, seed: network.seed)
        return DensityRunSettings(matrix: matrix, method: method.rawValue, grid: DensitySettings(scale: grid, points: gridPoints), slq: nil,
                                  kpm: KPMRunSettings(expansion: expansion, options: kpm.options), compareExact: compareExact)
    }

    /// KPM on `problem` (an MLP or a layer network) with `settings`, resuming from `checkpoint`,
    /// and compared with the exact spectrum when `reference` gives it (collective).
    func measureKPM(_ problem: some CurvatureProblem, settings: DensityRunSettings, checkpoint: CheckpointDirectory?,
                    reference: (() throws -> (DensityResult, Double))?) throws -> (KPMDensityResult, Timings) {
        let k = settings.kpm!
        var (result, timings) = try KPMDensityJob.run(problem, matrix: matrix, settings: k.expansion, options: k.options, grid: settings.grid,
                                                      checkpoint: checkpoint, reporter: Runtime.progress("density", quiet: out.quiet))
        if let reference {
            let (exact, seconds) = try reference()
            result.comparison = DensityComparison.compare(estimate: result.estimateMeasure, measure: "damped density on the grid, deflated pairs",
                                                          moments: result.moments, zeroMass: result.density.zeroMass, exact: exact,
                                                          parameters: problem.parameterCount, exactSeconds: seconds)
        }
        return (result, timings)
    }

    func runKPM(_ problem: Problem, choice: MethodChoice, reference: (() throws -> (DensityResult, Double))?) throws {
        let path = out.output ?? "wisp-output/density.json"
        let recorded = kpmSettings
        // The kernel only acts on the reconstruction: a rerun with another kernel reuses the moments.
        let checkpoint = try checkpointing.open("density", problem: problem, settings: recorded.kpmResumable!, replicated: true)
        let (result, timings) = try measureKPM(problem, settings: recorded, checkpoint: checkpoint, reference: reference)
        let theory = TheoryBlock.make(for: problem, matrix: matrix).comparing([
            "mean_eigenvalue": result.moments[0].exact ?? result.moments[0].estimate, "second_moment": result.moments[1].estimate,
        ])
        guard Runtime.isLead else { return }
        let written = try DensityOutput.write(
            result, timings: timings, problem: problem, jsonPath: path, command: "density",
            settings: recorded,
            theory: theory, markers: theory.predictions["lambda_max"].map { [("λ_max theory", $0)] } ?? [])
        say(Summary.header(problem))
        say(Summary.kpm(written))
        if let c = written.comparison { say(Summary.comparison(c)) }
        say(Summary.theory(theory))
        say(Summary.timing(timings))
        say("  output     \([path, written.csv, written.svg].compactMap { $0 }.joined(separator: ", "))")
    }
}

/// How `wisp top` computes eigenpairs.
enum TopMethod: String, ExpressibleByArgument, CaseIterable {
    case auto, exact, lanczos
}
