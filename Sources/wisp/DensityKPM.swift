import ArgumentParser
import Foundation
import Wisp

/// How `wisp density` measures.
enum DensityMethod: String, ExpressibleByArgument, CaseIterable, Encodable {
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

/// How `wisp top` computes eigenpairs.
enum TopMethod: String, ExpressibleByArgument, CaseIterable {
    case auto, exact, lanczos
}
