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
        version: wispVersionAndCommit,
        subcommands: [Run.self, Top.self, Density.self, Moments.self, Theory.self, Train.self, DataSpectrum.self, Align.self, Reduce.self, DenseEigen.self],
        defaultSubcommand: Run.self
    )

    /// Initializes MPI when started by a launcher, parses and runs. Any failure is one line
    /// `wisp: error: …` on stderr (from rank 0, or from the lowest rank whose setup failed)
    /// and a non-zero exit (64 for usage errors, 1 otherwise) on every rank. Help and version
    /// go to stdout with exit 0.
    ///
    /// SIGPIPE is ignored and no write of a summary or progress line can stop the run: result
    /// files are written first and kept; if the summary could not be written (stdout full,
    /// closed, or a pipe whose reader left), the run ends with exit 1 and says so on stderr
    /// (when stderr still works). With several processes, all first agree that they parsed
    /// the same command line (paths aside: `RankAgreement`), before any other collective.
    static func main() {
        SettingFlags.install()
        BLASKernel.relaunchIfGeneric(arguments: CommandLine.arguments)
        StandardStream.ignoreBrokenPipes()
        if let shortfall = ResourceUsage.addressSpaceShortfall() {
            StandardStream.write("wisp: error: \(shortfall)\n", to: STDERR_FILENO)
            _exit(1)   // not exit(): its handlers would join the BLAS thread that cannot start
        }
        let mpi = MPICommunicator.launchedByMPI ? MPICommunicator() : nil
        if let mpi { Runtime.communicator = mpi; ResourceUsage.processesSharingMemory = mpi.ranksSharingMemory }
        if let refusal = LaunchCheck.singletonRefusal(worldSize: Runtime.communicator.size) {
            if LaunchCheck.isFirstProcess() { StandardStream.write("wisp: error: \(refusal)\n", to: STDERR_FILENO) }
            mpi?.finalize()
            Foundation.exit(1)
        }
        let rank = Runtime.communicator.rank
        func finish(_ code: Int32) -> Never {
            mpi?.finalize()
            Foundation.exit(code)
        }
        do {
            var command = try Runtime.communicator.size > 1 ? parseAgreed() : parseAsRoot(NumericFlags.normalized(Array(CommandLine.arguments.dropFirst())))
            try command.run()
            if let failure = Runtime.summaryFailure {
                if rank == 0 { StandardStream.write("wisp: error: \(failure); the result files were written\n", to: STDERR_FILENO) }
                finish(1)
            }
            finish(0)
        } catch {
            // A rank's own error (RankFailure) keeps the parser's message and exit code.
            let underlying = (error as? RankFailure)?.underlying ?? error
            let code = exitCode(for: underlying)
            if code == .success {
                if rank == 0 { say(fullMessage(for: error)) }
                finish(0)
            }
            let reporter = (error is RankFailure) || (rank == 0 && !(error is PeerFailure))
            if reporter {
                let message = (error is RankFailure && rank != 0 ? "rank \(rank): " : "") + self.message(for: underlying)
                    .split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
                StandardStream.write("wisp: error: \(message)\n", to: STDERR_FILENO)
            }
            finish(code == .success ? 1 : code.rawValue)
        }
    }

    /// Parses on every process and agrees on the outcome and on the command line (paths
    /// replaced: each node may hold its own copy of a file; their shapes are compared later).
    private static func parseAgreed() throws -> any ParsableCommand {
        let communicator = Runtime.communicator
        let parsed = Result { try parseAsRoot() }
        if case .failure(let error) = parsed, exitCode(for: error) == .success { throw error }   // --help, --version
        let command = try communicator.agree { try parsed.get() }
        try RankAgreement.check(LaunchArguments.canonical(Array(CommandLine.arguments.dropFirst())), what: "command line",
                                communicator: communicator)
        return command
    }
}

/// The command line as the processes of one launch must share it.
enum LaunchArguments {
    /// Flags whose value is an input path: each node may name its own copy of a file (their
    /// shapes are compared once read).
    static let inputFlags: Set<String> = ["--inputs", "--targets", "--labels", "--model", "--init", "--checkpoint"]
    /// Flags only rank 0 acts on (it alone writes files and prints): left out entirely.
    static let leadFlags: Set<String> = ["--output", "--output-dir", "--save-model", "--save-eigenvectors", "--save-reduced"]
    static let leadSwitches: Set<String> = ["--quiet"]

    /// The arguments as "flag value" items, input paths replaced by "<path>", rank 0's own
    /// flags left out; each item named by its flag (or "argument k").
    /// `--flag=value` is the same as `--flag value` (rank 0 may spell it one way, rank 1 the other).
    static func canonical(_ given: [String]) -> [(name: String, value: String)] {
        let arguments = given.flatMap { argument -> [String] in
            guard argument.hasPrefix("--"), let eq = argument.firstIndex(of: "=") else { return [argument] }
            return [String(argument[..<eq]), String(argument[argument.index(after: eq)...])]
        }
        var out: [(name: String, value: String)] = []
        var i = 0
        while i < arguments.count {
            let flag = arguments[i], argument = flag
            let takesValue = inputFlags.contains(flag) || leadFlags.contains(flag)
            let value = takesValue && i + 1 < arguments.count ? arguments[i + 1] : nil
            i += takesValue ? 2 : 1
            if leadFlags.contains(flag) || leadSwitches.contains(flag) { continue }
            if inputFlags.contains(flag) {
                out.append((name: flag, value: value == nil ? "(none)" : "<path>"))
            } else {
                out.append((name: "argument \(out.count + 1)", value: argument))
            }
        }
        out.append((name: "the number of arguments", value: "\(out.count)"))
        return out
    }
}

/// Process-wide state of the executable: who this process is among the job's processes.
enum Runtime {
    nonisolated(unsafe) static var communicator: any Communicator = SerialCommunicator()

    /// Progress lines go to stderr from rank 0 only.
    static func progress(_ label: String, quiet: Bool) -> ProgressReporter {
        ProgressReporter(label: label, enabled: !quiet && communicator.rank == 0)
    }

    /// Whether the summary goes to stderr (the JSON is on stdout: `--output -`).
    nonisolated(unsafe) static var summaryToStandardError = false

    /// The first failed write of a summary line (the run goes on; reported at the end).
    nonisolated(unsafe) static var summaryFailure: String?

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
extension OptimizerSettings.Method: ExpressibleByArgument {}
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

/// Writes a line to stdout (stderr with `--output -`) unbuffered, so it interleaves in order
/// with progress on stderr. A failed write (a full disk, a closed descriptor, a closed pipe:
/// SIGPIPE is ignored) never stops the run or loses its files: the first failure is kept in
/// ``Runtime/summaryFailure`` and reported when the run ends (exit 1).
func say(_ line: String) {
    let fd = Runtime.summaryToStandardError ? STDERR_FILENO : STDOUT_FILENO
    if let reason = StandardStream.write(line + "\n", to: fd), Runtime.summaryFailure == nil {
        Runtime.summaryFailure = "cannot write the summary to \(fd == STDOUT_FILENO ? "stdout" : "stderr"): \(reason)"
    }
}

/// Writes one line `wisp: warning: …` to stderr (rank 0 decides whether to call it).
func warn(_ message: String) {
    FileHandle.standardError.write(Data("wisp: warning: \(message)\n".utf8))
}
