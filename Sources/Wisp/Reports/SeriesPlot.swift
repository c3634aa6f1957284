import Foundation

/// Plain-SVG figures of time series and of a scalar field on a grid (training outputs).
public enum SeriesPlot {
    /// One curve: y (with optional ± error bars) against x.
    public struct Curve: Sendable {
        public var label: String
        public var x: [Double]
        public var y: [Double]
        public var error: [Double]?
        /// Dots at the data points of a short curve (≤ 60 points); off for a staircase, whose
        /// corners are not data.
        public var dots: Bool
        public init(label: String, x: [Double], y: [Double], error: [Double]? = nil, dots: Bool = true) {
            self.label = label
            self.x = x
            self.y = y
            self.error = error
            self.dots = dots
        }
    }

    /// One panel of curves sharing axes.
    public struct Panel: Sendable {
        public var title: String
        public var curves: [Curve]
        /// log₁₀ y axis (non-positive values are dropped).
        public var logY: Bool
        /// y is a density: its axis starts at 0.
        public var density: Bool
        /// log₁₀ x axis in decades (non-positive x are dropped).
        public var logX: Bool
        /// This panel's x axis title (default: the figure's shared one) and y axis title (default none).
        public var xLabel: String?
        public var yLabel: String?
        public init(title: String, curves: [Curve], logY: Bool = false, density: Bool = false, logX: Bool = false,
                    xLabel: String? = nil, yLabel: String? = nil) {
            self.title = title
            self.curves = curves
            self.logY = logY
            self.density = density
            self.logX = logX
            self.xLabel = xLabel
            self.yLabel = yLabel
        }
    }

    static let colors = ["#1f5fa8", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#16a085"]

    /// Panels side by side (at most `columns` per row), each with its own y range, a shared
    /// x label, and a legend from the first panel's curve labels (above the panels when there
    /// are several, in the emptiest corner of a single panel). Axes from ``PlotAxis``: integer
    /// ticks when every x is an integer (steps, k, layers), decades on a log y.
    public static func svg(title: String, panels: [Panel], xLabel: String, columns: Int = 2) -> String {
        let single = panels.count == 1
        let (pw, ph) = (single ? 720.0 : 440.0, single ? 420.0 : 310.0)
        let (left, right, top, bottom) = (84.0, 32.0, 40.0, 56.0)
        let cols = max(1, min(columns, panels.count)), rows = (panels.count + cols - 1) / cols
        let legendBand = single ? 10.0 : 50.0
        let (w, h) = (Double(cols) * pw, Double(rows) * ph + legendBand + 20)
        var s = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(w))" height="\(Int(h))" viewBox="0 0 \(Int(w)) \(Int(h))" font-family="sans-serif" font-size="11">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(w / 2)" y="20" text-anchor="middle" font-size="14">\(escape(title))</text>

        """
        let entries = (panels.first?.curves ?? []).enumerated().map { PlotLegend.Entry(label: $0.element.label, color: colors[$0.offset % colors.count]) }
        if !single {
            var x = 20.0
            for e in entries {
                s += "<line x1=\"\(x)\" y1=\"40\" x2=\"\(x + 20)\" y2=\"40\" stroke=\"\(e.color)\" stroke-width=\"2\"/>"
                s += "<text x=\"\(x + 25)\" y=\"44\">\(escape(e.label))</text>\n"
                x += 45 + 6.6 * Double(e.label.count)
            }
        }
        for (index, panel) in panels.enumerated() {
            let ox = Double(index % cols) * pw, oy = legendBand + 20 + Double(index / cols) * ph
            var xs = [Double](), ys = [Double]()
            for c in panel.curves {
                xs += c.x.filter { $0.isFinite && (!panel.logX || $0 > 0) }
                for (i, y) in c.y.enumerated() where i < c.x.count && c.x[i].isFinite && (!panel.logX || c.x[i] > 0) {
                    let e = c.error?[i] ?? 0
                    for v in [y - e, y + e] where v.isFinite && (!panel.logY || v > 0) { ys.append(v) }
                }
            }
            let integerX = !xs.isEmpty && xs.allSatisfy { $0 == $0.rounded() && abs($0) < 1e15 }
            let xAxis = PlotAxis(scale: panel.logX ? .log : integerX ? .integer : .linear, dataMin: xs.min() ?? 0, dataMax: xs.max() ?? 1, target: single ? 8 : 6)
            let yAxis = PlotAxis(scale: panel.logY ? .log : panel.density ? .density : .linear, dataMin: ys.min() ?? 0, dataMax: ys.max() ?? 1)
            let (x0, x1, y0, y1) = (ox + left, ox + pw - right, oy + ph - bottom, oy + top)
            func px(_ x: Double) -> Double { x0 + (xAxis.fraction(x) ?? 0) * (x1 - x0) }
            func py(_ y: Double) -> Double? { yAxis.fraction(y).map { y0 - $0 * (y0 - y1) } }
            s += "<text x=\"\(ox + pw / 2)\" y=\"\(oy + 25)\" text-anchor=\"middle\" font-size=\"12\">\(escape(panel.title))</text>\n"
            s += xAxis.svg(horizontal: true, at: y0, from: x0, to: x1, gridLength: y0 - y1, title: panel.xLabel ?? xLabel)
            s += yAxis.svg(horizontal: false, at: x0, from: y0, to: y1, gridLength: x1 - x0, title: panel.yLabel ?? "")
            s += "<rect x=\"\(x0)\" y=\"\(y1)\" width=\"\(x1 - x0)\" height=\"\(y0 - y1)\" fill=\"none\" stroke=\"black\"/>\n"
            if yAxis.scale == .linear, yAxis.lower < 0, yAxis.upper > 0, let zero = py(0) {
                s += "<line x1=\"\(x0)\" y1=\"\(zero)\" x2=\"\(x1)\" y2=\"\(zero)\" stroke=\"#999\" stroke-dasharray=\"3 3\"/>\n"
            }
            var drawn = [(Double, Double)]()
            for (ci, c) in panel.curves.enumerated() {
                let color = colors[ci % colors.count]
                var points = [String]()
                for (i, (x, y)) in zip(c.x, c.y).enumerated() {
                    guard x.isFinite, xAxis.fraction(x) != nil, let Y = py(y) else { continue }
                    points.append(String(format: "%.2f,%.2f", px(x), Y))
                    drawn.append((px(x), Y))
                    if let e = c.error?[i], e > 0, let lo = py(y - e) ?? py(y), let hi = py(y + e) {
                        s += String(format: "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%@\"/>", px(x), lo, px(x), hi, color)
                    }
                    if c.dots, c.x.count <= 60 {
                        s += String(format: "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"2.5\" fill=\"%@\"/>", px(x), Y, color)
                    }
                }
                s += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\" points=\"\(points.joined(separator: " "))\"/>\n"
            }
            if single {
                s += PlotLegend.svg(entries, left: x0, top: y1, right: x1, bottom: y0, points: drawn)
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
        // The cells span [x.first, x.last] × [y.first, y.last]: axes unpadded, ticks inside only.
        let xAxis = PlotAxis(scale: .linear, dataMin: x.first ?? 0, dataMax: x.last ?? 1, padded: false)
        let yAxis = PlotAxis(scale: .linear, dataMin: y.first ?? 0, dataMax: y.last ?? 1, padded: false)
        s += xAxis.svg(horizontal: true, at: h - bottom, from: left, to: w - right, gridLength: 0, title: xLabel)
        s += yAxis.svg(horizontal: false, at: left, from: h - bottom, to: top, gridLength: 0, title: yLabel)
        for i in 0..<8 {
            let yy = top + Double(7 - i) * (h - top - bottom) / 8
            s += "<rect x=\"\(w - right + 15)\" y=\"\(yy)\" width=\"15\" height=\"\((h - top - bottom) / 8)\" fill=\"\(color((Double(i) + 0.5) / 8))\"/>"
        }
        func power(_ e: Double) -> String { "10<tspan dy=\"-5\" font-size=\"8\">" + PlotAxis.minus(String(format: "%.1f", e)) + "</tspan>" }
        s += "<text x=\"\(w - right + 35)\" y=\"\(top + 10)\">\(power(hi))</text>"
        s += "<text x=\"\(w - right + 35)\" y=\"\(h - bottom)\">\(power(lo))</text>"
        s += "<text x=\"\(w - 6)\" y=\"\(top - 8)\" text-anchor=\"end\">L − min L + ε</text>\n"
        return s + "</svg>\n"
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
