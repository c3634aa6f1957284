import Foundation
import Wisp
import WispMPI
import WispTestSupport
import XCTest

/// The distributed dense eigensolver (`ScaLAPACKEigensolver`, run through the hidden
/// `wisp dense-eigen` command under mpirun on 1–4 ranks) against one-process LAPACK dsyevd
/// computed here on the same matrix. Needs `mpirun` (openmpi-bin) and libscalapack-openmpi.
///
/// Tolerances. Both solvers are backward stable: each computed eigenvalue is an exact one of
/// A + E with ‖E‖₂ ≤ c(n)·ε·‖A‖₂, c(n) = O(n) for the Householder tridiagonalization, so by Weyl
/// two such solvers agree to 2c(n)·ε·‖A‖₂ ≈ 2·10⁻¹⁴ ‖A‖₂ at n ≤ 50; the bound used, 1e-10 ‖A‖₂,
/// leaves a factor ~10⁴ for the constants and still catches any layout error (a misplaced entry
/// moves eigenvalues by O(‖A‖)). Residuals ‖A v − λ v‖ ≤ 10·n·ε·‖A‖_F and orthogonality
/// max |VᵀV − I| ≤ 10·n·ε are the same backward-error bounds for the vectors (measured: about
/// 4e-16 ‖A‖_F and 3e-15, at n ≤ 300).
final class ScaLAPACKTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-scalapack-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    // MARK: matrices

    /// A symmetric matrix with seeded N(0, 1) entries (the upper triangle mirrored).
    private func randomSymmetric(_ n: Int, seed: UInt64) -> [Double] {
        let random = CounterRandom(seed: seed, stream: .inputs)
        var a = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in i..<n {
                a[i * n + j] = random.normal(i * n + j)
                a[j * n + i] = a[i * n + j]
            }
        }
        return a
    }

    /// Q diag(values) Qᵀ with Q a product of three seeded Householder reflectors, so the
    /// spectrum is known and can hold clusters and exact repeats.
    private func withSpectrum(_ values: [Double], seed: UInt64) -> [Double] {
        let n = values.count
        var a = [Double](repeating: 0, count: n * n)
        for i in 0..<n { a[i * n + i] = values[i] }
        let random = CounterRandom(seed: seed, stream: .probe(0))
        for r in 0..<3 {
            var v = (0..<n).map { random.normal(r * n + $0) }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            v = v.map { $0 / norm }
            // A ← H A H with H = I − 2vvᵀ: A − 2v(vᵀA) − 2(Av)vᵀ + 4(vᵀAv)vvᵀ.
            var av = [Double](repeating: 0, count: n)
            for i in 0..<n { for j in 0..<n { av[i] += a[i * n + j] * v[j] } }
            let vav = zip(v, av).reduce(0) { $0 + $1.0 * $1.1 }
            for i in 0..<n {
                for j in 0..<n { a[i * n + j] += -2 * v[i] * av[j] - 2 * av[i] * v[j] + 4 * vav * v[i] * v[j] }
            }
        }
        for i in 0..<n { for j in 0..<i { let s = (a[i * n + j] + a[j * n + i]) / 2; a[i * n + j] = s; a[j * n + i] = s } }
        return a
    }

    private func write(_ a: [Double], n: Int, name: String) throws -> String {
        let path = directory.appendingPathComponent("\(name).npy").path
        try NPY.write(values: a, shape: [n, n], dtype: .float64, to: path)
        return path
    }

    // MARK: running

    private struct Run {
        var values: [Double]
        var indices: [Int]
        var residuals: [Double]?
        var orthogonality: Double?
        var checksums: [Double]?
        var norm: Double
        var method: String
    }

    /// `mpirun -np ranks wisp dense-eigen …`, its JSON read back.
    private func denseEigen(_ matrix: String, ranks: Int, _ extra: [String], file: StaticString = #filePath, line: UInt = #line) throws -> Run {
        let output = directory.appendingPathComponent("out-\(UUID().uuidString).json").path
        let outcome = try mpirun(ranks: ranks, ["dense-eigen", "--matrix", matrix, "--output", output, "--quiet"] + extra)
        XCTAssertEqual(outcome.status, 0, "\(ranks) ranks, \(extra): \(outcome.stdout)\(outcome.stderr)", file: file, line: line)
        XCTAssertFalse(outcome.stdout.contains("illegal") || outcome.stderr.contains("illegal"), outcome.stdout + outcome.stderr, file: file, line: line)
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output))) as! [String: Any]
        return Run(values: object["eigenvalues"] as! [Double], indices: object["indices"] as! [Int],
                   residuals: object["residuals"] as? [Double], orthogonality: object["orthogonality"] as? Double,
                   checksums: object["vector_checksums"] as? [Double],
                   norm: object["frobenius_norm"] as! Double, method: object["method"] as! String)
    }

    private func mpirun(ranks: Int, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let r = try WispExecutable.mpirun(ranks: ranks, arguments, environment: ["OPENBLAS_NUM_THREADS": "1"])
        return (r.status, r.stdout, r.stderr)
    }

    /// Runs the full spectrum with vectors on 1–4 ranks and checks each against LAPACK.
    private func checkAllPairs(_ a: [Double], n: Int, name: String, extra: [String] = [],
                               file: StaticString = #filePath, line: UInt = #line) throws {
        let path = try write(a, n: n, name: name)
        let reference = try LAPACK.symmetricEigen(a, n: n).values
        let scale = reference.map(abs).max() ?? 0
        for ranks in 1...4 {
            let run = try denseEigen(path, ranks: ranks, ["--vectors"] + extra, file: file, line: line)
            XCTAssertTrue(run.method.hasPrefix("ScaLAPACK pdsyevd"), run.method, file: file, line: line)
            assertEqual(run.values, reference, tolerance: 1e-10 * scale, "\(name), \(ranks) ranks", file: file, line: line)
            let residuals = try XCTUnwrap(run.residuals, file: file, line: line)
            let worst = residuals.max() ?? 0, bound = 10 * Double(n) * .ulpOfOne * run.norm
            XCTAssertLessThanOrEqual(worst, bound, "\(name), \(ranks) ranks: worst residual \(worst) > \(bound)", file: file, line: line)
            let orthogonality = try XCTUnwrap(run.orthogonality, file: file, line: line)
            XCTAssertLessThanOrEqual(orthogonality, 10 * Double(n) * .ulpOfOne, "\(name), \(ranks) ranks: orthogonality", file: file, line: line)
        }
    }

    private func assertEqual(_ values: [Double], _ reference: [Double], tolerance: Double, _ what: String,
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(values.count, reference.count, what, file: file, line: line)
        guard values.count == reference.count else { return }
        let (worst, at) = zip(values, reference).enumerated().map { (abs($0.element.0 - $0.element.1), $0.offset) }.max { $0.0 < $1.0 } ?? (0, 0)
        XCTAssertLessThanOrEqual(worst, tolerance, "\(what): eigenvalue \(at) differs by \(worst) (tolerance \(tolerance))", file: file, line: line)
    }

    // MARK: tests

    /// n = 50 in blocks of 8 (not a multiple; on 2 × 2 ranks the blocks are uneven). The
    /// eigenvectors (simple eigenvalues here) carry the same signs on 1–4 ranks and in the
    /// LAPACK path: their fingerprints Σ_i cos(i)·v_ij (|weights| ≤ 1, so ≤ √n times a vector's
    /// error) agree to 100·n·ε·‖A‖₂ / gap_min, the perturbation bound of an eigenvector
    /// (Davis–Kahan: error ≲ backward error / gap) with room for the constants.
    func testRandomMatrixOnOneToFourRanks() throws {
        let a = randomSymmetric(50, seed: 11)
        try checkAllPairs(a, n: 50, name: "random", extra: ["--block-size", "8"])
        let path = try write(a, n: 50, name: "random")
        let output = directory.appendingPathComponent("lapack.json").path
        let r = try WispExecutable.run(["dense-eigen", "--matrix", path, "--solver", "lapack", "--vectors", "--output", output, "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output))) as! [String: Any]
        let reference = try XCTUnwrap(object["vector_checksums"] as? [Double])
        let values = try LAPACK.symmetricEigen(a, n: 50).values
        let gap = zip(values.dropFirst(), values).map { $0 - $1 }.min()!
        let tolerance = 100 * 50 * .ulpOfOne * values.map(abs).max()! / gap
        for ranks in [1, 4] {
            let run = try denseEigen(path, ranks: ranks, ["--vectors", "--block-size", "8"])
            assertEqual(try XCTUnwrap(run.checksums), reference, tolerance: tolerance, "eigenvector fingerprints, \(ranks) ranks")
        }
    }

    /// A fivefold repeated eigenvalue, a cluster of eight within 7·10⁻⁹, and the rest spread.
    func testClusteredAndRepeatedEigenvalues() throws {
        var values = [Double](repeating: 2, count: 5) + (0..<8).map { 1 + Double($0) * 1e-9 }
        values += (0..<27).map { -3 + 6 * Double($0) / 26 }
        try checkAllPairs(withSpectrum(values, seed: 5), n: values.count, name: "clustered", extra: ["--block-size", "4"])
    }

    /// n = 3 on up to 4 ranks: smaller than the 2 × 2 grid, rank 3 holds no rows, and with the
    /// default block 64 the matrix would be one block (the case pdsyevd gets wrong).
    func testMatrixSmallerThanTheGrid() throws {
        try checkAllPairs(randomSymmetric(3, seed: 3), n: 3, name: "tiny")
        try checkAllPairs(randomSymmetric(1, seed: 4), n: 1, name: "one")
    }

    /// n = 13 < nb = 64: pdsyevd's own workspace misses its PDORMTR (without the margin the
    /// vectors come back untransformed, residual ≈ ‖A‖).
    func testMatrixSmallerThanOneBlock() throws {
        try checkAllPairs(randomSymmetric(13, seed: 13), n: 13, name: "one-block")
    }

    /// Top-k by pdsyevr equals the same entries of LAPACK's full spectrum, with and without
    /// vectors; k < nb is the case whose PDORMTR workspace pdsyevr gets wrong.
    func testTopEigenvaluesByIndexRange() throws {
        for (name, n, a, block) in [("random", 50, randomSymmetric(50, seed: 11), "8"), ("one-block", 65, randomSymmetric(65, seed: 65), "64")] {
            let path = try write(a, n: n, name: name)
            let reference = try LAPACK.symmetricEigen(a, n: n).values
            let scale = reference.map(abs).max() ?? 0
            let k = 3
            for ranks in 1...4 {
                let withVectors = ranks != 3
                let run = try denseEigen(path, ranks: ranks, ["--top", "\(k)", "--block-size", block] + (withVectors ? ["--vectors"] : []))
                XCTAssertTrue(run.method.hasPrefix("ScaLAPACK pdsyevr"), run.method)
                XCTAssertEqual(run.indices, Array((n - k)..<n))
                assertEqual(run.values, Array(reference[(n - k)...]), tolerance: 1e-10 * scale, "\(name) top \(k), \(ranks) ranks")
                if withVectors {
                    let worst = try XCTUnwrap(run.residuals).max() ?? 0
                    XCTAssertLessThanOrEqual(worst, 10 * Double(n) * .ulpOfOne * run.norm, "\(name) top \(k), \(ranks) ranks: residual")
                    XCTAssertLessThanOrEqual(try XCTUnwrap(run.orthogonality), 10 * Double(n) * .ulpOfOne)
                }
            }
        }
        // All eigenvalues without vectors (pdsyevr, range 'A').
        let path = try write(randomSymmetric(50, seed: 11), n: 50, name: "values")
        let run = try denseEigen(path, ranks: 2, ["--block-size", "8"])
        XCTAssertTrue(run.method.hasPrefix("ScaLAPACK pdsyevr"), run.method)
        let reference = try LAPACK.symmetricEigen(randomSymmetric(50, seed: 11), n: 50).values
        assertEqual(run.values, reference, tolerance: 1e-10 * (reference.map(abs).max() ?? 0), "all values, 2 ranks")
    }

    /// Non-square and truncated files, a bad --top and a missing launcher: one error line each.
    func testBadInput() throws {
        let nonSquare = directory.appendingPathComponent("rect.npy").path
        try NPY.write(values: Array(repeating: 1, count: 12), shape: [3, 4], dtype: .float64, to: nonSquare)
        let good = NPY.encode(values: randomSymmetric(4, seed: 1), shape: [4, 4], dtype: .float64)
        let truncated = directory.appendingPathComponent("trunc.npy").path
        try good.prefix(good.count - 8).write(to: URL(fileURLWithPath: truncated))
        let square = directory.appendingPathComponent("square.npy").path
        try good.write(to: URL(fileURLWithPath: square))
        for (arguments, word) in [([nonSquare], "not a square matrix"), ([truncated], "truncated"), ([square, "--top", "5"], "--top")] {
            let args = ["dense-eigen", "--matrix"] + arguments
            let serial = try WispExecutable.run(args + ["--solver", "lapack"])
            XCTAssertNotEqual(serial.status, 0)
            XCTAssertEqual(serial.stderr.split(separator: "\n").count, 1, serial.stderr)
            XCTAssertTrue(serial.stderr.hasPrefix("wisp: error: ") && serial.stderr.contains(word), serial.stderr)
            let parallel = try mpirun(ranks: 2, args)
            XCTAssertNotEqual(parallel.status, 0)
            let lines = parallel.stderr.split(separator: "\n").filter { $0.hasPrefix("wisp: error: ") }
            XCTAssertEqual(lines.count, 1, parallel.stderr)
            XCTAssertTrue(lines.first?.contains(word) ?? false, parallel.stderr)
        }
        let unlaunched = try WispExecutable.run(["dense-eigen", "--matrix", square])
        XCTAssertNotEqual(unlaunched.status, 0)
        XCTAssertTrue(unlaunched.stderr.hasPrefix("wisp: error: ") && unlaunched.stderr.contains("mpirun"), unlaunched.stderr)
    }

    /// The one-process LAPACK path of the command equals LAPACK here (it is the reference the
    /// benchmark times).
    func testGatheredLAPACKPath() throws {
        let a = randomSymmetric(20, seed: 2)
        let path = try write(a, n: 20, name: "lapack")
        let output = directory.appendingPathComponent("lapack.json").path
        let r = try WispExecutable.run(["dense-eigen", "--matrix", path, "--solver", "lapack", "--vectors", "--top", "4", "--output", output, "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output))) as! [String: Any]
        let reference = try LAPACK.symmetricEigen(a, n: 20).values
        // Not bitwise: the binary's OpenBLAS may use another thread count (blocking) than this process.
        let scale = reference.map(abs).max() ?? 0
        assertEqual(object["eigenvalues"] as! [Double], Array(reference[16...]), tolerance: 10 * 20 * .ulpOfOne * scale, "gathered LAPACK")
        XCTAssertLessThanOrEqual((object["residuals"] as! [Double]).max()!, 10 * 20 * .ulpOfOne * (object["frobenius_norm"] as! Double))
    }

    /// The memory model: ≈ 4n²/p doubles per process with vectors (A, Z, pdsyevd's 2n²/p
    /// workspace), ≈ 2n²/p without, never n² for p > 1; and the grid is near-square.
    func testMemoryModelAndGrid() {
        let n = 100_000, p = 64
        let share = 8 * Double(n) * Double(n) / Double(p)
        let withVectors = ScaLAPACKEigensolver.bytesPerProcess(dimension: n, vectors: true, processes: p)
        let valuesOnly = ScaLAPACKEigensolver.bytesPerProcess(dimension: n, vectors: false, processes: p)
        XCTAssertGreaterThan(withVectors, 4 * share)
        XCTAssertLessThan(withVectors, 4.2 * share)
        XCTAssertGreaterThan(valuesOnly, 2 * share)
        XCTAssertLessThan(valuesOnly, 2.2 * share)
        XCTAssertTrue(ScaLAPACKEigensolver.grid(processes: 64) == (8, 8))
        XCTAssertTrue(ScaLAPACKEigensolver.grid(processes: 6) == (2, 3))
        XCTAssertTrue(ScaLAPACKEigensolver.grid(processes: 3) == (1, 3))
        XCTAssertTrue(ScaLAPACKEigensolver.grid(processes: 1) == (1, 1))
    }
}
