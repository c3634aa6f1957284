import Foundation
import XCTest
@testable import Wisp
import WispTestSupport

/// Non-finite results are errors: the writer refuses them naming the field and writes
/// nothing, the solvers stop on an operator that returns NaN or ±∞, and the commands end with
/// one error line and a non-zero exit on inputs that overflow (before: exit 0 and
/// `"trace": "inf"` in the JSON).
final class NonFiniteResultTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-nonfinite-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    struct Layer: Encodable {
        var layer: Int
        var stableRank: Double
        var share: Float
        enum CodingKeys: String, CodingKey { case layer, stableRank = "stable_rank", share }
    }

    struct Result: Encodable {
        var trace: Double
        var layers: [Layer]
        var extra: [String: Double]
    }

    func assertNonFinite(_ body: @autoclosure () throws -> Any, names field: String, line: UInt = #line) {
        XCTAssertThrowsError(try body(), line: line) { error in
            guard case WispError.nonFinite(let message) = error else { return XCTFail("not a non-finite error: \(error)", line: line) }
            XCTAssertTrue(message.hasPrefix(field + " is "), "'\(field)' not named: \(message)", line: line)
        }
    }

    func testEncoderNamesTheNonFiniteField() throws {
        let fine = Result(trace: 1, layers: [Layer(layer: 1, stableRank: 2, share: 0.5)], extra: ["a": 1])
        XCTAssertNoThrow(try CanonicalJSON.encode(fine))
        for bad in [Double.nan, .infinity, -.infinity] {
            var r = fine
            r.trace = bad
            assertNonFinite(try CanonicalJSON.encode(r), names: "trace")
            r = fine
            r.layers.append(Layer(layer: 2, stableRank: bad, share: 0))
            assertNonFinite(try CanonicalJSON.encode(r), names: "layers[1].stable_rank")
            r = fine
            r.extra["second_moment"] = bad
            assertNonFinite(try CanonicalJSON.encode(r), names: "extra.second_moment")
        }
        var r = fine
        r.layers[0].share = .nan
        assertNonFinite(try CanonicalJSON.encode(r), names: "layers[0].share")
    }

    /// A record with a NaN is not written, and a previous file at the path is left as it was.
    func testRunRecordWithNaNWritesNothing() throws {
        var c = ProblemConfiguration()
        c.width = 4
        c.samples = 3
        let problem = try Problem(c)
        let file = path("out.json")
        let timings = Timings(totalSeconds: 0, operatorSeconds: 0, operatorApplications: 0)
        let bad = Result(trace: .infinity, layers: [], extra: [:])
        assertNonFinite(try RunRecord(command: "moments", problem: problem, settings: NoSettings(), timings: timings, result: bad).write(to: file),
                        names: "trace")
        XCTAssertFalse(FileManager.default.fileExists(atPath: file))
        try RunRecord(command: "moments", problem: problem, settings: NoSettings(), timings: timings,
                      result: Result(trace: 3, layers: [], extra: [:])).write(to: file)
        let before = try Data(contentsOf: URL(fileURLWithPath: file))
        XCTAssertThrowsError(try RunRecord(command: "moments", problem: problem, settings: NoSettings(), timings: timings, result: bad).write(to: file))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: file)), before)
    }

    /// A symmetric matrix with one NaN (or ∞) pair of entries: the solvers throw `nonFinite`
    /// instead of reporting eigenvalues of a broken factorization.
    func brokenOperator(_ value: Double) -> MatrixOperator {
        let n = 12
        var a = [Double](repeating: 0, count: n * n)
        for i in 0..<n { a[i * n + i] = Double(i + 1) }
        a[2 * n + 7] = value
        a[7 * n + 2] = value
        return MatrixOperator(a, dimension: n)
    }

    func assertSolverRefuses(_ body: () throws -> Any, line: UInt = #line) {
        XCTAssertThrowsError(try body(), line: line) { error in
            guard case WispError.nonFinite(let message) = error else { return XCTFail("not a non-finite error: \(error)", line: line) }
            XCTAssertTrue(message.contains("non-finite"), message, line: line)
        }
    }

    func testLanczosRefusesNonFiniteOperator() {
        for value in [Double.nan, .infinity] {
            assertSolverRefuses({ try Lanczos.solve(self.brokenOperator(value), settings: LanczosSettings(count: 2, tolerance: 1e-10)) })
        }
    }

    func testSLQRefusesNonFiniteOperator() {
        for value in [Double.nan, .infinity] {
            assertSolverRefuses({ try StochasticLanczosQuadrature.run(self.brokenOperator(value), settings: SLQSettings(probes: 2, steps: 6)) })
        }
    }

    /// KPM on given bounds: a NaN moment is named as non-finite, not blamed on the bounds.
    func testKPMRefusesNonFiniteOperator() {
        assertSolverRefuses({
            try KernelPolynomialMethod.run(self.brokenOperator(.nan), bounds: SpectralBounds(lower: -20, upper: 20),
                                           settings: KPMSettings(probes: 2, moments: 16))
        })
    }

    // MARK: The commands

    /// Finite inputs near 1e150 overflow tr(F²) and the residuals: every command stops with one
    /// line naming the field, a non-zero exit and no output file.
    func testHugeInputsEndWithOneErrorLine() throws {
        var csv = "a,b,c\n"
        for i in 0..<10 { csv += "\(Double(i % 3 - 1) * 1.3e150 + 2e149),\(Double(i) * 1e149 - 3e149),\(7e149)\n" }
        try Data(csv.utf8).write(to: URL(fileURLWithPath: path("big.csv")))
        for command in ["moments", "top", "density"] {
            let output = path("\(command).json")
            let r = try WispExecutable.run([command, "--quiet", "--inputs", path("big.csv"), "--width", "8", "--output", output], in: directory)
            XCTAssertNotEqual(r.status, 0, "\(command) exited 0: \(r.stdout)")
            let lines = r.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "\(command): \(r.stderr)")
            XCTAssertTrue(r.stderr.hasPrefix("wisp: error: "), r.stderr)
            XCTAssertTrue(r.stderr.contains("non-finite"), r.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: output), "\(command) wrote \(output)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: path("\(command).csv")), "\(command) wrote its CSV")
        }
    }
}
