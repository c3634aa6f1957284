import ArgumentParser
import Foundation
import Wisp
import WispMPI

@main
struct WispCommand: ParsableCommand {

    static let configuration = CommandConfiguration(
        commandName: "wisp",
        abstract: "Matrix-free spectra of the Fisher information and NTK Gram matrices of wide networks.",
        discussion: """
        Run with no arguments for the built-in default job (Karakida et al.'s setting: L = 3, \
        ReLU, σ_w² = 2, σ_b² = 0, C = 1, Gaussian inputs): λ_max with its residual, the exact \
        mean eigenvalue and second moment, and the spectral density, written to wisp-output/.
        """,
        version: wispVersion,
        subcommands: [Run.self, Top.self, Density.self, Moments.self, Theory.self, Train.self, DataSpectrum.self, Align.self, Reduce.self],
        defaultSubcommand: Run.self
    )

    /// Initializes MPI when started by a launcher, parses and runs. Any failure is one line
    /// `wisp: error: …` on stderr (from rank 0, or from the lowest rank whose setup failed)
    /// and a non-zero exit (64 for usage errors, 1 otherwise) on every rank. Help and version
    /// go to stdout with exit 0.
    static func main() {
        let mpi = MPICommunicator.launchedByMPI ? MPICommunicator() : nil
        if let mpi { Runtime.communicator = mpi }
        let rank = Runtime.communicator.rank
        func finish(_ code: Int32) -> Never {
            mpi?.finalize()
            Foundation.exit(code)
        }
        do {
            var command = try parseAsRoot()
            try command.run()
            finish(0)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                if rank == 0 { say(fullMessage(for: error)) }
                finish(0)
            }
            let reporter = (error is RankFailure) || (rank == 0 && !(error is PeerFailure))
            if reporter {
                let message = self.message(for: error)
                    .split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
                FileHandle.standardError.write(Data("wisp: error: \(message)\n".utf8))
            }
            finish(code == .success ? 1 : code.rawValue)
        }
    }
}

/// Process-wide state of the executable: who this process is among the job's processes.
enum Runtime {
    nonisolated(unsafe) static var communicator: any Communicator = SerialCommunicator()

    /// Progress lines go to stderr from rank 0 only.
    static func progress(_ label: String, quiet: Bool) -> ProgressReporter {
        ProgressReporter(label: label, enabled: !quiet && communicator.rank == 0)
    }

    /// The dense eigensolver of the exact sample-space path.
    static func eigensolver() -> any SymmetricEigensolver {
        ReplicatedLAPACKEigensolver(communicator: communicator)
    }

    /// Whether this process prints summaries and writes files.
    static var isLead: Bool { communicator.rank == 0 }
}

extension Activation: ExpressibleByArgument {}
extension Parametrization: ExpressibleByArgument {}
extension Normalization: ExpressibleByArgument {}
extension Precision: ExpressibleByArgument {}
extension CurvatureMatrix: ExpressibleByArgument {}
extension Loss: ExpressibleByArgument {}
extension SpectrumEnd: ExpressibleByArgument {}
extension GridScale: ExpressibleByArgument {}
extension SafeTensorDType: ExpressibleByArgument {
    public init?(argument: String) {
        switch argument.lowercased() {
        case "f64", "float64": self = .f64
        case "f32", "float32": self = .f32
        default: return nil
        }
    }
    public static var allValueStrings: [String] { ["f64", "f32"] }
}

/// Writes a line to stdout unbuffered, so it interleaves in order with progress on stderr.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
