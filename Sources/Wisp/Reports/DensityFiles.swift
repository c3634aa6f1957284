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

    /// A line plot of ρ against log₁₀ λ (or λ) with decade ticks, in plain SVG; `overlay` draws
    /// a second density (e.g. an estimate beside the exact one) dashed, with a legend.
    public static func svg(_ d: SpectralDensity, title: String, markers: [(label: String, value: Double)] = [],
                           overlay: (label: String, main: String, density: SpectralDensity)? = nil) -> String {
        let (w, h) = (720.0, 420.0)
        let (left, right, top, bottom) = (90.0, 20.0, 40.0, 50.0)
        let isLog = d.scale == .log
        let xs = d.grid.map { isLog ? log10($0) : $0 }
        let xMin = xs.first ?? 0, xMax = max(xs.last ?? 1, (xs.first ?? 0) + 1e-300)
        let yMax = max(d.density.max() ?? 1, overlay?.density.density.max() ?? 0, 1e-300)
        func px(_ x: Double) -> Double { left + (x - xMin) / (xMax - xMin) * (w - left - right) }
        func py(_ y: Double) -> Double { h - bottom - y / yMax * (h - top - bottom) }
        var s = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(w))" height="\(Int(h))" viewBox="0 0 \(Int(w)) \(Int(h))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(w / 2)" y="22" text-anchor="middle" font-size="14">\(escape(title))</text>
        <line x1="\(left)" y1="\(h - bottom)" x2="\(w - right)" y2="\(h - bottom)" stroke="black"/>
        <line x1="\(left)" y1="\(top)" x2="\(left)" y2="\(h - bottom)" stroke="black"/>

        """
        if isLog {
            for e in Int(ceil(xMin))...max(Int(ceil(xMin)), Int(floor(xMax))) {
                let x = px(Double(e))
                s += "<line x1=\"\(x)\" y1=\"\(h - bottom)\" x2=\"\(x)\" y2=\"\(h - bottom + 5)\" stroke=\"black\"/>"
                s += "<text x=\"\(x)\" y=\"\(h - bottom + 18)\" text-anchor=\"middle\">1e\(e)</text>\n"
            }
        } else {
            for i in 0...4 {
                let v = xMin + (xMax - xMin) * Double(i) / 4
                s += "<text x=\"\(px(v))\" y=\"\(h - bottom + 18)\" text-anchor=\"middle\">\(String(format: "%.3g", v))</text>\n"
            }
        }
        for i in 0...4 {
            let v = yMax * Double(i) / 4
            s += "<text x=\"\(left - 6)\" y=\"\(py(v) + 4)\" text-anchor=\"end\">\(String(format: "%.3g", v))</text>\n"
        }
        s += "<text x=\"\(w / 2)\" y=\"\(h - 10)\" text-anchor=\"middle\">\(isLog ? "eigenvalue λ (log scale)" : "eigenvalue λ")</text>\n"
        s += "<text transform=\"translate(18 \(h / 2)) rotate(-90)\" text-anchor=\"middle\">density per unit \(isLog ? "log10 λ" : "λ")</text>\n"
        let path = zip(xs, d.density).map { String(format: "%.2f,%.2f", px($0), py($1)) }.joined(separator: " ")
        s += "<polyline fill=\"none\" stroke=\"#1f5fa8\" stroke-width=\"1.5\" points=\"\(path)\"/>\n"
        if let overlay {
            let ox = overlay.density.grid.map { isLog ? log10($0) : $0 }
            let points = zip(ox, overlay.density.density).filter { $0.0 >= xMin && $0.0 <= xMax }
                .map { String(format: "%.2f,%.2f", px($0.0), py($0.1)) }.joined(separator: " ")
            s += "<polyline fill=\"none\" stroke=\"#e67e22\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\" points=\"\(points)\"/>\n"
            s += "<line x1=\"\(left + 12)\" y1=\"\(top + 10)\" x2=\"\(left + 40)\" y2=\"\(top + 10)\" stroke=\"#1f5fa8\" stroke-width=\"1.5\"/>"
            s += "<text x=\"\(left + 46)\" y=\"\(top + 14)\">\(escape(overlay.main))</text>\n"
            s += "<line x1=\"\(left + 12)\" y1=\"\(top + 26)\" x2=\"\(left + 40)\" y2=\"\(top + 26)\" stroke=\"#e67e22\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\"/>"
            s += "<text x=\"\(left + 46)\" y=\"\(top + 30)\">\(escape(overlay.label))</text>\n"
        }
        for m in markers where m.value > 0 {
            let v = isLog ? log10(m.value) : m.value
            guard v >= xMin, v <= xMax else { continue }
            s += "<line x1=\"\(px(v))\" y1=\"\(top)\" x2=\"\(px(v))\" y2=\"\(h - bottom)\" stroke=\"#c0392b\" stroke-dasharray=\"4 3\"/>"
            s += "<text x=\"\(px(v) - 4)\" y=\"\(top + 28)\" text-anchor=\"end\" fill=\"#c0392b\">\(escape(m.label))</text>\n"
        }
        s += "<text x=\"\(w - right)\" y=\"\(top - 4)\" text-anchor=\"end\" font-size=\"11\">not shown: zero mass \(String(format: "%.6g", d.zeroMass))</text>\n"
        s += "</svg>\n"
        return s
    }

    private static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
