import XCTest
@testable import Wisp

final class RandomTests: XCTestCase {
    /// Known-answer vectors of Philox4x32-10 from Random123's kat_vectors.
    func testPhiloxKnownAnswers() {
        let zero = CounterRandom.philox(counter: (0, 0, 0, 0), key: (0, 0))
        XCTAssertEqual([zero.0, zero.1, zero.2, zero.3], [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8])
        let ones = CounterRandom.philox(counter: (.max, .max, .max, .max), key: (.max, .max))
        XCTAssertEqual([ones.0, ones.1, ones.2, ones.3], [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd])
        let pi = CounterRandom.philox(counter: (0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344), key: (0xa409_3822, 0x299f_31d0))
        XCTAssertEqual([pi.0, pi.1, pi.2, pi.3], [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1])
    }

    /// The normals have mean 0 and variance 1 (n = 200000: standard errors 0.0022 and 0.0032;
    /// the checks allow 5 of them) and the Rademachers are balanced.
    func testDistributions() {
        let r = CounterRandom(seed: 42, stream: .inputs)
        let n = 200_000
        let z = (0..<n).map { r.normal($0) }
        let mean = z.reduce(0, +) / Double(n)
        let variance = z.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n - 1)
        XCTAssertEqual(mean, 0, accuracy: 0.011)
        XCTAssertEqual(variance, 1, accuracy: 0.016)
        let s = (0..<n).reduce(0.0) { $0 + r.rademacher($1) }
        XCTAssertLessThan(abs(s) / Double(n), 5 / Double(n).squareRoot())
    }

    /// Values depend on (seed, stream, index) only: not on the chunking, the block of samples
    /// asked for, or T.
    func testPositionKeyedStreams() throws {
        let a = try Dataset.gaussian(totalSamples: 10, dimension: 7, seed: 3)
        let b = try Dataset.gaussian(totalSamples: 25, dimension: 7, seed: 3)
        XCTAssertEqual(a.values, Array(b.values.prefix(70)))
        let block = try Dataset.gaussian(totalSamples: 25, dimension: 7, seed: 3, samples: 11..<19)
        XCTAssertEqual(block.values, Array(b.values[(11 * 7)..<(19 * 7)]))
        // Large fills are chunked in parallel; the values equal the scalar draws.
        var big = [Double](repeating: 0, count: 200_001)
        big.withUnsafeMutableBufferPointer { CounterRandom(seed: 9, stream: .weights(layer: 2)).fillNormal($0, first: 5) }
        let scalar = CounterRandom(seed: 9, stream: .weights(layer: 2))
        for i in [0, 1, 65_535, 65_536, 200_000] { XCTAssertEqual(big[i], scalar.normal(5 + i)) }
        // Weights do not depend on anything but the seed and the architecture.
        let arch = try Architecture(widths: [4, 6, 2])
        XCTAssertEqual(Network<Double>(architecture: arch, seed: 1).parameters, Network<Double>(architecture: arch, seed: 1).parameters)
        XCTAssertNotEqual(Network<Double>(architecture: arch, seed: 1).parameters, Network<Double>(architecture: arch, seed: 2).parameters)
        // Streams are distinct.
        XCTAssertNotEqual(CounterRandom(seed: 1, stream: .inputs).normal(0), CounterRandom(seed: 1, stream: .probe(0)).normal(0))
    }
}

final class SpectralDensityTests: XCTestCase {
    func integrate(_ d: SpectralDensity) -> Double {
        let xs: [Double] = d.scale == .log ? d.grid.map { log10($0) } : d.grid
        var total = 0.0
        for i in 1..<xs.count {
            let dx: Double = xs[i] - xs[i - 1]
            total += dx * (d.density[i] + d.density[i - 1]) / 2
        }
        return total
    }

    /// Each Gaussian bump integrates to its weight (the grid extends 4σ past the extreme nodes,
    /// losing ≤ 3e-5 of each edge bump's mass; the trapezoid rule on 400 points is far finer).
    func testMassAccounting() throws {
        let nodes = [0, 1e-14, 0.5, 2, 10, 1000], weights = [0.3, 0.1, 0.2, 0.2, 0.1, 0.1]
        let log = try SpectralDensity(nodes: nodes, weights: weights, settings: DensitySettings(scale: .log))
        XCTAssertEqual(log.zeroMass, 0.4, accuracy: 1e-15)
        XCTAssertEqual(integrate(log), 0.6, accuracy: 1e-4)
        let lin = try SpectralDensity(nodes: nodes, weights: weights, settings: DensitySettings(scale: .linear, points: 4000))
        XCTAssertEqual(lin.zeroMass, 0.4, accuracy: 1e-15)
        XCTAssertEqual(integrate(lin), 0.6, accuracy: 1e-3)
        // Analytic null space and negative nodes.
        let mapped = try SpectralDensity(nodes: [-2, 3], weights: [0.05, 0.05], extraZeroMass: 0.9, settings: DensitySettings())
        XCTAssertEqual(mapped.zeroMass, 0.9, accuracy: 1e-15)
        XCTAssertEqual(mapped.negativeMass, 0.05, accuracy: 1e-15)
        XCTAssertEqual(integrate(mapped), 0.05, accuracy: 1e-4)
        // The peak sits at the node.
        let peak = mapped.grid[mapped.density.indices.max { mapped.density[$0] < mapped.density[$1] }!]
        XCTAssertEqual(log10(peak), log10(3), accuracy: 0.01)
    }

    func testRejectsBadSettings() {
        XCTAssertThrowsError(try SpectralDensity(nodes: [1], weights: [1], settings: DensitySettings(points: 1)))
        XCTAssertThrowsError(try SpectralDensity(nodes: [1], weights: [1], settings: DensitySettings(broadening: 0)))
        XCTAssertThrowsError(try SpectralDensity(nodes: [1], weights: [1], settings: DensitySettings(zeroCutoff: 2)))
    }
}
