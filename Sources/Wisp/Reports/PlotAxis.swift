import Foundation

/// One axis of an SVG figure: its range, its ticks and their labels.
///
/// Linear axes take Heckbert's "nice numbers" (Graphics Gems I, 1990, "Nice numbers for graph
/// labels"): the tick step is the 1-2-5 × 10ᵏ number nearest to span / (target − 1), the range is
/// padded out to the first and last tick, and labels carry exactly the decimals the step needs
/// (0.2, never 0.2000000001; computed as i·step from an integer i, so no float noise). Labels
/// switch to m×10ᵏ when the largest |tick| is ≥ 10⁴ or < 10⁻³. Integer axes (a layer, k, a step)
/// take a step of at least 1 and integer ticks only. A density axis starts at 0. A log axis has
/// its range in log₁₀ units, padded out to whole decades, major ticks at 10ᵏ (every second or
/// more decade labelled when there are many) and minor ticks at 2…9 × 10ᵏ.
/// Cost: O(number of ticks).
public struct PlotAxis: Sendable, Equatable {
    public enum Scale: Sendable, Equatable {
        /// Any real value.
        case linear
        /// Integer data (layer, k, step): integer ticks only.
        case integer
        /// log₁₀ of positive data.
        case log
        /// A density: never below 0.
        case density
    }

    /// One tick: `position` in axis coordinates (log₁₀ of the value on a log axis), `text` and
    /// an optional superscript `exponent` (drawn with a `<tspan>`); minor ticks have no label.
    public struct Tick: Sendable, Equatable {
        public var position: Double
        public var text: String
        public var exponent: String?
        public var isMajor: Bool
        /// The label as one plain string, `10^−4` or `2×10^4` for a superscript.
        public var label: String { exponent.map { "\(text)^\($0)" } ?? text }
    }

    public let scale: Scale
    /// The padded range in axis coordinates (log₁₀ units on a log axis).
    public let lower: Double
    public let upper: Double
    public let ticks: [Tick]

    /// The labelled ticks' labels, in order (what a reader sees).
    public var labels: [String] { ticks.filter { $0.isMajor && !$0.text.isEmpty }.map(\.label) }

    /// An axis covering data in [dataMin, dataMax] (data units, positive on a log axis) with about
    /// `target` major ticks. Non-finite or empty ranges fall back to a unit range around the value.
    /// `padded: false` keeps the range at [dataMin, dataMax] and only the ticks inside it (a
    /// heat map whose cells fill the data range).
    public init(scale: Scale, dataMin: Double, dataMax: Double, target: Int = 6, padded: Bool = true) {
        self.scale = scale
        var lo = Swift.min(dataMin, dataMax), hi = Swift.max(dataMin, dataMax)
        if scale == .log {
            lo = lo > 0 && lo.isFinite ? log10(lo) : 0
            hi = hi > 0 && hi.isFinite ? log10(hi) : lo + 1
            let first = Int(floor(lo + 1e-9)), last = Swift.max(Int(ceil(hi - 1e-9)), first + 1)
            let every = Swift.max(1, Int(ceil(Double(last - first) / Double(Swift.max(target + 2, 2)))))
            var ticks = [Tick]()
            for k in first...last {
                let labelled = (k - first) % every == 0
                ticks.append(Tick(position: Double(k), text: labelled ? "10" : "",
                                  exponent: labelled ? PlotAxis.minus("\(k)") : nil, isMajor: true))
                if k < last, every == 1 || last - first <= 12 {
                    for m in 2...9 { ticks.append(Tick(position: Double(k) + log10(Double(m)), text: "", exponent: nil, isMajor: false)) }
                }
            }
            (lower, upper, self.ticks) = (Double(first), Double(last), ticks)
            return
        }
        if !lo.isFinite || !hi.isFinite { (lo, hi) = (0, 1) }
        if scale == .density { lo = 0; hi = Swift.max(hi, 0) }
        if hi - lo <= Swift.max(abs(hi), abs(lo), 1e-300) * 1e-12 {
            let half = lo == 0 ? 0.5 : abs(lo) * 0.1
            (lo, hi) = scale == .density ? (0, lo == 0 ? 1 : hi + half) : (lo - half, hi + half)
        }
        var step = PlotAxis.nice((hi - lo) / Double(Swift.max(target - 1, 1)), round: true)
        if scale == .integer { step = Swift.max(1, step.rounded()) }
        let i0 = Int((lo / step + 1e-9).rounded(.down)), i1 = Int((hi / step - 1e-9).rounded(.up))
        var values = (i0...Swift.max(i1, i0 + 1)).map { Double($0) * step }
        let tolerance = 1e-9 * step
        if !padded { values = values.filter { $0 >= lo - tolerance && $0 <= hi + tolerance } }
        let maxAbs = values.map(abs).max() ?? 0
        let scientific = maxAbs >= 1e4 || (maxAbs > 0 && maxAbs < 1e-3)
        let ticks = values.map { v -> Tick in
            let (text, exponent) = scientific ? PlotAxis.scientific(v, step: step, maxAbs: maxAbs) : (PlotAxis.decimal(v, step: step), nil)
            return Tick(position: v, text: text, exponent: exponent, isMajor: true)
        }
        (lower, upper, self.ticks) = padded ? (values.first!, values.last!, ticks) : (lo, hi, ticks)
    }

    /// Heckbert's nice number: the 1, 2, 5 or 10 × 10ᵏ nearest to x (`round`) or not below it.
    public static func nice(_ x: Double, round: Bool) -> Double {
        guard x > 0, x.isFinite else { return 1 }
        let e = floor(log10(x)), f = x / pow(10, e)
        let n: Double = round ? (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) : (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10)
        return n * pow(10, e)
    }

    /// v with as many decimals as the step needs, "−" for minus, no "−0".
    static func decimal(_ v: Double, step: Double) -> String {
        let decimals = Swift.max(0, Int(-floor(log10(step) + 1e-9)))
        let s = String(format: "%.\(decimals)f", v)
        return Double(s) == 0 ? String(format: "%.\(decimals)f", 0.0) : minus(s)
    }

    /// v as m×10ᵏ with k from the largest |tick|; 0 as "0".
    static func scientific(_ v: Double, step: Double, maxAbs: Double) -> (String, String?) {
        if abs(v) < step * 1e-9 { return ("0", nil) }
        let k = Int(floor(log10(maxAbs) + 1e-9)), scale = pow(10, Double(k))
        let mantissa = decimal(v / scale, step: step / scale)
        return (mantissa == "1" ? "10" : mantissa == "−1" ? "−10" : mantissa + "×10", minus("\(k)"))
    }

    static func minus(_ s: String) -> String { s.replacingOccurrences(of: "-", with: "−") }

    /// v to four significant digits for a label in running text: 0.2814, 2.097, 5×10⁴, 1.5×10⁻⁶
    /// (Unicode superscripts, "−" for minus), never "5e+04".
    public static func compact(_ v: Double) -> String {
        let s = String(format: "%.4g", v)
        guard let e = s.firstIndex(where: { $0 == "e" }), let exponent = Int(s[s.index(after: e)...]) else { return minus(s) }
        let mantissa = String(s[..<e])
        let digits: [Character: Character] = ["0": "⁰", "1": "¹", "2": "²", "3": "³", "4": "⁴", "5": "⁵", "6": "⁶", "7": "⁷", "8": "⁸", "9": "⁹", "-": "⁻"]
        let power = "10" + String(String(exponent).map { digits[$0] ?? $0 })
        return mantissa == "1" ? power : mantissa == "-1" ? "−" + power : minus(mantissa) + "×" + power
    }

    /// Where a data value falls, 0 at `lower` and 1 at `upper`; nil for a non-positive value on
    /// a log axis or a non-finite value.
    public func fraction(_ value: Double) -> Double? {
        let t = scale == .log ? (value > 0 ? log10(value) : .nan) : value
        guard t.isFinite else { return nil }
        return (t - lower) / (upper - lower)
    }

    /// The SVG of this axis along one side of the plot rectangle: `horizontal`, from x = `a` to
    /// `b` at y = `base` (the bottom edge); else from y = `a` (bottom) to `b` (top) at x = `base`
    /// (the left edge, or the right one when `mirrored`). Tick marks outward, labels, light grid
    /// lines `gridLength` into the plot (none when 0), and the axis title.
    func svg(horizontal: Bool, at base: Double, from a: Double, to b: Double, gridLength: Double, title: String,
             mirrored: Bool = false, color: String = "black") -> String {
        var s = ""
        let out = mirrored ? -1.0 : 1.0, fill = color == "black" ? "" : " fill=\"\(color)\""
        func at(_ p: Double) -> Double { a + (p - lower) / (upper - lower) * (b - a) }
        for t in ticks {
            let p = at(t.position), len = t.isMajor ? 5.0 : 3.0
            if horizontal {
                if t.isMajor, gridLength > 0 { s += line(p, base, p, base - gridLength, "#e4e4e4") }
                s += line(p, base, p, base + len, "black")
                if !t.text.isEmpty { s += "<text x=\"\(f(p))\" y=\"\(f(base + 18))\" text-anchor=\"middle\">\(tspan(t))</text>" }
            } else {
                if t.isMajor, gridLength > 0 { s += line(base, p, base + out * gridLength, p, "#e4e4e4") }
                s += line(base, p, base - out * len, p, color)
                if !t.text.isEmpty {
                    s += "<text x=\"\(f(base - out * 8))\" y=\"\(f(p + 4))\" text-anchor=\"\(mirrored ? "start" : "end")\"\(fill)>\(tspan(t))</text>"
                }
            }
            s += "\n"
        }
        if !title.isEmpty {
            if horizontal {
                s += "<text x=\"\(f((a + b) / 2))\" y=\"\(f(base + 38))\" text-anchor=\"middle\">\(PlotAxis.escape(title))</text>\n"
            } else {
                let w = labels.map(\.count).max() ?? 1
                s += "<text transform=\"translate(\(f(base - out * (16 + 6.5 * Double(w)))) \(f((a + b) / 2))) rotate(\(mirrored ? 90 : -90))\" text-anchor=\"middle\"\(fill)>\(PlotAxis.escape(title))</text>\n"
            }
        }
        return s
    }

    private func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, _ color: String) -> String {
        "<line x1=\"\(f(x1))\" y1=\"\(f(y1))\" x2=\"\(f(x2))\" y2=\"\(f(y2))\" stroke=\"\(color)\"/>"
    }

    private func tspan(_ t: Tick) -> String {
        guard let e = t.exponent else { return PlotAxis.escape(t.text) }
        return "\(PlotAxis.escape(t.text))<tspan dy=\"-5\" font-size=\"8\">\(PlotAxis.escape(e))</tspan>"
    }

    private func f(_ v: Double) -> String { String(format: "%.2f", v) }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
