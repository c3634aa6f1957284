import Foundation
import XCTest
@testable import Wisp
import WispTestSupport

/// Every number Wisp writes reads back as the same double: the canonical JSON writer and the
/// CSV writers on doubles of every binary exponent (sign, subnormals, the extremes, integers
/// stored as doubles), through `JSONDecoder`, `Double(String)` and ``ExactJSON``, and
/// the real outputs of the commands (JSON against CSV, every number in its shortest form).
final class RoundTripTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-roundtrip-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// Three random doubles for each of the 2046 finite binary exponents (random sign and
    /// significand, from a seeded generator), plus the special cases.
    static let doubles: [Double] = {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {   // SplitMix64
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        var xs: [Double] = [0.0, -0.0, 5e-324, -5e-324, .leastNormalMagnitude, .leastNormalMagnitude.nextDown, 1e308, -1e308,
                            .greatestFiniteMagnitude, 1.0, 3.0, -2.0, 0.1, 1.0 / 3, 9007199254740992, 9007199254740994, 1e15, 1e16,
                            123456789012345680000, 2.2250738585072011e-308, 4.9406564584124654e-324 * 3, 0.30000000000000004]
        for exponent in UInt64(0)...2046 {
            for _ in 0..<3 {
                let r = next()
                xs.append(Double(bitPattern: (r & (1 << 63)) | (exponent << 52) | (r & ((1 << 52) - 1))))
            }
        }
        return xs
    }()

    func assertSameBits(_ a: [Double], _ b: [Double], _ via: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, via, file: file, line: line)
        var bad = 0
        for (x, y) in zip(a, b) where x.bitPattern != y.bitPattern {
            if bad < 5 { XCTFail("\(via): \(x) (\(String(x.bitPattern, radix: 16))) read back as \(y)", file: file, line: line) }
            bad += 1
        }
        XCTAssertEqual(bad, 0, "\(via): \(bad) of \(a.count) numbers changed", file: file, line: line)
    }

    func testCanonicalJSONRoundTripsEveryExponent() throws {
        let xs = Self.doubles
        let data = try CanonicalJSON.encode(xs)
        let text = String(decoding: data, as: UTF8.self)
        // Double(String) on each written number, and each is Swift's shortest round-trip text.
        let tokens = text.dropFirst().dropLast().split(separator: ",").map(String.init)
        assertSameBits(xs, tokens.map { Double($0) ?? .nan }, "Double(String)")
        XCTAssertEqual(tokens, xs.map(\.description))
        assertSameBits(xs, try JSONDecoder().decode([Double].self, from: data), "JSONDecoder")
        // (Not JSONSerialization: on Linux it reads many numbers through NSDecimalNumber and
        // rounds about one in five wrongly, whatever the text; see ExactJSON.)
        let exact = try XCTUnwrap(ExactJSON.parse(data) as? [Any])
        assertSameBits(xs, exact.map { ($0 as? Double) ?? Double($0 as? Int ?? 0) }, "ExactJSON")
        // Pretty output reads back the same, too.
        assertSameBits(xs, try JSONDecoder().decode([Double].self, from: try CanonicalJSON.encode(xs, pretty: true)), "pretty")
    }

    /// Floats are written as the double they convert to, so they read back exactly as Float too.
    func testFloatsRoundTrip() throws {
        let fs: [Float] = Self.doubles.compactMap { Float(exactly: Float($0)) }.filter(\.isFinite)
        let back = try JSONDecoder().decode([Double].self, from: try CanonicalJSON.encode(fs))
        XCTAssertEqual(back.map { Float($0).bitPattern }, fs.map(\.bitPattern))
    }

    /// Keys are sorted by bytes at every level and the bytes do not depend on insertion order
    /// or on the process (Foundation's hashing is seeded per process).
    func testKeysAreSortedAndDeterministic() throws {
        let keys = (0..<200).map { "k\($0 * 7919 % 1000)" } + ["B", "a", "_x", "é", "Z9"]
        var forward = [String: Double](), backward = [String: Double]()
        for (i, k) in keys.enumerated() { forward[k] = Double(i) }
        for (i, k) in keys.enumerated().reversed() { backward[k] = Double(i) }
        struct Nested: Encodable { var outer: [String: Double]; var inner: [String: [String: Double]] }
        XCTAssertEqual(try CanonicalJSON.encode(Nested(outer: forward, inner: ["z": backward, "y": forward])),
                       try CanonicalJSON.encode(Nested(outer: backward, inner: ["y": backward, "z": forward])))
        let a = try CanonicalJSON.encode(forward)
        XCTAssertEqual(a, try CanonicalJSON.encode(backward))
        let text = String(decoding: a, as: UTF8.self)
        let order = keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        let positions: [String.Index] = order.map { text.range(of: "\"\($0)\":")!.lowerBound }
        XCTAssertEqual(positions, positions.sorted(), "keys out of byte order")
    }

    /// The benchmark reports' snake_case keys, as Foundation's `.convertToSnakeCase` spells them.
    func testSnakeCaseKeys() {
        XCTAssertEqual(["peakMemoryKB", "dgemmPeakGflops", "rows", "m1Error", "URLPath"].map(CanonicalJSON.snakeCase),
                       ["peak_memory_kb", "dgemm_peak_gflops", "rows", "m1_error", "url_path"])
    }

    /// The escapes of strings: quotes, backslashes and control characters; slashes stay.
    func testStringsRoundTrip() throws {
        let strings = ["a/b", "quote \" back \\ slash", "tab\tnewline\n\u{1}\u{7F}", "π ≈ 3.14 — é", ""]
        let data = try CanonicalJSON.encode(strings)
        XCTAssertEqual(try JSONDecoder().decode([String].self, from: data), strings)
        XCTAssertTrue(String(decoding: data, as: UTF8.self).contains("a/b"))
    }

    /// The CSV writers print Swift's shortest round-trip text: every number reads back exactly.
    func testDensityCSVRoundTrips() throws {
        var d = try SpectralDensity(nodes: [1, 2], weights: [0.5, 0.5], settings: DensitySettings(scale: .linear, points: 8))
        let xs = Self.doubles
        d.grid = xs
        d.density = xs.reversed()
        let rows = DensityFiles.csv(d).split(separator: "\n").dropFirst(1)
        let parsed = rows.map { $0.split(separator: ",").map { Double(String($0)) ?? .nan } }
        assertSameBits(parsed.map { $0[0] }, xs, "density CSV grid")
        assertSameBits(parsed.map { $0[1] }, Array(xs.reversed()), "density CSV density")
    }

    /// A run record written to disk reads back with the same bits.
    func testRunRecordRoundTrips() throws {
        struct Values: Encodable { var values: [Double] }
        var c = ProblemConfiguration()
        c.width = 4
        c.samples = 3
        let problem = try Problem(c)
        let file = path("record.json")
        try RunRecord(command: "test", problem: problem, settings: NoSettings(), timings: Timings(totalSeconds: 0.1, operatorSeconds: 0, operatorApplications: 0),
                      result: Values(values: Self.doubles)).write(to: file)
        let object = try ExactJSON.object(file: file)
        let back = try XCTUnwrap(object["values"] as? [Any]).map { ($0 as? Double) ?? .nan }
        assertSameBits(Self.doubles, back, "run record")
        XCTAssertEqual((object["configuration"] as? [String: Any])?["sigma_w2"] as? Double, 2)
    }

    // MARK: The real outputs

    func wisp(_ arguments: [String]) throws -> WispExecutable.Outcome { try WispExecutable.run(arguments, in: directory) }

    /// Every number token of a JSON text is the shortest text of the double it denotes.
    func assertShortestNumbers(_ file: String, line: UInt = #line) throws {
        let text = try String(contentsOfFile: file, encoding: .utf8)
        let regex = try NSRegularExpression(pattern: "(?<=[:\\[,\\s])-?[0-9][0-9.eE+-]*(?=[,\\]\\}\\s])")
        var checked = 0
        for match in regex.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
            let token = String(text[Range(match.range, in: text)!])
            guard token.contains(".") || token.contains("e") else { continue }   // integers
            guard let x = Double(token) else { XCTFail("\(file): '\(token)' is not a number", line: line); continue }
            XCTAssertEqual(x.description, token, "\(file): not the shortest round-trip text", line: line)
            checked += 1
        }
        XCTAssertGreaterThan(checked, 0, line: line)
    }

    /// `data-spectrum`: every eigenvalue in the CSV equals the JSON's bit for bit (this was one
    /// ulp apart on some machines with Foundation's writer).
    func testDataSpectrumJSONEqualsCSV() throws {
        let data = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Data/diabetes/diabetes.csv").path
        let output = path("spectrum.json")
        let r = try wisp(["data-spectrum", "--quiet", "--inputs", ProcessInfo.processInfo.environment["WISP_DATA"].map { $0 + "/diabetes/diabetes.csv" } ?? data,
                          "--target-column", "target", "--output", output])
        XCTAssertEqual(r.status, 0, r.stderr)
        let record = try ExactJSON.object(file: output)
        let csv = try String(contentsOfFile: path("spectrum.csv"), encoding: .utf8).split(separator: "\n").dropFirst(1)
        for (column, key) in [(1, "correlation"), (2, "covariance")] {
            let json = try XCTUnwrap((record[key] as? [String: Any])?["eigenvalues"] as? [Double])
            let fromCSV = csv.map { Double(String($0.split(separator: ",")[column])) ?? .nan }
            assertSameBits(json, fromCSV, "\(key): JSON vs CSV")
        }
        try assertShortestNumbers(output)
    }

    /// `density`: the JSON grid and density equal the CSV's bit for bit; every number shortest.
    func testDensityJSONEqualsCSV() throws {
        let output = path("density.json")
        let r = try wisp(["density", "--quiet", "--width", "12", "--samples", "10", "--probes", "3", "--steps", "8",
                          "--grid-points", "40", "--output", output])
        XCTAssertEqual(r.status, 0, r.stderr)
        let record = try ExactJSON.object(file: output)
        let grid = try XCTUnwrap(record["grid"] as? [Double]), density = try XCTUnwrap(record["density"] as? [Double])
        let rows = try String(contentsOfFile: path("density.csv"), encoding: .utf8).split(separator: "\n").dropFirst(1)
        assertSameBits(grid, rows.map { Double(String($0.split(separator: ",")[0])) ?? .nan }, "grid")
        assertSameBits(density, rows.map { Double(String($0.split(separator: ",")[1])) ?? .nan }, "density")
        try assertShortestNumbers(output)
    }

    /// `top`, `moments`, `theory`: their records hold only shortest round-trip numbers.
    func testCommandRecordsAreShortest() throws {
        for command in ["top", "moments", "theory"] {
            let output = path("\(command).json")
            let r = try wisp([command, "--quiet", "--width", "10", "--samples", "8", "--output", output])
            XCTAssertEqual(r.status, 0, "\(command): \(r.stderr)")
            try assertShortestNumbers(output)
        }
    }
}
