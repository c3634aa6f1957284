import Foundation

/// The InPCA embedding of `wisp reduce --inpca` as CSV (one row per model and sample) and as an
/// SVG scatter of the first two components, each point a sample coloured by its label (Cowlagi &
/// Chaudhari Fig. 3): first every model on the shared axes of the joint embedding, then each
/// model in its own embedding.
public enum InPCAFiles {
    /// Header `model,k,fraction,variant,sample,label,inpca_1,…,own_1,…`, then N·S rows,
    /// model-major; `inpca_*` the joint embedding, `own_*` the model's own; k, fraction and
    /// variant empty for the full model, label empty without class labels.
    public static func csv(_ e: ReductionEmbedding) -> String {
        let q = e.components
        var s = "model,k,fraction,variant,sample,label" + (0..<q).map { ",inpca_\($0 + 1)" }.joined()
            + (0..<q).map { ",own_\($0 + 1)" }.joined() + "\n"
        for (m, model) in e.models.enumerated() {
            for t in 0..<e.samples {
                let p = m * e.samples + t
                s += "\(model.name),\(model.k.map { "\($0)" } ?? ""),\(model.fraction.map { "\($0)" } ?? ""),\(model.variant ?? ""),\(t),"
                s += e.labels[t].map { "\($0)" } ?? ""
                for k in 0..<q { s += ",\(e.coordinates[p * q + k])" }
                for k in 0..<q { s += ",\(e.ownCoordinates[p * q + k])" }
                s += "\n"
            }
        }
        return s
    }

    /// Ten distinguishable colours (the usual categorical palette) for labels 0…9, repeated after.
    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

    public static func svg(_ e: ReductionEmbedding, title: String) -> String {
        let q = e.components, S = e.samples, N = e.models.count
        let cols = min(N, 3), rows = (N + cols - 1) / cols
        let (pw, ph) = (370.0, 340.0), (left, right, top, bottom) = (72.0, 15.0, 35.0, 45.0)
        let sectionHeight = Double(rows) * ph + 30
        let (w, h) = (Double(cols) * pw, 2 * sectionHeight + 50)
        var s = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(w))" height="\(Int(h))" viewBox="0 0 \(Int(w)) \(Int(h))" font-family="sans-serif" font-size="11">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(w / 2)" y="20" text-anchor="middle" font-size="14">\(SeriesPlot.escape(title))</text>

        """
        let labelSet = Array(Set(e.labels.compactMap { $0 })).sorted()
        for (i, label) in labelSet.prefix(20).enumerated() {
            let x = 20 + Double(i) * 60
            s += "<circle cx=\"\(x)\" cy=\"38\" r=\"4\" fill=\"\(palette[label % palette.count])\"/><text x=\"\(x + 8)\" y=\"42\">label \(label)</text>\n"
        }
        func range(_ v: [Double]) -> (Double, Double) {
            var (lo, hi) = (v.min() ?? -1, v.max() ?? 1)
            if hi - lo < 1e-300 { lo -= 1; hi += 1 }
            let pad = 0.05 * (hi - lo)
            return (lo - pad, hi + pad)
        }
        func axis(_ k: Int, _ values: [Double], _ fractions: [Double]) -> String {
            guard k < values.count else { return "InPCA \(k + 1)" }
            return String(format: "InPCA %d (λ %@ 0, %.1f %%)", k + 1, values[k] < 0 ? "<" : ">", 100 * fractions[k])
        }
        /// One panel: points [first, first + S) of `c` (rows of q) at grid cell `cell` of a section at `y0`.
        func panel(_ name: String, _ c: [Double], _ first: Int, _ cell: Int, _ y0: Double, _ xr: (Double, Double), _ yr: (Double, Double),
                   _ xLabel: String, _ yLabel: String) {
            let ox = Double(cell % cols) * pw, oy = y0 + Double(cell / cols) * ph
            func px(_ x: Double) -> Double { ox + left + (x - xr.0) / (xr.1 - xr.0) * (pw - left - right) }
            func py(_ y: Double) -> Double { oy + ph - bottom - (y - yr.0) / (yr.1 - yr.0) * (ph - top - bottom) }
            s += "<text x=\"\(ox + pw / 2)\" y=\"\(oy + 22)\" text-anchor=\"middle\" font-size=\"12\">\(SeriesPlot.escape(name))</text>\n"
            s += "<rect x=\"\(ox + left)\" y=\"\(oy + top)\" width=\"\(pw - left - right)\" height=\"\(ph - top - bottom)\" fill=\"none\" stroke=\"black\"/>\n"
            for i in 0...2 {
                let xv = xr.0 + (xr.1 - xr.0) * Double(i) / 2, yv = yr.0 + (yr.1 - yr.0) * Double(i) / 2
                s += "<text x=\"\(px(xv))\" y=\"\(oy + ph - bottom + 13)\" text-anchor=\"middle\">\(String(format: "%.3g", xv))</text>"
                s += "<text x=\"\(ox + left - 4)\" y=\"\(py(yv) + 4)\" text-anchor=\"end\">\(String(format: "%.3g", yv))</text>\n"
            }
            s += "<text x=\"\(ox + left + (pw - left - right) / 2)\" y=\"\(oy + ph - 14)\" text-anchor=\"middle\">\(SeriesPlot.escape(xLabel))</text>\n"
            s += "<text transform=\"translate(\(ox + 12) \(oy + top + (ph - top - bottom) / 2)) rotate(-90)\" text-anchor=\"middle\">\(SeriesPlot.escape(yLabel))</text>\n"
            for t in 0..<S {
                let p = first + t
                let (x, y) = (c[p * q], q > 1 ? c[p * q + 1] : 0)
                let color = e.labels[t].map { palette[$0 % palette.count] } ?? "#1f5fa8"
                s += String(format: "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"2\" fill=\"%@\" fill-opacity=\"0.7\"/>", px(x), py(y), color)
            }
            s += "\n"
        }
        func modelName(_ model: EmbeddedModel) -> String {
            model.k == nil ? "full model" : String(format: "%@, k = %d (%.3g %% of P)", model.variant ?? "", model.k!, 100 * (model.fraction ?? 0))
        }
        func column(_ c: [Double], _ k: Int, _ range: Range<Int>) -> [Double] { range.map { k < q ? c[$0 * q + k] : 0 } }
        // Section 1: the joint embedding, shared axes.
        var y0 = 50.0
        s += "<text x=\"10\" y=\"\(y0 + 12)\" font-size=\"13\">All models in one embedding (shared axes)</text>\n"
        let xr = range(column(e.coordinates, 0, 0..<(N * S))), yr = range(column(e.coordinates, 1, 0..<(N * S)))
        for (m, model) in e.models.enumerated() {
            panel(modelName(model), e.coordinates, m * S, m, y0 + 20, xr, yr, axis(0, e.eigenvalues, e.explainedFractions),
                  axis(1, e.eigenvalues, e.explainedFractions))
        }
        // Section 2: each model's own embedding, its own axes.
        y0 += sectionHeight
        s += "<text x=\"10\" y=\"\(y0 + 12)\" font-size=\"13\">Each model in its own embedding (Fig. 3 of Cowlagi &amp; Chaudhari)</text>\n"
        for (m, model) in e.models.enumerated() {
            let points = (m * S)..<((m + 1) * S)
            let own = e.own[m]
            panel(modelName(model), e.ownCoordinates, m * S, m, y0 + 20, range(column(e.ownCoordinates, 0, points)),
                  range(column(e.ownCoordinates, 1, points)), axis(0, own.eigenvalues, own.explainedFractions),
                  axis(1, own.eigenvalues, own.explainedFractions))
        }
        return s + "</svg>\n"
    }

    /// Writes `<output>.inpca.csv` and `<output>.inpca.svg` beside the JSON path, atomically;
    /// returns their paths (empty, nothing written, when the JSON goes to stdout: `-`).
    public static func write(_ e: ReductionEmbedding, jsonPath: String, title: String) throws -> (csv: String, svg: String) {
        guard !OutputPath.isStandardOutput(jsonPath) else { return ("", "") }
        let (csvPath, svgPath) = paths(jsonPath: jsonPath)
        try AtomicFile.createDirectory(forFile: jsonPath)
        try AtomicFile.write(Data(csv(e).utf8), to: csvPath)
        try AtomicFile.write(Data(svg(e, title: title).utf8), to: svgPath)
        return (csvPath, svgPath)
    }

    /// The two sibling paths of a JSON output (reduce.json → reduce.inpca.csv, reduce.inpca.svg).
    public static func paths(jsonPath: String) -> (csv: String, svg: String) {
        (OutputPath.sibling(of: jsonPath, extension: "inpca.csv"), OutputPath.sibling(of: jsonPath, extension: "inpca.svg"))
    }
}
