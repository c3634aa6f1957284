import Foundation

/// Writes a KPM density result: the curve as CSV and SVG beside the JSON record (the same
/// files and columns as ``DensityOutput`` writes for SLQ).
public enum KPMDensityOutput {
    @discardableResult
    public static func write(_ result: KPMDensityResult, timings: Timings, problem: Problem, jsonPath: String, command: String,
                             settings: [String: String], theory: TheoryBlock? = nil,
                             markers: [(label: String, value: Double)] = []) throws -> KPMDensityResult {
        var r = result
        let csv = OutputPath.sibling(of: jsonPath, extension: "csv")
        let svg = OutputPath.sibling(of: jsonPath, extension: "svg")
        r.csv = csv
        r.svg = svg
        let a = problem.architecture
        let deflated = r.deflated.isEmpty ? "" : ", \(r.deflated.count) deflated"
        let caption = "Fisher spectral density: L=\(a.depth), widths \(a.widths.dropFirst().dropLast().first.map(String.init) ?? "-"), \(a.activation.rawValue), T=\(problem.totalSamples), KPM \(r.probes)×\(r.chebyshevMomentCount) \(r.kernel.rawValue)\(deflated)"
        try AtomicFile.createDirectory(forFile: jsonPath)
        try AtomicFile.write(Data(DensityFiles.csv(r.density).utf8), to: csv)
        try AtomicFile.write(Data(DensityFiles.svg(r.density, title: caption, markers: markers).utf8), to: svg)
        try RunRecord(command: command, problem: problem, settings: settings, timings: timings, theory: theory, result: r)
            .write(to: jsonPath)
        return r
    }
}
