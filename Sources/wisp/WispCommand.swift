import ArgumentParser
import Foundation
import Wisp

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
        subcommands: [Run.self, Top.self, Density.self, Moments.self],
        defaultSubcommand: Run.self
    )

    /// Parses and runs; any failure is one line `wisp: error: …` on stderr and a non-zero exit
    /// (64 for usage errors, 1 otherwise). Help and version go to stdout with exit 0.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                say(fullMessage(for: error))
                Foundation.exit(0)
            }
            let message = self.message(for: error)
                .split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
            FileHandle.standardError.write(Data("wisp: error: \(message)\n".utf8))
            Foundation.exit(code.rawValue)
        }
    }
}

extension Activation: ExpressibleByArgument {}
extension Parametrization: ExpressibleByArgument {}
extension Precision: ExpressibleByArgument {}
extension CurvatureMatrix: ExpressibleByArgument {}
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
