import Foundation

/// A spectral density as CSV and as an SVG plot, both written atomically.
public enum DensityFiles {
    /// Columns `lambda,density`, the names on the first line (numpy `genfromtxt(names=True)`,
    /// pandas `read_csv` read it as is): density per unit λ or per unit log₁₀ λ as the JSON's
    /// `grid_scale` says, which also holds the zero mass and the method.
    public static func csv(_ d: SpectralDensity) -> String {
        var s = "lambda,density\n"
        for (x, y) in zip(d.grid, d.density) { s += "\(x),\(y)\n" }
        return s
    }

    /// Every eigenvalue of the exact path, descending, one per line under the header
    /// `eigenvalue` (shortest round-trip decimal: each line reads back as the same double).
    public static func eigenvaluesCSV(_ values: [Double]) -> String {
        var s = "eigenvalue\n"
        s.reserveCapacity(values.count * 24)
        for v in values { s += "\(v)\n" }
        return s
    }

    /// A line plot of ρ against λ on a log (decades, minor ticks) or linear axis, ρ from 0, in
    /// plain SVG (axes from ``PlotAxis``). `markers` (λ_max, deflated outliers) are drawn as
    /// labelled dashed vertical lines, the x range widened to hold them; `overlay` draws a second
    /// density (e.g. an estimate beside the exact one) dashed, with a legend in the emptiest corner.
    public static func svg(_ d: SpectralDensity, title: String, markers: [(label: String, value: Double)] = [],
                           overlay: (label: String, main: String, density: SpectralDensity)? = nil) -> String {
        let (w, h) = (720.0, 440.0)
        let (left, right, top, bottom) = (90.0, 32.0, 44.0, 56.0)
        let isLog = d.scale == .log
        let shown = markers.filter { $0.value.isFinite && (!isLog || $0.value > 0) }
        let xData = (d.grid + shown.map(\.value)).filter { $0.isFinite && (!isLog || $0 > 0) }
        let x = PlotAxis(scale: isLog ? .log : .linear, dataMin: xData.min() ?? 1, dataMax: xData.max() ?? 1, target: 7)
        let yMax = max(d.density.filter(\.isFinite).max() ?? 0, overlay?.density.density.filter(\.isFinite).max() ?? 0)
        let y = PlotAxis(scale: .density, dataMin: 0, dataMax: yMax)
        func px(_ v: Double) -> Double? { x.fraction(v).map { left + $0 * (w - left - right) } }
        func py(_ v: Double) -> Double { h - bottom - (y.fraction(max(v, 0)) ?? 0) * (h - top - bottom) }
        var s = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(w))" height="\(Int(h))" viewBox="0 0 \(Int(w)) \(Int(h))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(w / 2)" y="20" text-anchor="middle" font-size="13">\(escape(title))</text>

        """
        s += x.svg(horizontal: true, at: h - bottom, from: left, to: w - right, gridLength: h - top - bottom, title: "eigenvalue λ")
        s += y.svg(horizontal: false, at: left, from: h - bottom, to: top, gridLength: w - left - right,
                   title: "density per unit \(isLog ? "log₁₀ λ" : "λ")")
        s += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(w - left - right)\" height=\"\(h - top - bottom)\" fill=\"none\" stroke=\"black\"/>\n"
        var drawn = [(Double, Double)]()
        func polyline(_ density: SpectralDensity, _ style: String) -> String {
            let points = zip(density.grid, density.density).compactMap { (l, r) -> (Double, Double)? in
                guard let X = px(l), r.isFinite else { return nil }
                return (X, py(r))
            }
            drawn += points
            return "<polyline fill=\"none\" \(style) points=\"\(points.map { String(format: "%.2f,%.2f", $0.0, $0.1) }.joined(separator: " "))\"/>\n"
        }
        s += polyline(d, "stroke=\"#1f5fa8\" stroke-width=\"1.5\"")
        if let overlay {
            s += polyline(overlay.density, "stroke=\"#e67e22\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\"")
        }
        for (i, m) in shown.enumerated() {
            guard let X = px(m.value) else { continue }
            let label = m.label + " = " + String(format: "%.4g", m.value)
            let toLeft = X > left + 0.6 * (w - left - right), ly = top + 14 + 14 * Double(i % 6)
            s += String(format: "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#c0392b\" stroke-dasharray=\"4 3\"/>", X, top, X, h - bottom)
            s += String(format: "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"%@\" fill=\"#c0392b\" font-size=\"11\">%@</text>\n",
                        toLeft ? X - 4 : X + 4, ly, toLeft ? "end" : "start", escape(label))
            drawn.append((toLeft ? X - 60 : X + 60, ly))
        }
        if let overlay {
            s += PlotLegend.svg([.init(label: overlay.main, color: "#1f5fa8"), .init(label: overlay.label, color: "#e67e22", dashed: true)],
                                left: left, top: top, right: w - right, bottom: h - bottom, points: drawn)
        }
        s += "<text x=\"\(w - right)\" y=\"\(top - 6)\" text-anchor=\"end\" font-size=\"11\">not shown: zero mass \(String(format: "%.6g", d.zeroMass))</text>\n"
        s += "</svg>\n"
        return s
    }

    private static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
