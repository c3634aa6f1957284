import Foundation

/// A legend box for an SVG plot, put in the corner of the plot rectangle that holds the fewest
/// data points (top right, top left, bottom right, bottom left on ties), so it never sits on the
/// axis labels (outside the rectangle) and as little as possible on the data.
/// Cost: O(corners × points).
struct PlotLegend {
    struct Entry {
        var label: String
        var color: String
        var dashed: Bool = false
    }

    /// `points` are the curves' points in SVG coordinates; the rectangle is (left, top)–(right, bottom).
    static func svg(_ entries: [Entry], left: Double, top: Double, right: Double, bottom: Double,
                    points: [(Double, Double)]) -> String {
        guard !entries.isEmpty else { return "" }
        let width = 44 + 6.6 * Double(entries.map(\.label.count).max() ?? 0), height = 16 * Double(entries.count) + 8
        let corners = [(right - width - 6, top + 6), (left + 6, top + 6),
                       (right - width - 6, bottom - height - 6), (left + 6, bottom - height - 6)]
        func count(_ c: (Double, Double)) -> Int {
            points.filter { $0.0 >= c.0 - 4 && $0.0 <= c.0 + width + 4 && $0.1 >= c.1 - 4 && $0.1 <= c.1 + height + 4 }.count
        }
        let counts = corners.map(count)
        let (x, y) = corners[counts.firstIndex(of: counts.min()!)!]
        var s = String(format: "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#bbb\"/>\n", x, y, width, height)
        for (i, e) in entries.enumerated() {
            let ly = y + 12 + 16 * Double(i)
            s += String(format: "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%@\" stroke-width=\"2\"%@/>", x + 8, ly, x + 34, ly,
                        e.color, e.dashed ? " stroke-dasharray=\"5 3\"" : "")
            s += String(format: "<text x=\"%.2f\" y=\"%.2f\">%@</text>\n", x + 40, ly + 4, PlotAxis.escape(e.label))
        }
        return s
    }
}
