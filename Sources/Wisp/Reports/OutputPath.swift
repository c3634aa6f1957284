import Foundation

/// Checks made before any computation, so a run never spends an hour and then fails to write.
public enum OutputPath {
    /// Creates the parent directory if needed and proves it writable with a probe file.
    public static func checkWritable(_ path: String) throws {
        guard !path.isEmpty else { throw WispError.output("the output path is empty") }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw WispError.output("cannot write \(path): it is a directory")
        }
        try AtomicFile.createDirectory(forFile: path)
        let directory = (path as NSString).deletingLastPathComponent
        let probe = (directory.isEmpty ? "." : directory) + "/.wisp-write-check-\(getpid())"
        guard FileManager.default.createFile(atPath: probe, contents: Data()) else {
            throw WispError.output("cannot write \(path): directory \(directory.isEmpty ? "." : directory) is not writable")
        }
        try? FileManager.default.removeItem(atPath: probe)
    }

    /// `path` with its extension replaced (density.json → density.csv).
    public static func sibling(of path: String, extension ext: String) -> String {
        ((path as NSString).deletingPathExtension as NSString).appendingPathExtension(ext) ?? path + "." + ext
    }
}

/// Writes a density result: the curve as CSV and SVG beside the JSON record.
public enum DensityOutput {
    @discardableResult
    public static func write(_ result: DensityResult, timings: Timings, problem: Problem, jsonPath: String, command: String,
                             settings: [String: String], theory: TheoryBlock? = nil, title: String? = nil,
                             markers: [(label: String, value: Double)] = [])
        throws -> DensityResult
    {
        var r = result
        let csv = OutputPath.sibling(of: jsonPath, extension: "csv")
        let svg = OutputPath.sibling(of: jsonPath, extension: "svg")
        r.csv = csv
        r.svg = svg
        let a = problem.architecture
        let caption = title ?? "Fisher spectral density: L=\(a.depth), widths \(a.widths.dropFirst().dropLast().first.map(String.init) ?? "-"), \(a.activation.rawValue), T=\(problem.totalSamples), SLQ \(r.probes)×\(r.steps)"
        try AtomicFile.createDirectory(forFile: jsonPath)
        try AtomicFile.write(Data(DensityFiles.csv(r.density).utf8), to: csv)
        try AtomicFile.write(Data(DensityFiles.svg(r.density, title: caption, markers: markers).utf8), to: svg)
        try RunRecord(command: command, problem: problem, settings: settings, timings: timings, theory: theory, result: r)
            .write(to: jsonPath)
        return r
    }
}
