import Foundation

/// Layerwise alignments as CSV and as an SVG chart (bars of A_l with ±1 standard-error bars, the
/// peak layer highlighted, the stable rank as a line on its own axis), in the style of
/// ``DensityFiles``.
public enum AlignmentFiles {
    /// One row per layer; a last column `name` (the state-dict prefix) on networks given as layers.
    public static func csv(_ r: AlignResult) -> String {
        let named = r.layers.contains { $0.name != nil }
        var s = "layer,parameters,alignment,alignment_standard_error,stable_rank,stable_rank_standard_error,lambda_max,lambda_max_residual,forward_alignment,backward_alignment\(named ? ",name" : "")\n"
        for l in r.layers {
            s += "\(l.layer),\(l.parameters),\(l.alignment),\(l.alignmentStandardError),\(l.stableRank),\(l.stableRankStandardError),"
            s += "\(l.lambdaMax),\(l.lambdaMaxResidual),\(l.forwardAlignment.map { "\($0)" } ?? ""),\(l.backwardAlignment.map { "\($0)" } ?? "")"
            s += named ? ",\(l.name ?? "")\n" : "\n"
        }
        return s
    }

    public static func svg(_ r: AlignResult, title: String) -> String {
        let (w, h) = (720.0, 420.0)
        let (left, right, top, bottom) = (70.0, 70.0, 40.0, 50.0)
        let n = max(r.layers.count, 1)
        let slot = (w - left - right) / Double(n)
        let aAxis = PlotAxis(scale: .density, dataMin: 0,
                             dataMax: r.layers.map { $0.alignment.isFinite ? $0.alignment + $0.alignmentStandardError : 0 }.max() ?? 1)
        let ranks = r.layers.map(\.stableRank).filter(\.isFinite)
        let rAxis = PlotAxis(scale: .density, dataMin: 0, dataMax: ranks.max() ?? 1)
        func px(_ i: Int) -> Double { left + (Double(i) + 0.5) * slot }
        func py(_ a: Double) -> Double { h - bottom - (aAxis.fraction(max(a, 0)) ?? 0) * (h - top - bottom) }
        func pr(_ v: Double) -> Double { h - bottom - (rAxis.fraction(max(v, 0)) ?? 0) * (h - top - bottom) }
        var s = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(w))" height="\(Int(h))" viewBox="0 0 \(Int(w)) \(Int(h))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(w / 2)" y="22" text-anchor="middle" font-size="14">\(escape(title))</text>
        <line x1="\(left)" y1="\(h - bottom)" x2="\(w - right)" y2="\(h - bottom)" stroke="black"/>
        <line x1="\(left)" y1="\(top)" x2="\(left)" y2="\(h - bottom)" stroke="black"/>
        <line x1="\(w - right)" y1="\(top)" x2="\(w - right)" y2="\(h - bottom)" stroke="#888"/>

        """
        s += aAxis.svg(horizontal: false, at: left, from: h - bottom, to: top, gridLength: w - left - right, title: "")
        s += rAxis.svg(horizontal: false, at: w - right, from: h - bottom, to: top, gridLength: 0, title: "", mirrored: true, color: "#888")
        for (i, l) in r.layers.enumerated() {
            let x = px(i), bw = slot * 0.6
            let color = l.layer == r.peakLayer ? "#c0392b" : "#1f5fa8"
            if l.alignment.isFinite {
                s += "<rect x=\"\(x - bw / 2)\" y=\(quote(py(l.alignment))) width=\"\(bw)\" height=\(quote(h - bottom - py(l.alignment))) fill=\"\(color)\"/>"
                if l.alignmentStandardError > 0 {
                    let (lo, hi) = (py(l.alignment - l.alignmentStandardError), py(l.alignment + l.alignmentStandardError))
                    s += "<line x1=\"\(x)\" y1=\(quote(lo)) x2=\"\(x)\" y2=\(quote(hi)) stroke=\"black\"/>"
                }
            }
            s += "<text x=\"\(x)\" y=\"\(h - bottom + 18)\" text-anchor=\"middle\">\(l.layer)</text>\n"
        }
        let line = r.layers.enumerated().filter { $0.element.stableRank.isFinite }
            .map { String(format: "%.2f,%.2f", px($0.offset), pr($0.element.stableRank)) }.joined(separator: " ")
        s += "<polyline fill=\"none\" stroke=\"#888\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\" points=\"\(line)\"/>\n"
        s += "<text x=\"\(w / 2)\" y=\"\(h - 10)\" text-anchor=\"middle\">layer l (peak \(r.peakLayer) in red)</text>\n"
        s += "<text transform=\"translate(18 \(h / 2)) rotate(-90)\" text-anchor=\"middle\">alignment A_l (bars, ±1 s.e.)</text>\n"
        s += "<text transform=\"translate(\(w - 12) \(h / 2)) rotate(90)\" text-anchor=\"middle\" fill=\"#888\">stable rank of C K_l C (dashed)</text>\n"
        s += "</svg>\n"
        return s
    }

    /// Writes `<path>.csv` and `<path>.svg` beside the JSON path, atomically; returns their paths
    /// (empty strings, nothing written, when the JSON goes to stdout: `-`).
    public static func write(_ r: AlignResult, jsonPath: String, title: String) throws -> (csv: String, svg: String) {
        let csvPath = OutputPath.sibling(of: jsonPath, extension: "csv"), svgPath = OutputPath.sibling(of: jsonPath, extension: "svg")
        guard !OutputPath.isStandardOutput(jsonPath) else { return ("", "") }   // JSON on stdout: no files beside it
        try AtomicFile.createDirectory(forFile: jsonPath)
        try AtomicFile.write(Data(csv(r).utf8), to: csvPath)
        try AtomicFile.write(Data(svg(r, title: title).utf8), to: svgPath)
        return (csvPath, svgPath)
    }

    private static func quote(_ x: Double) -> String { "\"\(String(format: "%.2f", x))\"" }

    private static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
