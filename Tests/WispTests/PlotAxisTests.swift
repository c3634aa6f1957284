import Foundation
import XCTest
@testable import Wisp

/// The axis rules of issue 14 ("Figures"): 1-2-5 ticks, noise-free labels, integer, log and
/// density axes; and every plot kind rendered by rsvg-convert with the expected tick labels.
final class PlotAxisTests: XCTestCase {
    func testNiceNumbersAreOneTwoFive() {
        XCTAssertEqual(PlotAxis.nice(1.31, round: true), 1)
        XCTAssertEqual(PlotAxis.nice(2.5, round: true), 2)
        XCTAssertEqual(PlotAxis.nice(0.031, round: true), 0.05)
        XCTAssertEqual(PlotAxis.nice(740, round: true), 1000)
        XCTAssertEqual(PlotAxis.nice(2.5, round: false), 5)
    }

    /// [−4.961, 0.2814] (the figure issue 14 quotes): whole-number ticks, range padded to them.
    func testLinearAxisRoundsToStepAndPads() {
        let a = PlotAxis(scale: .linear, dataMin: -4.961, dataMax: 0.2814)
        XCTAssertEqual(a.labels, ["−5", "−4", "−3", "−2", "−1", "0", "1"])
        XCTAssertEqual(a.lower, -5)
        XCTAssertEqual(a.upper, 1)
    }

    /// 0.1·3 is 0.30000000000000004 in binary; the label must read 0.3.
    func testLabelsCarryNoFloatNoise() {
        let a = PlotAxis(scale: .linear, dataMin: 0.1, dataMax: 0.93)
        XCTAssertEqual(a.labels, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"])
        let b = PlotAxis(scale: .linear, dataMin: 0.01, dataMax: 0.032)
        XCTAssertEqual(b.labels, ["0.010", "0.015", "0.020", "0.025", "0.030", "0.035"])
        XCTAssertFalse(PlotAxis(scale: .linear, dataMin: -0.7, dataMax: 0.7).labels.contains("−0.0"))
    }

    func testScientificLabelsForLargeAndSmallValues() {
        XCTAssertEqual(PlotAxis(scale: .linear, dataMin: 0, dataMax: 41_000).labels, ["0", "10^4", "2×10^4", "3×10^4", "4×10^4", "5×10^4"])
        XCTAssertEqual(PlotAxis(scale: .linear, dataMin: 0, dataMax: 4.1e-4).labels, ["0", "10^−4", "2×10^−4", "3×10^−4", "4×10^−4", "5×10^−4"])
        XCTAssertEqual(PlotAxis(scale: .linear, dataMin: 0, dataMax: 9000).labels.last, "1.0×10^4")
    }

    /// k in [1, 483.2]: ticks every 100, no fraction; a short integer axis steps by 1, not 0.5.
    func testIntegerAxisHasIntegerTicksOnly() {
        XCTAssertEqual(PlotAxis(scale: .integer, dataMin: 1, dataMax: 483.2).labels, ["0", "100", "200", "300", "400", "500"])
        XCTAssertEqual(PlotAxis(scale: .integer, dataMin: 1, dataMax: 3).labels, ["1", "2", "3"])
        XCTAssertEqual(PlotAxis(scale: .integer, dataMin: 5, dataMax: 5).labels, ["4", "5", "6"])
    }

    /// [3·10⁻⁴, 2·10³]: decades 10⁻⁴ … 10⁴, eight minor ticks (2…9 × 10ᵏ) between each pair.
    func testLogAxisHasDecadesAndMinorTicks() {
        let a = PlotAxis(scale: .log, dataMin: 3e-4, dataMax: 2e3)
        XCTAssertEqual(a.labels, (-4...4).map { "10^" + "\($0)".replacingOccurrences(of: "-", with: "−") })
        XCTAssertEqual(a.ticks.filter { !$0.isMajor }.count, 8 * 8)
        XCTAssertEqual(a.ticks.filter { !$0.isMajor }.first!.position, log10(2e-4), accuracy: 1e-12)
        XCTAssertEqual(a.fraction(1)!, 0.5, accuracy: 1e-12)
        XCTAssertNil(a.fraction(0))
        // Thirty decades: every second or third labelled, the rest unlabelled major ticks.
        let wide = PlotAxis(scale: .log, dataMin: 1e-20, dataMax: 1e10)
        XCTAssertLessThanOrEqual(wide.labels.count, 11)
        XCTAssertEqual(wide.labels.first, "10^−20")
    }

    func testDensityAxisNeverBelowZero() {
        let a = PlotAxis(scale: .density, dataMin: -0.313, dataMax: 2.7)
        XCTAssertEqual(a.lower, 0)
        XCTAssertEqual(a.labels, ["0.0", "0.5", "1.0", "1.5", "2.0", "2.5", "3.0"])
        XCTAssertEqual(PlotAxis(scale: .density, dataMin: 0, dataMax: 0).labels.first, "0.0")
    }

    // MARK: rendering

    /// The tick labels of an SVG: the text of each `<text>` element, a `<tspan>` superscript as ^.
    static func textLabels(_ svg: String) -> [String] {
        let pattern = try! NSRegularExpression(pattern: "<text[^>]*>(.*?)</text>")
        return pattern.matches(in: svg, range: NSRange(svg.startIndex..., in: svg)).map {
            String(svg[Range($0.range(at: 1), in: svg)!])
                .replacingOccurrences(of: "<tspan dy=\"-5\" font-size=\"8\">", with: "^").replacingOccurrences(of: "</tspan>", with: "")
        }
    }

    /// Renders the SVG to PNG with rsvg-convert (Debian librsvg2-bin); skips when it is absent.
    /// The PNG is left in $TMPDIR/wisp-figures/ to look at.
    static func render(_ svg: String, name: String) throws -> Int {
        let rsvg = ["/usr/bin/rsvg-convert", "/usr/local/bin/rsvg-convert"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let rsvg else { throw XCTSkip("rsvg-convert not installed (apt-get install librsvg2-bin)") }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-figures")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let input = dir.appendingPathComponent("\(name).svg"), output = dir.appendingPathComponent("\(name).png")
        try Data(svg.utf8).write(to: input)
        try? FileManager.default.removeItem(at: output)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: rsvg)
        p.arguments = ["-o", output.path, input.path]
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "rsvg-convert \(name).svg")
        let png = try Data(contentsOf: output)
        XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47], "\(name).png is a PNG")
        return png.count
    }

    func testDensityPlotRendersWithDecadesAndMarkers() throws {
        // Two bumps in log λ, density per unit log₁₀ λ; λ_max and a deflated outlier marked.
        let nodes = [1e-3, 2e-3, 0.5, 1.0, 3.0], weights = [0.3, 0.2, 0.2, 0.2, 0.1]
        let d = try SpectralDensity(nodes: nodes, weights: weights, settings: DensitySettings(scale: .log, points: 300))
        let svg = DensityFiles.svg(d, title: "test density", markers: [("λ_max", 3.0), ("deflated 1", 40.0)],
                                   overlay: ("estimate", "exact", d))
        let labels = Self.textLabels(svg)
        for decade in ["10^−4", "10^−3", "10^−2", "10^−1", "10^0", "10^1", "10^2"] { XCTAssertTrue(labels.contains(decade), decade) }
        XCTAssertTrue(labels.contains { $0.hasPrefix("λ_max = 3") })
        XCTAssertTrue(labels.contains { $0.hasPrefix("deflated 1 = 40") })
        XCTAssertTrue(labels.contains("0.0"))
        XCTAssertFalse(labels.contains { $0.hasPrefix("−") && Double($0.dropFirst()) != nil }, "no negative density tick")
        XCTAssertGreaterThan(try Self.render(svg, name: "density-log"), 1000)

        let linear = try SpectralDensity(nodes: [-0.5, 1, 2, 4.2], weights: [0.1, 0.3, 0.3, 0.3], settings: DensitySettings(scale: .linear, points: 200))
        let svgLinear = DensityFiles.svg(linear, title: "linear density", markers: [("λ_max", 4.2)])
        let linearLabels = Self.textLabels(svgLinear)
        for tick in ["−1", "0", "1", "2", "3", "4", "5"] { XCTAssertTrue(linearLabels.contains(tick), tick) }
        XCTAssertGreaterThan(try Self.render(svgLinear, name: "density-linear"), 1000)
    }

    func testSeriesPlotRendersWithIntegerStepsAndLogDecades() throws {
        let steps = (0...20).map { Double($0 * 25) }
        let loss = SeriesPlot.Panel(title: "loss", curves: [
            SeriesPlot.Curve(label: "loss", x: steps, y: steps.map { 2 * exp(-$0 / 80) + 1e-3 }),
            SeriesPlot.Curve(label: "validation loss", x: steps, y: steps.map { 2.2 * exp(-$0 / 90) + 2e-3 }),
        ], logY: true)
        let single = SeriesPlot.svg(title: "training loss", panels: [loss], xLabel: "step")
        let labels = Self.textLabels(single)
        for tick in ["0", "100", "200", "300", "400", "500", "10^−3", "10^−2", "10^−1", "10^0", "10^1"] { XCTAssertTrue(labels.contains(tick), tick) }
        XCTAssertGreaterThan(try Self.render(single, name: "series-log"), 1000)

        let k = [1.0, 2, 5, 10, 20, 50, 100, 200, 483]
        let panels = [
            SeriesPlot.Panel(title: "accuracy", curves: [SeriesPlot.Curve(label: "top-k", x: k, y: k.map { 0.5 + 0.4 * (1 - exp(-$0 / 50)) })]),
            SeriesPlot.Panel(title: "change", curves: [SeriesPlot.Curve(label: "top-k", x: k, y: k.map { -4.961 + 5.2424 * $0 / 483 },
                                                                        error: k.map { _ in 0.1 })]),
        ]
        let two = SeriesPlot.svg(title: "reduction", panels: panels, xLabel: "k")
        let twoLabels = Self.textLabels(two)
        for tick in ["100", "200", "300", "400", "0.5", "0.6", "0.9", "−5", "−4", "0"] { XCTAssertTrue(twoLabels.contains(tick), tick) }
        XCTAssertFalse(twoLabels.contains { $0.contains(".") && $0.count > 6 }, "no float noise in \(twoLabels)")
        XCTAssertGreaterThan(try Self.render(two, name: "series-panels"), 1000)

        // The training spectra: λ/λ_max on decades, density from 0; x ≤ 0 dropped, not plotted at −∞.
        let grid = (0...200).map { pow(10, -6 + 6 * Double($0) / 200) }
        let spectra = SeriesPlot.svg(title: "spectra", panels: [SeriesPlot.Panel(title: "density", curves: [
            SeriesPlot.Curve(label: "step 0", x: [0] + grid, y: [5] + grid.map { exp(-pow(log10($0) + 3, 2)) }),
        ], density: true, logX: true)], xLabel: "λ / λ_max", columns: 1)
        let spectraLabels = Self.textLabels(spectra)
        for tick in ["10^−6", "10^−3", "10^0", "0.0", "1.0"] { XCTAssertTrue(spectraLabels.contains(tick), "\(tick) in \(spectraLabels)") }
        XCTAssertFalse(spectraLabels.contains("5.0"), "the point at x = 0 is not on a log axis")
        XCTAssertGreaterThan(try Self.render(spectra, name: "series-spectra"), 1000)
    }

    func testHeatMapRendersWithTicksInsideTheGrid() throws {
        let a = stride(from: -1.0, through: 1.0, by: 0.1).map { $0 }, b = stride(from: -0.5, through: 0.5, by: 0.05).map { $0 }
        let z = b.flatMap { y in a.map { x in x * x + 3 * y * y } }
        let svg = SeriesPlot.heatMap(title: "loss surface", x: a, y: b, z: z, xLabel: "α", yLabel: "β")
        let labels = Self.textLabels(svg)
        for tick in ["−1.0", "−0.5", "0.0", "0.5", "1.0", "−0.4", "0.4"] { XCTAssertTrue(labels.contains(tick), tick) }
        XCTAssertFalse(labels.contains("1.5") || labels.contains("−0.6"), "no tick outside the grid: \(labels)")
        XCTAssertGreaterThan(try Self.render(svg, name: "heatmap"), 1000)
    }
}
