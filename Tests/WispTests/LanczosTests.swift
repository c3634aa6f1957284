import XCTest
@testable import Wisp
import WispTestSupport

/// The eigensolver on matrices with known spectra, with restarts forced by small bases.
final class LanczosTests: XCTestCase {
    func spectrum(_ n: Int) -> [Double] {
        (0..<n).map { (i: Int) -> Double in
            let bump: Double = i % 7 == 0 ? 3 : 0
            return 1 + Double(i) * 0.37 + bump
        }
    }

    func testLargestWithRestarts() throws {
        let values = spectrum(400)
        let op = MatrixOperator(diagonal: values)
        let s = LanczosSettings(count: 5, tolerance: 1e-9, basisSize: 20, maxApplications: 20000, seed: 1)
        let r = try Lanczos.solve(op, settings: s)
        XCTAssertTrue(r.allConverged, "residuals \(r.residuals)")
        XCTAssertGreaterThan(r.restarts, 0, "the basis of 20 must force restarts")
        let want = values.sorted(by: >).prefix(5)
        for (g, w) in zip(r.values, want) { XCTAssertEqual(g, w, accuracy: 1e-9 * w) }
        XCTAssertEqual(r.operatorApplications, op.applications)
    }

    func testSmallestAndLargestMagnitudeOnIndefiniteSpectrum() throws {
        let values = (0..<200).map { Double($0) - 150 + 0.5 }   // −149.5 … 49.5
        let op = MatrixOperator(diagonal: values)
        let small = try Lanczos.solve(op, settings: LanczosSettings(count: 3, which: .smallest, tolerance: 1e-9, maxApplications: 20000))
        XCTAssertEqual(small.values, [-149.5, -148.5, -147.5], accuracy: 1e-7)
        let mag = try Lanczos.solve(op, settings: LanczosSettings(count: 2, which: .largestMagnitude, tolerance: 1e-9, maxApplications: 20000))
        XCTAssertEqual(mag.values, [-149.5, -148.5], accuracy: 1e-7)
    }

    /// A rank-deficient operator smaller than the basis: the Krylov space becomes invariant and
    /// the solver continues from a fresh random vector, finding the zero eigenvalues too.
    func testInvariantSubspaceAndFullDimension() throws {
        let values: [Double] = [5, 3, 0, 0, 0, 0, 1, 0]
        let r = try Lanczos.solve(MatrixOperator(diagonal: values), settings: LanczosSettings(count: 4, tolerance: 1e-10))
        XCTAssertEqual(r.values, [5, 3, 1, 0], accuracy: 1e-10)
        XCTAssertTrue(r.allConverged)
    }

    func testNonConvergenceIsReportedNotThrown() throws {
        let op = MatrixOperator(diagonal: spectrum(400))
        let r = try Lanczos.solve(op, settings: LanczosSettings(count: 30, tolerance: 1e-14, basisSize: 40, maxApplications: 60))
        XCTAssertFalse(r.allConverged)
        XCTAssertEqual(r.values.count, 30)
    }

    func testInvalidSettings() {
        let op = MatrixOperator(diagonal: [1, 2, 3])
        XCTAssertThrowsError(try Lanczos.solve(op, settings: LanczosSettings(count: 4))) { e in
            XCTAssertTrue("\(e)".contains("exceeds the matrix dimension"))
        }
        XCTAssertThrowsError(try Lanczos.solve(op, settings: LanczosSettings(count: 0)))
        XCTAssertThrowsError(try Lanczos.solve(op, settings: LanczosSettings(count: 1, tolerance: -1)))
    }

    /// SLQ on a matrix smaller than the step count stops at the invariant subspace and then
    /// integrates any polynomial exactly: the moments are the exact ones for every probe.
    func testSLQExactOnSmallMatrix() throws {
        let values: [Double] = [0.5, 1, 2, 4, 8]
        let slq = try StochasticLanczosQuadrature.run(MatrixOperator(diagonal: values), settings: SLQSettings(probes: 3, steps: 50))
        for k in 1...4 {
            let exact = values.reduce(0) { $0 + pow($1, Double(k)) } / 5
            let m = slq.normalizedMoment(k)
            XCTAssertEqual(m.mean, exact, accuracy: 1e-10 * exact)
            XCTAssertLessThan(m.standardError, 1e-10 * exact)
        }
    }
}

func XCTAssertEqual(_ a: [Double], _ b: [Double], accuracy: Double, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, file: file, line: line)
    for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: accuracy, "\(a) vs \(b)", file: file, line: line) }
}
