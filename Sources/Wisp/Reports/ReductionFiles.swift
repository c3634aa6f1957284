import Foundation

/// The model-reduction sweep as CSV (one row per k and variant) and as an SVG chart of accuracy
/// (or, for regression, loss) and loss against k, one curve per variant.
public enum ReductionFiles {
    public static func csv(_ r: ReductionResult) -> String {
        var s = "k,fraction,variant,loss,accuracy,relative_distance,captured_share,eigenvalue_k\n"
        for m in r.sweep {
            let lambda = m.k >= 1 && m.k <= r.eigenvalues.count ? "\(r.eigenvalues[m.k - 1])" : ""
            s += "\(m.k),\(m.fraction),\(m.variant),\(m.loss),\(m.accuracy.map { "\($0)" } ?? ""),\(m.relativeDistance),\(m.capturedShare),\(lambda)\n"
        }
        return s
    }

    public static func svg(_ r: ReductionResult, title: String) -> String {
        let variants = ["weights", "change"].filter { v in r.sweep.contains { $0.variant == v } }
        func curve(_ v: String, _ value: (ReducedModel) -> Double?) -> SeriesPlot.Curve {
            let points = r.sweep.filter { $0.variant == v }.compactMap { m in value(m).map { (Double(m.k), $0) } }
            let label = v == "weights" ? "w ≈ Σ⟨w,e_i⟩e_i" : "w ≈ w₀ + Σ⟨w−w₀,e_i⟩e_i"
            return SeriesPlot.Curve(label: label, x: points.map(\.0), y: points.map(\.1))
        }
        var panels = [SeriesPlot.Panel]()
        if r.full.accuracy != nil {
            panels.append(SeriesPlot.Panel(title: String(format: "accuracy (full model %.4f)", r.full.accuracy!),
                                           curves: variants.map { v in curve(v) { $0.accuracy } }))
        }
        panels.append(SeriesPlot.Panel(title: String(format: "loss (full model %.4g)", r.full.loss),
                                       curves: variants.map { v in curve(v) { $0.loss } }, logY: true))
        return SeriesPlot.svg(title: title, panels: panels, xLabel: "k (eigenvectors kept, of P = \(r.parameters))")
    }

    /// Writes `<path>.csv` and `<path>.svg` beside the JSON path, atomically; returns their paths
    /// (empty strings, nothing written, when the JSON goes to stdout: `-`).
    public static func write(_ r: ReductionResult, jsonPath: String, title: String) throws -> (csv: String, svg: String) {
        let csvPath = OutputPath.sibling(of: jsonPath, extension: "csv"), svgPath = OutputPath.sibling(of: jsonPath, extension: "svg")
        guard !OutputPath.isStandardOutput(jsonPath) else { return ("", "") }   // JSON on stdout: no files beside it
        try AtomicFile.createDirectory(forFile: jsonPath)
        try AtomicFile.write(Data(csv(r).utf8), to: csvPath)
        try AtomicFile.write(Data(svg(r, title: title).utf8), to: svgPath)
        return (csvPath, svgPath)
    }
}
