import Foundation

/// A density result that can be written as a JSON record with its curve beside it
/// (``DensityResult`` from SLQ, ``KPMDensityResult`` from KPM).
public protocol DensityRecord: Encodable {
    var matrix: CurvatureMatrix { get }
    /// "F", "G", "H" or "S".
    var densityOf: String { get }
    var density: SpectralDensity { get }
    var csv: String? { get set }
    var svg: String? { get set }
    /// The estimator in a few words for the figure's title, e.g. "SLQ 10×64".
    var methodCaption: String { get }
    /// Every eigenvalue, when the spectrum was computed exactly (written to a file beside the JSON).
    var exactEigenvalues: [Double]? { get }
    var eigenvaluesFile: String? { get set }
}

extension DensityResult: DensityRecord {
    public var methodCaption: String { exactEigenvalues != nil ? "exact, \(exactEigenvalues!.count) eigenvalues" : "SLQ \(probes)×\(steps)" }
}

extension KPMDensityResult: DensityRecord {
    public var exactEigenvalues: [Double]? { nil }
    public var eigenvaluesFile: String? { get { nil } set {} }
    public var methodCaption: String {
        "KPM \(probes)×\(chebyshevMomentCount) \(kernel.rawValue)" + (deflated.isEmpty ? "" : ", \(deflated.count) deflated")
    }
}

/// Writes a density result: the curve as CSV and SVG beside the JSON record, all atomically.
public enum DensityOutput {
    /// The files (``writeFiles(_:jsonPath:title:markers:overlay:)``), titled "spectral density
    /// of F (matrix): `network`, method", then the record of `command` on `subject`.
    @discardableResult
    public static func write<R: DensityRecord, Settings: Encodable>(_ result: R, timings: Timings, subject: RunSubject, network: String,
                                                                    jsonPath: String, command: String, settings: Settings, theory: TheoryBlock? = nil,
                                                                    markers: [(label: String, value: Double)] = [],
                                                                    overlay: (label: String, main: String, density: SpectralDensity)? = nil) throws -> R {
        let caption = "spectral density of \(result.densityOf) (\(result.matrix.rawValue)): \(network), \(result.methodCaption)"
        let r = try writeFiles(result, jsonPath: jsonPath, title: caption, markers: markers, overlay: overlay)
        try RunRecord(command: command, subject: subject, settings: settings, timings: timings, theory: theory, result: r)
            .write(to: jsonPath)
        return r
    }

    /// The files beside the JSON record at `jsonPath` (none when it is standard output): the
    /// curve as CSV and SVG titled `title`, and every eigenvalue (`<output>.eigenvalues.csv`)
    /// when the spectrum is exact; returns the result with their paths set. The caller writes
    /// the record itself.
    public static func writeFiles<R: DensityRecord>(_ result: R, jsonPath: String, title: String,
                                                    markers: [(label: String, value: Double)] = [],
                                                    overlay: (label: String, main: String, density: SpectralDensity)? = nil) throws -> R {
        var r = result
        _ = try CanonicalJSON.value(r)   // a non-finite number is an error before any file is written
        // With the JSON on stdout (`-`) there is no file to put the CSV and SVG beside.
        let toStandardOutput = OutputPath.isStandardOutput(jsonPath)
        let csv = OutputPath.sibling(of: jsonPath, extension: "csv")
        let svg = OutputPath.sibling(of: jsonPath, extension: "svg")
        r.csv = toStandardOutput ? nil : csv
        r.svg = toStandardOutput ? nil : svg
        try AtomicFile.createDirectory(forFile: jsonPath)
        if !toStandardOutput {
            try AtomicFile.write(Data(DensityFiles.csv(r.density).utf8), to: csv)
            // KPM's deflated outliers are not in the curve: mark each where it lies.
            let deflated = (r as? KPMDensityResult)?.deflated.enumerated().map { (label: "deflated \($0.offset + 1)", value: $0.element.eigenvalue) } ?? []
            try AtomicFile.write(Data(DensityFiles.svg(r.density, title: title, markers: markers + deflated, overlay: overlay).utf8), to: svg)
            if let values = r.exactEigenvalues {
                let file = OutputPath.sibling(of: jsonPath, extension: "eigenvalues.csv")
                r.eigenvaluesFile = file
                try AtomicFile.write(Data(DensityFiles.eigenvaluesCSV(values).utf8), to: file)
            }
        }
        return r
    }
}
