import Foundation

/// The `wisp` executable built beside the test bundle, run as a child process (CLI tests only).
public enum WispExecutable {
    /// What one run printed and how it ended.
    public struct Outcome: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// The binary: on Linux the test bundle sits in the products directory beside `wisp`.
    public static var url: URL {
        let products = Bundle.main.bundleURL
        let candidates = [products, products.deletingLastPathComponent()].map { $0.appendingPathComponent("wisp") }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }

    /// Runs `wisp arguments…` in `directory` (default: the current one) and waits for it.
    public static func run(_ arguments: [String], in directory: URL? = nil) throws -> Outcome {
        try child(url, arguments, in: directory)
    }

    /// Runs `script` with bash in `directory`, `$WISP` the executable: for redirections, limits
    /// (`ulimit -v`) and `timeout` (so a regression that hangs fails instead of blocking).
    public static func shell(_ script: String, in directory: URL? = nil) throws -> Outcome {
        try child(URL(fileURLWithPath: "/bin/bash"), ["-c", script], in: directory, environment: ["WISP": url.path])
    }

    /// `mpirun --oversubscribe -np ranks wisp arguments…` (as root if need be), with `environment` added.
    public static func mpirun(ranks: Int, _ arguments: [String], environment: [String: String] = [:]) throws -> Outcome {
        try child(URL(fileURLWithPath: "/usr/bin/env"), ["mpirun", "--oversubscribe", "-np", "\(ranks)", url.path] + arguments,
                  environment: environment.merging(["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"]) { a, _ in a })
    }

    /// Runs `executable arguments…` with this process's environment plus `environment`, reading
    /// both pipes to the end before waiting (a full pipe cannot block the child).
    public static func child(_ executable: URL, _ arguments: [String], in directory: URL? = nil,
                             environment: [String: String] = [:]) throws -> Outcome {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new } }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes to the end before waiting, so a full pipe cannot block the child.
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                       stderr: String(decoding: e, as: UTF8.self))
    }
}
