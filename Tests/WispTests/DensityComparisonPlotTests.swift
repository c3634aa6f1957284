import Foundation
import XCTest
@testable import Wisp

/// The density overlay of several estimates (`wisp-bench kpm-vs-slq`'s figure, and the CLI's
/// estimate-beside-exact plot): one axis module, λ_max and deflated pairs marked with readable
/// numbers, the legend clear of the marker labels, a logarithmic density axis for the Hessian.
final class DensityComparisonPlotTests: XCTestCase {
    func testCompactNumbersHaveNoExponentSyntax() {
        XCTAssertEqual(PlotAxis.compact(5e4), "5×10⁴")
        XCTAssertEqual(PlotAxis.compact(1e4), "10⁴")
        XCTAssertEqual(PlotAxis.compact(1.5e-6), "1.5×10⁻⁶")
        XCTAssertEqual(PlotAxis.compact(-2.097), "−2.097")
        XCTAssertEqual(PlotAxis.compact(473.456), "473.5")
    }

    func testOverlayOfEstimatesWithMarkersRenders() throws {
        let grid = DensitySettings(scale: .log, points: 300)
        let exact = try SpectralDensity(nodes: [0.5, 1, 2, 3, 5], weights: [0.2, 0.3, 0.2, 0.2, 0.1], settings: grid)
        let slq = try SpectralDensity(nodes: [0.6, 1.1, 2.5, 50], weights: [0.3, 0.3, 0.3, 0.1], settings: grid)
        let curves = [DensityFiles.Curve(label: "exact", density: exact, color: "#888888"),
                      DensityFiles.Curve(label: "SLQ 10x20", density: slq, color: "#1f5fa8"),
                      DensityFiles.Curve(label: "KPM 10x34 jackson", density: slq, color: "#c0392b", dashed: true)]
        let markers: [(label: String, value: Double)] = [("λ_max, deflated 1", 5e4)] + (2...10).map { ("deflated \($0)", 40.0 + Double($0)) }
        let svg = DensityFiles.svg(curves: curves, title: "overlay", markers: markers, note: "zero mass not drawn")
        let labels = PlotAxisTests.textLabels(svg)
        XCTAssertTrue(labels.contains { $0.hasSuffix("λ_max, deflated 1 = 5×10⁴") }, "\(labels)")
        for k in 2...10 { XCTAssertTrue(labels.contains { $0.hasPrefix("deflated \(k) = ") }, "deflated \(k)") }
        XCTAssertFalse(labels.contains { $0.contains("e+") }, "no printf exponents: \(labels)")
        for decade in ["10^−1", "10^0", "10^1", "10^5"] { XCTAssertTrue(labels.contains(decade), decade) }
        // Ten marker labels on ten rows: no two at the same height.
        let rows = Self.markerRows(svg)
        XCTAssertEqual(rows.count, 10)
        XCTAssertEqual(Set(rows).count, 10, "marker labels overlap: \(rows)")
        // The legend box (three entries, KPM dashed) does not cover a marker label's anchor.
        XCTAssertTrue(svg.contains("stroke=\"#c0392b\" stroke-width=\"2\" stroke-dasharray=\"5 3\""))
        let box = try XCTUnwrap(Self.legendBox(svg))
        for (x, y) in Self.markerAnchors(svg) {
            XCTAssertFalse(box.contains(CGPoint(x: x, y: y - 4)), "legend \(box) covers the marker label at (\(x), \(y))")
        }
        XCTAssertGreaterThan(try PlotAxisTests.render(svg, name: "density-overlay"), 1000)

        // A linear grid with a log density axis: 8 decades below the peak, none below.
        let linear = try SpectralDensity(nodes: [-0.1, 0, 0.01, 2.6], weights: [0.1, 0.6, 0.2999, 1e-4], settings: DensitySettings(scale: .linear, points: 400))
        let hessian = DensityFiles.svg(curves: [DensityFiles.Curve(label: "SLQ", density: linear, color: "#1f5fa8")], title: "Hessian",
                                       markers: [("largest SLQ node", 2.6)], logDensity: true)
        let hessianLabels = PlotAxisTests.textLabels(hessian)
        let decades = hessianLabels.filter { $0.hasPrefix("10^") }
        XCTAssertGreaterThanOrEqual(decades.count, 5, "\(hessianLabels)")
        XCTAssertLessThanOrEqual(decades.count, 11, "about 8 decades: \(decades)")
        XCTAssertTrue(hessianLabels.contains("largest SLQ node = 2.6"))
        XCTAssertGreaterThan(try PlotAxisTests.render(hessian, name: "density-log-axis"), 1000)
    }

    static func legendBox(_ svg: String) -> CGRect? {
        let pattern = try! NSRegularExpression(pattern: "<rect x=\"([0-9.]+)\" y=\"([0-9.]+)\" width=\"([0-9.]+)\" height=\"([0-9.]+)\" fill=\"white\" fill-opacity")
        guard let m = pattern.firstMatch(in: svg, range: NSRange(svg.startIndex..., in: svg)) else { return nil }
        let v = (1...4).map { Double(svg[Range(m.range(at: $0), in: svg)!])! }
        return CGRect(x: v[0], y: v[1], width: v[2], height: v[3])
    }

    static func markerAnchors(_ svg: String) -> [(Double, Double)] {
        let pattern = try! NSRegularExpression(pattern: "<text x=\"([0-9.]+)\" y=\"([0-9.]+)\"[^>]*fill=\"#c0392b\"")
        return pattern.matches(in: svg, range: NSRange(svg.startIndex..., in: svg)).map {
            (Double(svg[Range($0.range(at: 1), in: svg)!])!, Double(svg[Range($0.range(at: 2), in: svg)!])!)
        }
    }

    /// The y coordinates of the marker labels (red text).
    static func markerRows(_ svg: String) -> [String] {
        let pattern = try! NSRegularExpression(pattern: "<text x=\"[0-9.]+\" y=\"([0-9.]+)\"[^>]*fill=\"#c0392b\"")
        return pattern.matches(in: svg, range: NSRange(svg.startIndex..., in: svg)).map { String(svg[Range($0.range(at: 1), in: svg)!]) }
    }
}
