import Foundation

/// The layerwise alignments through training (`wisp train --measure align`) as CSV (one row per
/// checkpoint and layer) and as an SVG in the style of Lou et al. Fig. 2: A_l against the layer
/// for the checkpoints (light → dark with the step), and A_l against the step for every layer.
public enum AlignmentSeriesFiles {
    /// `step,layer,…` rows for the checkpoints that carry an alignment.
    public static func csv(_ series: [CheckpointRecord]) -> String {
        var s = "step,layer,alignment,alignment_standard_error,stable_rank,stable_rank_standard_error,lambda_max,centered_frobenius_norm,method,is_peak\n"
        for r in series {
            guard let a = r.alignment else { continue }
            for l in a.layers {
                s += "\(r.step),\(l.layer),\(l.alignment),\(l.alignmentStandardError),\(l.stableRank),\(l.stableRankStandardError),"
                s += "\(l.lambdaMax),\(l.centeredFrobeniusNorm),\(a.method),\(l.layer == a.peakLayer ? 1 : 0)\n"
            }
        }
        return s
    }

    /// Two panels side by side; nil when no checkpoint carries an alignment.
    public static func svg(_ series: [CheckpointRecord], title: String) -> String? {
        let points = series.compactMap { r in r.alignment.map { (step: r.step, a: $0) } }
        guard let first = points.first else { return nil }
        let layers = first.a.layers.map(\.layer)
        let (pw, ph) = (480.0, 380.0), (left, right, top, bottom) = (70.0, 40.0, 50.0, 50.0)
        let (w, h) = (2 * pw, ph + 40)
        let values = points.flatMap { $0.a.layers.map { $0.alignment + $0.alignmentStandardError } }.filter(\.isFinite)
        let lows = points.flatMap { $0.a.layers.map { $0.alignment - $0.alignmentStandardError } }.filter(\.isFinite)
        let yAxis = PlotAxis(scale: .linear, dataMin: min(0, lows.min() ?? 0), dataMax: max(values.max() ?? 1, 1e-12))
        var s = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(w))" height="\(Int(h))" viewBox="0 0 \(Int(w)) \(Int(h))" font-family="sans-serif" font-size="11">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(w / 2)" y="20" text-anchor="middle" font-size="14">\(SeriesPlot.escape(title))</text>

        """
        /// Early checkpoints light, late ones dark blue.
        func shade(_ t: Double) -> String {
            String(format: "#%02x%02x%02x", Int(200 - 180 * t), Int(220 - 170 * t), Int(240 - 100 * t))
        }
        /// One hue per layer, red (first) → violet (last).
        func hue(_ t: Double) -> String {
            let h = 300 * t, x = 1 - abs((h / 60).truncatingRemainder(dividingBy: 2) - 1)
            let (r, g, b): (Double, Double, Double) = switch Int(h / 60) {
            case 0: (1, x, 0)
            case 1: (x, 1, 0)
            case 2: (0, 1, x)
            case 3: (0, x, 1)
            default: (x, 0, 1)
            }
            return String(format: "#%02x%02x%02x", Int(200 * r), Int(170 * g), Int(200 * b))
        }
        func panel(_ index: Int, title: String, xLabel: String, xs: [Double], curves: [(label: String, color: String, x: [Double], y: [Double], e: [Double])]) {
            let ox = Double(index) * pw
            // Layers and steps are integers: integer ticks only (PlotAxis).
            let xAxis = PlotAxis(scale: .integer, dataMin: xs.min() ?? 0, dataMax: xs.max() ?? 1)
            let (x0, x1, y0, y1) = (ox + left, ox + pw - right, 40 + ph - bottom, 40 + top)
            func px(_ x: Double) -> Double { x0 + (xAxis.fraction(x) ?? 0) * (x1 - x0) }
            func py(_ y: Double) -> Double { y0 - (yAxis.fraction(y) ?? 0) * (y0 - y1) }
            s += "<text x=\"\(ox + pw / 2)\" y=\"\(40 + 25)\" text-anchor=\"middle\" font-size=\"12\">\(SeriesPlot.escape(title))</text>\n"
            s += xAxis.svg(horizontal: true, at: y0, from: x0, to: x1, gridLength: y0 - y1, title: "")
            s += yAxis.svg(horizontal: false, at: x0, from: y0, to: y1, gridLength: x1 - x0, title: "")
            s += "<rect x=\"\(x0)\" y=\"\(y1)\" width=\"\(x1 - x0)\" height=\"\(y0 - y1)\" fill=\"none\" stroke=\"black\"/>\n"
            s += "<text x=\"\(ox + pw / 2)\" y=\"\(h - 8)\" text-anchor=\"middle\">\(SeriesPlot.escape(xLabel))</text>\n"
            s += "<text transform=\"translate(\(ox + 16) \(40 + ph / 2)) rotate(-90)\" text-anchor=\"middle\">A_l</text>\n"
            for c in curves {
                var line = [String]()
                for (i, (x, y)) in zip(c.x, c.y).enumerated() where y.isFinite {
                    line.append(String(format: "%.2f,%.2f", px(x), py(y)))
                    if c.e[i] > 0 {
                        s += String(format: "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%@\"/>", px(x), py(y - c.e[i]), px(x), py(y + c.e[i]), c.color)
                    }
                    if c.x.count <= 60 { s += String(format: "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"2\" fill=\"%@\"/>", px(x), py(y), c.color) }
                }
                s += "<polyline fill=\"none\" stroke=\"\(c.color)\" stroke-width=\"1.5\" points=\"\(line.joined(separator: " "))\"/>"
                if let x = c.x.last, let y = c.y.last, y.isFinite {
                    s += String(format: "<text x=\"%.2f\" y=\"%.2f\" fill=\"%@\" font-size=\"9\">%@</text>", px(x) + 4, py(y) + 3, c.color, SeriesPlot.escape(c.label))
                }
                s += "\n"
            }
        }
        // Left: at most 8 checkpoints, evenly spread, always the first and the last.
        let n = points.count, shown = n <= 8 ? Array(0..<n) : (0..<8).map { Int((Double($0) * Double(n - 1) / 7).rounded()) }
        panel(0, title: "A_l against the layer (light: early, dark: late checkpoints)", xLabel: "layer l",
              xs: layers.map(Double.init), curves: shown.map { i in
                  let p = points[i]
                  return ("step \(p.step)", shade(n > 1 ? Double(i) / Double(n - 1) : 1), p.a.layers.map { Double($0.layer) },
                          p.a.layers.map(\.alignment), p.a.layers.map(\.alignmentStandardError))
              })
        panel(1, title: "A_l against the step, one curve per layer", xLabel: "step", xs: points.map { Double($0.step) },
              curves: layers.indices.map { j in
                  ("l=\(layers[j])", hue(layers.count > 1 ? Double(j) / Double(layers.count - 1) : 0), points.map { Double($0.step) },
                   points.map { $0.a.layers[j].alignment }, points.map { $0.a.layers[j].alignmentStandardError })
              })
        return s + "</svg>\n"
    }
}
