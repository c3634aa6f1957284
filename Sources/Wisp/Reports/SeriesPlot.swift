import Foundation

/// Plain-SVG figures of time series and of a scalar field on a grid (training outputs).
public enum SeriesPlot {
    /// One curve: y (with optional ± error bars) against x.
    public struct Curve: Sendable {
        public var label: String
        public var x: [Double]
        public var y: [Double]
        public var error: [Double]?
        public init(label: String, x: [Double], y: [Double], error: [Double]? = nil) {
            self.label = label
            self.x = x
            self.y = y
            self.error = error
        }
    }

    /// One panel of curves sharing axes.
    public struct Panel: Sendable {
        public var title: String
        public var curves: [Curve]
        /// log₁₀ y axis (non-positive values are dropped).
        public var logY: Bool
        public init(title: String, curves: [Curve], logY: Bool = false) {
            self.title = title
            self.curves = curves
            self.logY = logY
        }
    }

    static let colors = ["#1f5fa8", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#16a085"]

    /// Panels side by side (at most `columns` per row), each with its own y range, a shared
    /// x label, and a legend from the first panel's curve labels.
    public static func svg(title: String, panels: [Panel], xLabel: String, columns: Int = 2) -> String {
        let (pw, ph) = (panels.count == 1 ? 720.0 : 420.0, panels.count == 1 ? 420.0 : 300.0)
        let (left, right, top, bottom) = (80.0, 20.0, 40.0, 45.0)
        let cols = max(1, min(columns, panels.count)), rows = (panels.count + cols - 1) / cols
        let (w, h) = (Double(cols) * pw, Double(rows) * ph + 50)
        var s = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(w))" height="\(Int(h))" viewBox="0 0 \(Int(w)) \(Int(h))" font-family="sans-serif" font-size="11">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(w / 2)" y="20" text-anchor="middle" font-size="14">\(escape(title))</text>

        """
        if let first = panels.first {
            for (i, c) in first.curves.enumerated() {
                let x = 20 + Double(i) * 160
                s += "<line x1=\"\(x)\" y1=\"36\" x2=\"\(x + 20)\" y2=\"36\" stroke=\"\(colors[i % colors.count])\" stroke-width=\"2\"/>"
                s += "<text x=\"\(x + 25)\" y=\"40\">\(escape(c.label))</text>\n"
            }
        }
        for (index, panel) in panels.enumerated() {
            let ox = Double(index % cols) * pw, oy = 50 + Double(index / cols) * ph
            func ty(_ y: Double) -> Double? { panel.logY ? (y > 0 ? log10(y) : nil) : y }
            var xs = [Double](), ys = [Double]()
            for c in panel.curves {
                xs += c.x
                for (i, y) in c.y.enumerated() {
                    let e = c.error?[i] ?? 0
                    for v in [y - e, y + e] { if let t = ty(v), t.isFinite { ys.append(t) } }
                }
            }
            let xMin = xs.min() ?? 0, xMax = max(xs.max() ?? 1, (xs.min() ?? 0) + 1e-12)
            var yMin = ys.min() ?? 0, yMax = ys.max() ?? 1
            if yMax - yMin < 1e-300 { yMin -= 0.5; yMax += 0.5 }
            let pad = 0.05 * (yMax - yMin)
            (yMin, yMax) = (yMin - pad, yMax + pad)
            func px(_ x: Double) -> Double { ox + left + (x - xMin) / (xMax - xMin) * (pw - left - right) }
            func py(_ y: Double) -> Double { oy + ph - bottom - (y - yMin) / (yMax - yMin) * (ph - top - bottom) }
            s += "<text x=\"\(ox + pw / 2)\" y=\"\(oy + 25)\" text-anchor=\"middle\" font-size=\"12\">\(escape(panel.title))</text>\n"
            s += "<line x1=\"\(ox + left)\" y1=\"\(oy + ph - bottom)\" x2=\"\(ox + pw - right)\" y2=\"\(oy + ph - bottom)\" stroke=\"black\"/>"
            s += "<line x1=\"\(ox + left)\" y1=\"\(oy + top)\" x2=\"\(ox + left)\" y2=\"\(oy + ph - bottom)\" stroke=\"black\"/>\n"
            for i in 0...4 {
                let xv = xMin + (xMax - xMin) * Double(i) / 4, yv = yMin + (yMax - yMin) * Double(i) / 4
                s += "<text x=\"\(px(xv))\" y=\"\(oy + ph - bottom + 15)\" text-anchor=\"middle\">\(String(format: "%.4g", xv))</text>"
                let label = String(format: "%.3g", panel.logY ? pow(10, yv) : yv)
                s += "<text x=\"\(ox + left - 5)\" y=\"\(py(yv) + 4)\" text-anchor=\"end\">\(label)</text>\n"
            }
            s += "<text x=\"\(ox + pw / 2)\" y=\"\(oy + ph - 12)\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
            if !panel.logY, yMin < 0, yMax > 0 {
                s += "<line x1=\"\(ox + left)\" y1=\"\(py(0))\" x2=\"\(ox + pw - right)\" y2=\"\(py(0))\" stroke=\"#999\" stroke-dasharray=\"3 3\"/>\n"
            }
            for (ci, c) in panel.curves.enumerated() {
                let color = colors[ci % colors.count]
                var points = [String]()
                for (i, (x, y)) in zip(c.x, c.y).enumerated() {
                    guard let t = ty(y), t.isFinite else { continue }
                    points.append(String(format: "%.2f,%.2f", px(x), py(t)))
                    if let e = c.error?[i], e > 0, let lo = ty(y - e) ?? ty(y), let hi = ty(y + e) {
                        s += String(format: "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%@\"/>", px(x), py(lo), px(x), py(hi), color)
                    }
                    if c.x.count <= 60 {
                        s += String(format: "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"2.5\" fill=\"%@\"/>", px(x), py(t), color)
                    }
                }
                s += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\" points=\"\(points.joined(separator: " "))\"/>\n"
            }
        }
        return s + "</svg>\n"
    }

    /// A heat map of z on a regular (x, y) grid (z row-major: index iy·nx + ix) with contour
    /// levels drawn as cell colours on a log scale of z − min z (a loss surface: Jacot et al. Fig. 3).
    public static func heatMap(title: String, x: [Double], y: [Double], z: [Double], xLabel: String, yLabel: String) -> String {
        let (w, h) = (560.0, 520.0)
        let (left, right, top, bottom) = (70.0, 90.0, 40.0, 50.0)
        let nx = x.count, ny = y.count
        // log₁₀(L − min L + ε), ε = 10⁻⁴ of the range: the minimum cell would otherwise sit at
        // log 0 and squeeze every other level into the top band.
        let zMin = z.min() ?? 0, zRange = max((z.max() ?? 0) - zMin, 1e-300)
        let shifted = z.map { log10($0 - zMin + 1e-4 * zRange) }
        let lo = shifted.min() ?? 0, hi = max(shifted.max() ?? 1, lo + 1e-12)
        let cw = (w - left - right) / Double(max(nx, 1)), ch = (h - top - bottom) / Double(max(ny, 1))
        var s = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(w))" height="\(Int(h))" viewBox="0 0 \(Int(w)) \(Int(h))" font-family="sans-serif" font-size="11">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(w / 2)" y="22" text-anchor="middle" font-size="14">\(escape(title))</text>

        """
        func color(_ t: Double) -> String {
            // Dark blue (low) → yellow (high), 8 discrete bands so the bands read as contours.
            let q = (t * 8).rounded(.down) / 8
            let r = Int(20 + 235 * q), g = Int(30 + 200 * q), b = Int(120 * (1 - q) + 30)
            return String(format: "#%02x%02x%02x", min(r, 255), min(g, 255), min(b, 255))
        }
        for iy in 0..<ny {
            for ix in 0..<nx {
                let t = (shifted[iy * nx + ix] - lo) / (hi - lo)
                s += String(format: "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%@\"/>",
                            left + Double(ix) * cw, h - bottom - Double(iy + 1) * ch, cw + 0.5, ch + 0.5, color(t))
            }
            s += "\n"
        }
        for i in 0...4 {
            let fx = Double(i) / 4
            let xv = (x.first ?? 0) + fx * ((x.last ?? 1) - (x.first ?? 0)), yv = (y.first ?? 0) + fx * ((y.last ?? 1) - (y.first ?? 0))
            s += "<text x=\"\(left + fx * (w - left - right))\" y=\"\(h - bottom + 15)\" text-anchor=\"middle\">\(String(format: "%.3g", xv))</text>"
            s += "<text x=\"\(left - 5)\" y=\"\(h - bottom - fx * (h - top - bottom) + 4)\" text-anchor=\"end\">\(String(format: "%.3g", yv))</text>\n"
        }
        s += "<text x=\"\((w - right + left) / 2)\" y=\"\(h - 15)\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
        s += "<text transform=\"translate(18 \(h / 2)) rotate(-90)\" text-anchor=\"middle\">\(escape(yLabel))</text>\n"
        for i in 0..<8 {
            let yy = top + Double(7 - i) * (h - top - bottom) / 8
            s += "<rect x=\"\(w - right + 15)\" y=\"\(yy)\" width=\"15\" height=\"\((h - top - bottom) / 8)\" fill=\"\(color((Double(i) + 0.5) / 8))\"/>"
        }
        s += "<text x=\"\(w - right + 35)\" y=\"\(top + 10)\">1e\(String(format: "%.2g", hi))</text>"
        s += "<text x=\"\(w - right + 35)\" y=\"\(h - bottom)\">1e\(String(format: "%.2g", lo))</text>"
        s += "<text x=\"\(w - right + 5)\" y=\"\(top - 8)\">L − min L + ε</text>\n"
        return s + "</svg>\n"
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
