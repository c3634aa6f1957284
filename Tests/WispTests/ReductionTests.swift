import Foundation
import WispTestSupport
import XCTest
@testable import Wisp

/// Model reduction on the Fisher eigenvectors (Cowlagi & Chaudhari): the projection identities,
/// the eigenbasis against an independent dense eigendecomposition, and `wisp reduce`.
final class ReductionTests: XCTestCase {
    /// A tiny softmax classifier (C = 3) on teacher classes: P = 4·6+6 + 6·6+6 + 6·3+3 = 93.
    static func problem(_ loss: Loss = .crossEntropy, seed: UInt64 = 3, _ configure: (inout ProblemConfiguration) -> Void = { _ in }) throws -> Problem {
        var c = ProblemConfiguration()
        c.width = 6
        c.inputDimension = 4
        c.samples = 10
        c.outputs = 3
        c.activation = .tanh
        c.sigmaB2 = 0.1
        c.loss = loss
        c.seed = seed
        configure(&c)
        return try Problem(c)
    }

    /// The FIM formed independently: the scalar-loop Jacobian and H_ℓ = diag p − p pᵀ from the
    /// scalar-loop outputs (one-hot targets, so Σ_k y_k = 1), G = (1/T) Σ_t J_tᵀ H_t J_t.
    static func denseFisher(_ problem: Problem) throws -> [Double] {
        let a = problem.architecture, P = a.parameterCount, C = a.outputs, T = problem.totalSamples, d = a.inputDimension
        let theta = problem.parameters
        let J = DenseReference.jacobian(architecture: a, parameters: theta, inputs: problem.dataset)
        var hj = [Double](repeating: 0, count: T * C * P)
        for t in 0..<T {
            let f = DenseReference.outputs(architecture: a, parameters: theta, input: Array(problem.dataset.values[(t * d)..<((t + 1) * d)]))
            let m = f.max()!, z = f.map { Foundation.exp($0 - m) }.reduce(0, +)
            let p = f.map { Foundation.exp($0 - m) / z }
            for k in 0..<C {
                for j in 0..<P {
                    var s = 0.0
                    for l in 0..<C { s += ((k == l ? p[k] : 0) - p[k] * p[l]) * J[(t * C + l) * P + j] }
                    hj[(t * C + k) * P + j] = s
                }
            }
        }
        let jt = DenseReference.transpose(J, rows: T * C, cols: P)
        return DenseReference.multiply(jt, hj, rows: P, inner: T * C, cols: P).map { $0 / Double(T) }
    }

    static func norm(_ x: [Double]) -> Double { x.reduce(0) { $0 + $1 * $1 }.squareRoot() }
    static func distance(_ x: [Double], _ y: [Double]) -> Double { norm(zip(x, y).map { $0 - $1 }) }

    func testKeepParsing() throws {
        XCTAssertEqual(try KeepCount(parsing: "40").resolve(parameters: 93), 40)
        XCTAssertEqual(try KeepCount(parsing: "5%").resolve(parameters: 1000), 50)
        XCTAssertEqual(try KeepCount(parsing: "100%").resolve(parameters: 93), 93)
        XCTAssertEqual(try KeepCount(parsing: "0").resolve(parameters: 93), 0)
        for bad in ["-1", "abc", "150%", "x%", "", "1.5"] { XCTAssertThrowsError(try KeepCount(parsing: bad), bad) }
        XCTAssertThrowsError(try KeepCount(parsing: "94").resolve(parameters: 93))
    }

    /// k = P returns w (both variants; V is orthogonal, so VᵀV w = w up to rounding: ‖·‖ ≤ 1e-12‖w‖
    /// for P = 93, about √P·ε·cond = 1e-14 in practice); k = 0 with an origin returns the origin exactly;
    /// the evaluated losses match the full and initial models.
    func testProjectionIdentities() throws {
        let problem = try Self.problem()
        let P = problem.parameterCount
        let w = problem.parameters
        let w0 = Network<Double>(architecture: problem.architecture, seed: 99).parameters
        let settings = ReductionSettings(keep: .percent(100), sweep: [.count(0), .count(10), .percent(100)])
        let (result, basis, saved) = try ModelReduction.run(problem, initial: w0, settings: settings)
        XCTAssertEqual(basis.count, P)
        XCTAssertEqual(result.eigenvalues.count, P)
        XCTAssertLessThan(Self.distance(saved["weights"]!, w), 1e-12 * Self.norm(w))
        XCTAssertLessThan(Self.distance(saved["change"]!, w), 1e-12 * Self.norm(w))
        for m in result.reduced {
            XCTAssertEqual(m.loss, result.full.loss, accuracy: 1e-10 * result.full.loss)
            XCTAssertEqual(m.accuracy, result.full.accuracy)
            XCTAssertEqual(m.capturedShare, 1, accuracy: 1e-12)
        }
        let zero = ModelReduction.project(w, origin: w0, basis: basis.vectors, k: 0, P: P)
        XCTAssertEqual(zero.parameters, w0)
        let change0 = try XCTUnwrap(result.sweep.first { $0.k == 0 && $0.variant == "change" })
        XCTAssertEqual(change0.loss, try XCTUnwrap(result.initial).loss)
        let weights0 = try XCTUnwrap(result.sweep.first { $0.k == 0 && $0.variant == "weights" })
        XCTAssertEqual(weights0.relativeDistance, 1, accuracy: 1e-15)
        // The eigenbasis is orthonormal (1e-12: dsyevd's vectors are orthogonal to O(Pε)).
        var gram = [Double](repeating: 0, count: P * P)
        Double.gemm(transA: false, transB: true, m: P, n: P, k: P, alpha: 1, a: basis.vectors, lda: P, b: basis.vectors, ldb: P, beta: 0, c: &gram, ldc: P)
        for i in 0..<P { for j in 0..<P { XCTAssertEqual(gram[i * P + j], i == j ? 1 : 0, accuracy: 1e-12) } }
        XCTAssertEqual(result.sweep.map(\.k), [0, 0, 10, 10, P, P])
    }

    /// The eigenvalues and the projections against the independently formed dense G and LAPACK:
    /// eigenvalues to 1e-10·λ_1 (the operator and the scalar loops agree to ~1e-13); projections
    /// onto the top-k span Π_k w for k at a gap λ_k − λ_(k+1) ≥ 1e-2 λ_1, where the subspace is
    /// determined to ~ε‖G‖/gap, so 1e-9‖w‖ is generous. Then the Lanczos path (dense limit 0) in
    /// parameter space against the same dense projections (tolerance 1e-10 of the residual gives ~1e-8).
    func testEigenbasisAgainstDenseReference() throws {
        let problem = try Self.problem()
        let P = problem.parameterCount
        let g = try Self.denseFisher(problem)
        let (ascending, z) = try LAPACK.symmetricEigen(g, n: P, vectors: true)
        let values = Array(ascending.reversed())
        let basis = try ModelReduction.eigenbasis(problem, matrix: .ggn, count: P, denseLimit: 4096, tolerance: 1e-10, seed: 1)
        XCTAssertEqual(basis.method.hasPrefix("dense"), true)
        for i in 0..<P { XCTAssertEqual(basis.values[i], values[i], accuracy: 1e-10 * values[0]) }
        XCTAssertLessThan(basis.worstResidual, 1e-12 * values[0])
        let w = problem.parameters
        let rank = values.filter { $0 > 1e-10 * values[0] }.count
        XCTAssertLessThanOrEqual(rank, problem.totalSamples * 2, "softmax H_ℓ has rank C − 1")
        let ks = (1..<rank).filter { values[$0 - 1] - values[$0] >= 1e-2 * values[0] }.prefix(4)
        XCTAssertFalse(ks.isEmpty)
        let lanczos = try ModelReduction.eigenbasis(problem, matrix: .ggn, count: ks.max()!, denseLimit: 0, tolerance: 1e-10, seed: 1)
        XCTAssertTrue(lanczos.method.contains("Lanczos"))
        for k in ks {
            let reference = DenseReference.topProjection(w, eigenvectors: z, P: P, k: k)
            let dense = ModelReduction.project(w, origin: nil, basis: basis.vectors, k: k, P: P).parameters
            XCTAssertLessThan(Self.distance(dense, reference), 1e-9 * Self.norm(w), "k = \(k)")
            let krylov = ModelReduction.project(w, origin: nil, basis: lanczos.vectors, k: k, P: P).parameters
            XCTAssertLessThan(Self.distance(krylov, reference), 1e-7 * Self.norm(w), "Lanczos, k = \(k)")
        }
    }

    /// For mse the FIM is F; the sample-space path (k ≥ 32, TC ≤ P/2) maps K's eigenvectors and
    /// must span the same top-k space as the dense eigenvectors of F (1e-7: Lanczos tolerance 1e-10).
    func testSampleSpacePathForMSE() throws {
        let problem = try Self.problem(.mse) { $0.width = 12; $0.samples = 12; $0.outputs = 3 }
        let P = problem.parameterCount
        XCTAssertTrue(EigenvectorExport.usesSampleSpace(matrix: .fisher, k: 32, problem: problem))
        let dense = try ModelReduction.eigenbasis(problem, matrix: .fisher, count: P, denseLimit: 4096, tolerance: 1e-10, seed: 1)
        let k = (32..<36).first { dense.values[$0 - 1] - dense.values[$0] >= 1e-3 * dense.values[0] } ?? 32
        let sample = try ModelReduction.eigenbasis(problem, matrix: .fisher, count: k, denseLimit: 0, tolerance: 1e-10, seed: 1)
        XCTAssertTrue(sample.method.contains("sample space"))
        for i in 0..<k { XCTAssertEqual(sample.values[i], dense.values[i], accuracy: 1e-9 * dense.values[0]) }
        let w = problem.parameters
        let a = ModelReduction.project(w, origin: nil, basis: dense.vectors, k: k, P: P).parameters
        let b = ModelReduction.project(w, origin: nil, basis: sample.vectors, k: k, P: P).parameters
        XCTAssertLessThan(Self.distance(a, b), 1e-7 * Self.norm(w))
    }

    func testInitialModelShapeChecked() throws {
        let problem = try Self.problem()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-reduce-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let other = try Self.problem { $0.width = 7 }
        let path = dir.appendingPathComponent("other.safetensors").path
        try other.network().save(safetensors: path)
        XCTAssertThrowsError(try ModelReduction.loadInitial(path, problem: problem)) { error in
            XCTAssertTrue("\(error)".contains("differ"), "\(error)")
        }
        let same = dir.appendingPathComponent("same.safetensors").path
        try problem.network().save(safetensors: same)
        XCTAssertEqual(try ModelReduction.loadInitial(same, problem: problem), problem.parameters)
    }

    /// `wisp reduce` end to end: JSON, CSV, SVG and the reduced model (which loads and equals the
    /// original at 100 %); one error line and a non-zero exit for bad --keep, a --init of another shape,
    /// a missing --model.
    func testCommandLine() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-reduce-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func wisp(_ arguments: [String]) throws -> (Int32, String) {
            let r = try WispExecutable.run(arguments)
            return (r.status, r.stderr)
        }
        func file(_ name: String) -> String { directory.appendingPathComponent(name).path }
        let shape = ["--width", "8", "--input-dim", "5", "--outputs", "3"]
        let data = ["--samples", "11", "--loss", "cross-entropy", "--quiet"]
        XCTAssertEqual(try wisp(["theory"] + shape + data + ["--save-model", file("model.safetensors")]).0, 0)
        XCTAssertEqual(try wisp(["theory"] + shape + data + ["--seed", "5", "--save-model", file("init.safetensors")]).0, 0)
        XCTAssertEqual(try wisp(["theory", "--width", "9", "--input-dim", "5", "--outputs", "3"] + data + ["--save-model", file("wide.safetensors")]).0, 0)
        let model = ["--model", file("model.safetensors")] + data
        let run = try wisp(["reduce"] + model + ["--init", file("init.safetensors"), "--keep", "100%", "--sweep", "0,5,50%,100%",
                                                  "--save-reduced", file("reduced.safetensors"), "--output", file("r.json")])
        XCTAssertEqual(run.0, 0, run.1)
        let record = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file("r.json")))) as! [String: Any]
        XCTAssertEqual(record["command"] as? String, "reduce")
        XCTAssertEqual(record["matrix"] as? String, "ggn")
        XCTAssertEqual((record["sweep"] as? [Any])?.count, 8)
        XCTAssertEqual(record["saved_variant"] as? String, "change")
        for ext in ["csv", "svg"] { XCTAssertTrue(FileManager.default.fileExists(atPath: file("r.\(ext)"))) }
        let original = try SafeTensorsFile.read(path: file("model.safetensors")), reduced = try SafeTensorsFile.read(path: file("reduced.safetensors"))
        XCTAssertEqual(Set(original.tensors.keys), Set(reduced.tensors.keys))
        for (key, t) in original.tensors {
            for (x, y) in zip(t.values, reduced.tensors[key]!.values) { XCTAssertEqual(x, y, accuracy: 1e-12) }
        }
        for (arguments, word) in [(["--keep", "150%"], "--keep"), (["--keep", "abc"], "--keep"), (["--keep", "100000"], "exceeds"),
                                  (["--init", file("wide.safetensors")], "differ"), (["--variant", "change"], "--init")] {
            let (status, stderr) = try wisp(["reduce"] + model + arguments + ["--output", file("bad.json")])
            XCTAssertNotEqual(status, 0, "\(arguments)")
            XCTAssertEqual(stderr.split(separator: "\n").count, 1, stderr)
            XCTAssertTrue(stderr.hasPrefix("wisp: error: ") && stderr.contains(word), stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: file("bad.json")))
        }
        let (status, stderr) = try wisp(["reduce"] + data + ["--output", file("bad.json")])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(stderr.contains("--model"), stderr)
    }
}
