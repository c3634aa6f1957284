import Foundation
import XCTest
@testable import Wisp

/// `spectra.svg` of `wisp train` (issue 14: "the train spectra shown as a comb of spikes"): the
/// eigenvalues-by-rank staircase and the density with node-adapted widths, on SLQ-like measures.
final class TrainSpectraFigureTests: XCTestCase {
    /// An SLQ-like measure of a spectrum flat in log λ over 8 decades (10⁻⁸…1) with a null space of
    /// mass `zero`: n_v probes, each m nodes one slot (8/m decades) apart, jittered within the slot
    /// by a seeded stream, weights (1 − zero)/(n_v m), and one node at 0 of mass `zero`.
    static func flatMeasure(step: Int, probes: Int = 6, m: Int = 12, zero: Double = 0.3, seed: UInt64 = 7) -> TrainSpectraFigure.Spectrum {
        let random = CounterRandom(seed: seed, stream: .lanczosStart)
        var nodes = [Double](), weights = [Double]()
        for p in 0..<probes {
            for j in 0..<m {
                let u = 0.5 + 0.5 * erf(random.normal(p * m + j) / 2.0.squareRoot())   // uniform in (0, 1)
                nodes.append(pow(10, -8 + 8 * (Double(j) + 0.2 + 0.6 * u) / Double(m)))
                weights.append((1 - zero) / Double(probes * m))
            }
        }
        return TrainSpectraFigure.Spectrum(step: step, nodes: nodes + [0], weights: weights + [zero], probes: probes)
    }

    /// Peaks that rise above the higher of their two neighbouring minima by more than 20% of the
    /// maximum (the ±12% ripple of the jittered nodes on a plateau is not a peak; a comb's teeth are).
    static func peaks(_ y: [Double]) -> Int {
        let top = y.max() ?? 0
        var count = 0, lastMin = 0.0, rising = true, peak = 0.0
        for i in 1..<y.count {
            if rising, y[i] < y[i - 1] { peak = y[i - 1]; rising = false }
            if !rising, y[i] > y[i - 1] || i == y.count - 1 {
                let nextMin = y[i] > y[i - 1] ? y[i - 1] : y[i]
                if peak - max(lastMin, nextMin) > 0.2 * top { count += 1 }
                lastMin = nextMin
                rising = true
            }
        }
        return count
    }

    /// The run's own 0.05-decade Gaussians draw this measure as a comb (one peak per slot); the
    /// figure's node-adapted widths draw one plateau, conserve the mass, and every σ_j is about half
    /// a slot (8/12 decades). Fails on the comb.
    func testDensityPanelIsSmoothNotAComb() throws {
        let s = Self.flatMeasure(step: 0)
        let grid = DensitySettings(scale: .log)
        let comb = try SpectralDensity(nodes: s.nodes, weights: s.weights, settings: grid)
        XCTAssertGreaterThanOrEqual(Self.peaks(comb.density), 8, "the fixed-width density of this measure is a comb")

        let d = TrainSpectraFigure.densities([s], grid: grid)[0]
        XCTAssertLessThanOrEqual(Self.peaks(d.density), 2, "panel (b) is a comb: \(Self.peaks(d.density)) peaks")
        // Nothing drawn above λ_max, and ∫ρ d log₁₀λ = 1 − zero mass: the kernels are normalized,
        // reflected at λ_max and cut at x − 4σ below (lost ≤ 4·10⁻⁵).
        XCTAssertEqual(d.grid.last!, 1, accuracy: 1e-12)
        let x = d.grid.map { log10($0) }
        let integral = zip(zip(x, x.dropFirst()), zip(d.density, d.density.dropFirst())).reduce(0) { $0 + ($1.0.1 - $1.0.0) * ($1.1.0 + $1.1.1) / 2 }
        XCTAssertEqual(integral, 0.7, accuracy: 1e-3)
        XCTAssertEqual(d.zeroMass, 0.3, accuracy: 1e-15)
        // On the plateau (10⁻⁶…10⁻²) the density is the flat truth, (1 − zero)/8 per decade, to 20%.
        for (xi, rho) in zip(x, d.density) where xi > -6 && xi < -2 {
            XCTAssertEqual(rho, 0.7 / 8, accuracy: 0.2 * 0.7 / 8, "ρ at 10^\(xi)")
        }
        let sigmas = TrainSpectraFigure.kernels(s, scale: .log, minimum: 0.05).map(\.sigma).sorted()
        XCTAssertEqual(sigmas.count, 72)
        XCTAssertGreaterThanOrEqual(sigmas.first!, 0.05)
        XCTAssertEqual(sigmas[36], 0.5 * 8 / 12, accuracy: 0.15, "median σ is half a slot")
    }

    /// Panel (a): λ/λ_max non-increasing against a non-decreasing rank fraction that starts at 0,
    /// ends at 1 − zero mass (the null space is not on a log axis) and steps by the weights.
    func testRankPanelIsTheMonotoneStaircaseOfTheNodes() {
        let s = Self.flatMeasure(step: 0)
        let (x, y) = TrainSpectraFigure.staircase(s, scale: .log)
        XCTAssertEqual(x.count, 2 * 72)
        XCTAssertEqual(x.first, 0)
        XCTAssertEqual(x.last!, 0.7, accuracy: 1e-12)
        XCTAssertEqual(y.first, 1)
        for i in 1..<x.count {
            XCTAssertGreaterThanOrEqual(x[i], x[i - 1])
            XCTAssertLessThanOrEqual(y[i], y[i - 1])
        }
        // A linear grid draws the zero node too: the staircase ends at rank 1 on λ = 0.
        let linear = TrainSpectraFigure.staircase(s, scale: .linear)
        XCTAssertEqual(linear.x.last!, 1, accuracy: 1e-12)
        XCTAssertEqual(linear.y.last, 0)
    }

    /// The figure names method, probes, steps and the width rule; CSVs with the widths; rendered.
    func testFigureStatesWhatItShowsAndRenders() throws {
        let spectra = [Self.flatMeasure(step: 0), Self.flatMeasure(step: 500, zero: 0.2, seed: 8), Self.flatMeasure(step: 1000, zero: 0.1, seed: 9)]
        let grid = DensitySettings(scale: .log)
        let svg = TrainSpectraFigure.svg(spectra, grid: grid, what: "G", method: "SLQ, 6 probes × 12 Lanczos steps")
        let labels = PlotAxisTests.textLabels(svg)
        XCTAssertTrue(labels.contains { $0.contains("SLQ, 6 probes × 12 Lanczos steps") }, "\(labels)")
        XCTAssertTrue(labels.contains { $0.contains("σ_j = distance to n_v-th nearest node, ≥ 0.05 decade") })
        XCTAssertTrue(labels.contains { $0.contains("unbroadened") })
        XCTAssertTrue(labels.contains { $0.hasPrefix("step 1000: λ_max ≈") && $0.contains("zero mass 0.100") })
        for tick in ["10^−8", "10^0", "0.0", "0.2", "1.0"] { XCTAssertTrue(labels.contains(tick), "\(tick) in \(labels)") }
        let nodes = TrainSpectraFigure.nodesCSV(spectra, grid: grid).split(separator: "\n")
        XCTAssertEqual(nodes.first, "step,lambda,weight,lambda_over_lambda_max,fraction_at_or_above,sigma_log10_lambda")
        XCTAssertEqual(nodes.count, 1 + 3 * 73)
        XCTAssertTrue(nodes[72].hasSuffix(",0.7") || nodes[72].contains(",0.69999"), "the last positive node closes at 1 − zero mass: \(nodes[72])")
        XCTAssertTrue(nodes[73].hasSuffix(","), "the zero node has no σ: \(nodes[73])")
        XCTAssertEqual(TrainSpectraFigure.densityCSV(spectra, grid: grid).split(separator: "\n").first, "step,lambda_over_lambda_max,density")
        XCTAssertGreaterThan(try PlotAxisTests.render(svg, name: "train-spectra"), 1000)
    }
}
