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

    /// One curve of a density plot.
    public struct Curve: Sendable {
        public var label: String
        public var density: SpectralDensity
        /// An SVG colour, e.g. "#1f5fa8".
        public var color: String
        public var dashed: Bool
        public init(label: String, density: SpectralDensity, color: String, dashed: Bool = false) {
            self.label = label
            self.density = density
            self.color = color
            self.dashed = dashed
        }
    }

    /// A line plot of ρ against λ on a log (decades, minor ticks) or linear axis, ρ from 0, in
    /// plain SVG (axes from ``PlotAxis``). `markers` (λ_max, deflated outliers) are drawn as
    /// labelled dashed vertical lines, the x range widened to hold them; `overlay` draws a second
    /// density (e.g. an estimate beside the exact one) dashed, with a legend in the emptiest corner.
    public static func svg(_ d: SpectralDensity, title: String, markers: [(label: String, value: Double)] = [],
                           overlay: (label: String, main: String, density: SpectralDensity)? = nil) -> String {
        var curves = [Curve(label: overlay?.main ?? "", density: d, color: "#1f5fa8")]
        if let overlay { curves.append(Curve(label: overlay.label, density: overlay.density, color: "#e67e22", dashed: true)) }
        return svg(curves: curves, title: title, markers: markers,
                   note: "not shown: zero mass \(String(format: "%.6g", d.zeroMass))")
    }

    /// Several densities on one axis (the first one's grid scale), in the order given, with a
    /// legend in the emptiest corner when there are two or more, `markers` as above and `note`
    /// above the plot's top right corner. `logDensity`: ρ on decades, `decades` of them below the
    /// largest value (a Hessian's spike at 0 beside outliers of mass 1/P), lower values at the floor.
    public static func svg(curves: [Curve], title: String, markers: [(label: String, value: Double)] = [],
                           note: String? = nil, logDensity: Bool = false, decades: Double = 8) -> String {
        let (w, h) = (720.0, 440.0)
        let (left, right, top, bottom) = (90.0, 32.0, 44.0, 56.0)
        let isLog = curves.first?.density.scale == .log
        let shown = markers.filter { $0.value.isFinite && (!isLog || $0.value > 0) }
        let xData = (curves.flatMap(\.density.grid) + shown.map(\.value)).filter { $0.isFinite && (!isLog || $0 > 0) }
        let x = PlotAxis(scale: isLog ? .log : .linear, dataMin: xData.min() ?? 1, dataMax: xData.max() ?? 1, target: 7)
        let yMax = curves.flatMap { $0.density.density.filter(\.isFinite) }.max() ?? 0
        let y = logDensity && yMax > 0 ? PlotAxis(scale: .log, dataMin: yMax * pow(10, -decades), dataMax: yMax)
                                       : PlotAxis(scale: .density, dataMin: 0, dataMax: yMax)
        func px(_ v: Double) -> Double? { x.fraction(v).map { left + $0 * (w - left - right) } }
        func py(_ v: Double) -> Double { h - bottom - min(max(y.fraction(max(v, 0)) ?? 0, 0), 1) * (h - top - bottom) }
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
        for c in curves {
            let points = zip(c.density.grid, c.density.density).compactMap { (l, r) -> (Double, Double)? in
                guard let X = px(l), r.isFinite else { return nil }
                return (X, py(r))
            }
            drawn += points
            s += "<polyline fill=\"none\" stroke=\"\(c.color)\" stroke-width=\"1.5\"\(c.dashed ? " stroke-dasharray=\"5 3\"" : "") points=\"\(points.map { String(format: "%.2f,%.2f", $0.0, $0.1) }.joined(separator: " "))\"/>\n"
        }
        for (i, m) in shown.enumerated() {
            guard let X = px(m.value) else { continue }
            let label = m.label + " = " + PlotAxis.compact(m.value)
            let width = 6.5 * Double(label.count)
            let toLeft = X + 4 + width > w - right, ly = top + 14 + 14 * Double(i % max(1, Int((h - top - bottom - 20) / 14)))
            s += String(format: "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#c0392b\" stroke-dasharray=\"4 3\"/>", X, top, X, h - bottom)
            s += String(format: "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"%@\" fill=\"#c0392b\" font-size=\"11\" stroke=\"white\" stroke-width=\"3\" paint-order=\"stroke\">%@</text>\n",
                        toLeft ? X - 4 : X + 4, ly, toLeft ? "end" : "start", escape(label))
            // The label's extent, so that the legend avoids it as it avoids the curves.
            for dx in stride(from: 0.0, through: width, by: 4) { drawn.append((toLeft ? X - 4 - dx : X + 4 + dx, ly - 4)) }
        }
        if curves.count >= 2 {
            s += PlotLegend.svg(curves.map { .init(label: $0.label, color: $0.color, dashed: $0.dashed) },
                                left: left, top: top, right: w - right, bottom: h - bottom, points: drawn)
        }
        if let note { s += "<text x=\"\(w - right)\" y=\"\(top - 6)\" text-anchor=\"end\" font-size=\"11\">\(escape(note))</text>\n" }
        s += "</svg>\n"
        return s
    }

    private static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
