import Foundation
import Wisp
import WispTestSupport
import XCTest

/// The loss matrices of a network given as layers from the command line (`--matrix ggn|hessian`
/// with `--loss`, `--labels`, `--targets`): against a dense reference built from the library's
/// passes and LAPACK, the dense Hessian against central differences of the gradient, the
/// refusals, and BatchNorm's statistics summed over ranks.
final class LayerLossCLITests: XCTestCase {
    /// A tiny CNN, P = 2·9 + 2 + 8·3 + 3 = 47, C = 3.
    static let cnn = #"""
    {"input": [1, 4, 4],
     "layers": [{"kind": "Conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": 3, "padding": 1}, {"kind": "Tanh"},
                {"kind": "MaxPool2d", "kernel_size": 2}, {"kind": "Flatten"}, {"kind": "Linear", "in_features": 8, "out_features": 3}]}
    """#
    static let labels = [0, 2, 1, 1, 0, 2, 2, 1, 0]
    static let (T, C, seed) = (9, 3, UInt64(3))

    func architecture(_ text: String = cnn) throws -> LayerArchitecture { try LayerArchitecture.parse(Data(text.utf8), name: "cnn.json") }

    /// One-hot rows of ``labels``.
    var oneHot: [Double] { Self.labels.flatMap { k in (0..<Self.C).map { $0 == k ? 1.0 : 0.0 } } }

    /// The CLI's data: Gaussian inputs from the seed (the stream of ``Dataset/gaussian``).
    func dataset() throws -> Dataset { try Dataset.gaussian(totalSamples: Self.T, dimension: 16, seed: Self.seed) }

    /// The network at θ, run forward over the T samples.
    func network(_ theta: [Double]? = nil) throws -> LayerSequence<Double> {
        let a = try architecture()
        let layers = try a.makeLayers(as: Double.self)
        let seq = try LayerSequence(layers: layers, parameters: theta ?? a.initialParameters(for: layers, seed: Self.seed))
        try seq.forward(try dataset())
        return seq
    }

    func directory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-layerloss-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data(Self.cnn.utf8).write(to: dir.appendingPathComponent("cnn.json"))
        try Data((Self.labels.map(String.init).joined(separator: "\n") + "\n").utf8).write(to: dir.appendingPathComponent("labels.csv"))
        return dir
    }

    func eigenvalues(_ dir: URL, _ file: String) throws -> [Double] {
        let record = try ExactJSON.object(file: dir.appendingPathComponent(file).path)
        return try XCTUnwrap(record["eigenvalues"] as? [Double])
    }

    /// `top --matrix hessian --loss cross-entropy --labels` against LAPACK on the dense H of the
    /// library (LayerHessianOperator on unit vectors), which in turn equals central differences
    /// of the gradient (1/T) Jᵀ r: h = 1e-5 leaves h²·|∇³L| ≈ 1e-10 and ε/h ≈ 1e-11, so 1e-6
    /// relative (Frobenius) is far above the error and far below any wrong term.
    func testHessianTopAgainstDenseHessian() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try WispExecutable.run(["top", "--architecture", "cnn.json", "--samples", "\(Self.T)", "--seed", "\(Self.seed)",
                                          "--labels", "labels.csv", "--loss", "cross-entropy", "--matrix", "hessian",
                                          "--which", "largest-magnitude", "--k", "3", "--tol", "1e-10", "--output", "h.json", "--quiet"], in: dir)
        XCTAssertEqual(run.status, 0, run.stderr)
        let values = try eigenvalues(dir, "h.json")

        let targets = try Targets(columns: Self.C, samples: 0..<Self.T, values: oneHot, classes: Self.C, source: "labels")
        let problem = try LayerProblem(architecture: try architecture(), inputs: LayerInputs(dataset: try dataset(), source: .gaussian, targets: targets),
                                       weights: .initial, seed: Self.seed, loss: .crossEntropy)
        let P = problem.parameterCount
        XCTAssertEqual(P, 47)
        let H = DenseReference.dense(try problem.makeOperator(.hessian))

        // ∇L(θ) = (1/T) Jᵀ r at θ, r = softmax(f) − y.
        func gradient(_ theta: [Double]) throws -> [Double] {
            let seq = try network(theta)
            let r = Loss.crossEntropy.evaluate(outputs: seq.outputs, targets: oneHot, columns: Self.C).gradient
            var g = [Double](repeating: 0, count: P)
            r.withUnsafeBufferPointer { r in g.withUnsafeMutableBufferPointer { seq.vjp(r.baseAddress!, alpha: 1 / Double(Self.T), into: $0.baseAddress!) } }
            return g
        }
        let theta = problem.parameters()
        let h = 1e-5
        var fd = [Double](repeating: 0, count: P * P)
        for j in 0..<P {
            var plus = theta, minus = theta
            plus[j] += h
            minus[j] -= h
            let (gp, gm) = (try gradient(plus), try gradient(minus))
            for i in 0..<P { fd[i * P + j] = (gp[i] - gm[i]) / (2 * h) }
        }
        XCTAssertLessThan(DenseReference.relativeError(H, fd), 1e-6, "H against central differences of ∇L")

        let exact = try LAPACK.symmetricEigen(H, n: P).values.sorted { abs($0) > abs($1) }
        XCTAssertTrue(exact.prefix(3).contains { $0 < 0 }, "the test should see a negative eigenvalue of the indefinite H")
        for i in 0..<3 { XCTAssertEqual(values[i], exact[i], accuracy: 1e-8 * abs(exact[0]), "λ_\(i + 1)") }
    }

    /// `top --matrix ggn --loss cross-entropy --labels` against LAPACK on G = (1/T) Σ_t J_tᵀ
    /// (diag p_t − p_t p_tᵀ) J_t formed densely here (J from unit-vector JVPs, p = softmax(f)).
    func testGGNCrossEntropyAgainstDenseJHJ() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try WispExecutable.run(["top", "--architecture", "cnn.json", "--samples", "\(Self.T)", "--seed", "\(Self.seed)",
                                          "--labels", "labels.csv", "--loss", "cross-entropy", "--matrix", "ggn",
                                          "--k", "3", "--tol", "1e-10", "--output", "g.json", "--quiet"], in: dir)
        XCTAssertEqual(run.status, 0, run.stderr)
        let values = try eigenvalues(dir, "g.json")
        let record = try ExactJSON.object(file: dir.appendingPathComponent("g.json").path)
        let configuration = try XCTUnwrap(record["configuration"] as? [String: Any])
        XCTAssertEqual(configuration["loss"] as? String, "cross-entropy")
        XCTAssertEqual((configuration["targets"] as? [String: Any])?["kind"] as? String, "file")
        XCTAssertEqual((configuration["targets"] as? [String: Any])?["classes"] as? Int, 3)

        let seq = try network()
        let (P, n, C) = (seq.parameterCount, Self.T, Self.C)
        var J = [Double](repeating: 0, count: n * C * P)   // (n·C) × P
        var e = [Double](repeating: 0, count: P), column = [Double](repeating: 0, count: n * C)
        for j in 0..<P {
            e[j] = 1
            e.withUnsafeBufferPointer { v in column.withUnsafeMutableBufferPointer { seq.jvp(v.baseAddress!, into: $0.baseAddress!) } }
            e[j] = 0
            for i in 0..<(n * C) { J[i * P + j] = column[i] }
        }
        let f = seq.outputs
        var G = [Double](repeating: 0, count: P * P)
        for t in 0..<n {
            let row = Array(f[(t * C)..<((t + 1) * C)])
            let m = row.max()!
            let z = row.reduce(0) { $0 + exp($1 - m) }
            let p = row.map { exp($0 - m) / z }
            for a in 0..<C {
                for b in 0..<C {
                    let hab = (a == b ? p[a] : 0) - p[a] * p[b]
                    for i in 0..<P {
                        let x = hab * J[(t * C + a) * P + i] / Double(n)
                        for j in 0..<P { G[i * P + j] += x * J[(t * C + b) * P + j] }
                    }
                }
            }
        }
        let exact = try LAPACK.symmetricEigen(G, n: P).values.sorted(by: >)
        for i in 0..<3 { XCTAssertEqual(values[i], exact[i], accuracy: 1e-8 * exact[0], "λ_\(i + 1)") }
        // G is not F here: the softmax's H_ℓ shrinks it (eigenvalues of diag p − p pᵀ are below 1).
        let F = try LAPACK.symmetricEigen(DenseReference.dense(LayerFisherOperator(network: seq, totalSamples: n)), n: P).values.max()!
        XCTAssertLessThan(values[0], 0.9 * F)
    }

    /// Targets whose width is not the network's C are refused with one line naming both counts,
    /// before any output file; without a file the targets come from the teacher network
    /// (Targets.teacherSeed), as the record states.
    func testRefusalsAndTeacherTargets() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data((0..<Self.T).map { "\($0),\(0.5 * Double($0))" }.joined(separator: "\n").utf8).write(to: dir.appendingPathComponent("t2.csv"))
        for (args, message) in [(["--targets", "t2.csv", "--matrix", "hessian"], "t2.csv: the targets have 2 columns but the network has 3 outputs"),
                                (["--labels", "labels.csv", "--classes", "4", "--loss", "cross-entropy", "--matrix", "ggn"],
                                 "the targets have 4 columns but the network has 3 outputs"),
                                (["--targets", "t2.csv"], "the targets have 2 columns but the network has 3 outputs")] {
            let run = try WispExecutable.run(["top", "--architecture", "cnn.json", "--samples", "\(Self.T)", "--output", "bad.json"] + args, in: dir)
            XCTAssertNotEqual(run.status, 0, args.joined(separator: " "))
            XCTAssertTrue(run.stderr.hasPrefix("wisp: error: ") && run.stderr.contains(message), run.stderr)
            XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, run.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("bad.json").path))
        }
        let run = try WispExecutable.run(["top", "--architecture", "cnn.json", "--samples", "\(Self.T)", "--seed", "\(Self.seed)", "--loss", "bce",
                                          "--matrix", "residual", "--which", "largest-magnitude", "--k", "2", "--tol", "1e-10",
                                          "--output", "teacher.json", "--quiet"], in: dir)
        XCTAssertEqual(run.status, 0, run.stderr)
        let record = try ExactJSON.object(file: dir.appendingPathComponent("teacher.json").path)
        let targets = try XCTUnwrap((record["configuration"] as? [String: Any])?["targets"] as? [String: Any])
        XCTAssertEqual(targets["kind"] as? String, "teacher")
        // A 64-bit seed: compared in the file's text (a JSON number parser may round it to a Double).
        let text = try String(contentsOf: dir.appendingPathComponent("teacher.json"), encoding: .utf8)
        XCTAssertTrue(text.contains("\"teacher_seed\": \(Targets.teacherSeed(student: Self.seed))"), "teacher_seed")
        // The same S from the library: the teacher is the architecture at the teacher seed.
        let a = try architecture()
        let teacher = try LayerSequence(layers: try a.makeLayers(as: Double.self),
                                        parameters: a.initialParameters(for: try a.makeLayers(as: Double.self), seed: Targets.teacherSeed(student: Self.seed)))
        try teacher.forward(try dataset())
        let y = teacher.outputs.map { $0 > 0 ? 1.0 : 0.0 }
        let S = try LayerHessianOperator(network: try network(), targets: y, loss: .binaryCrossEntropy, part: .residual, totalSamples: Self.T)
        let exact = try LAPACK.symmetricEigen(DenseReference.dense(S), n: S.dimension).values.sorted { abs($0) > abs($1) }
        let values = try eigenvalues(dir, "teacher.json")
        for i in 0..<2 { XCTAssertEqual(values[i], exact[i], accuracy: 1e-8 * abs(exact[0]), "λ_\(i + 1) of S") }
    }

    /// A BatchNorm network's samples sharded over 1–3 ranks (threads): LayerProblem sums the
    /// batch statistics over the communicator (the teacher's too), so H v equals one rank's to
    /// rounding (partial sums in another order: 1e-12 relative). Before, the forward pass refused.
    func testBatchNormHessianOverRanksEqualsOneRank() throws {
        let text = #"""
        {"input": [1, 4, 4],
         "layers": [{"kind": "Conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": 3, "padding": 1}, {"kind": "BatchNorm2d", "num_features": 2},
                    {"kind": "Tanh"}, {"kind": "Flatten"}, {"kind": "Linear", "in_features": 32, "out_features": 2}]}
        """#
        let a = try architecture(text)
        let T = 7
        let problem: @Sendable (any Communicator) throws -> LayerProblem = { comm in
            let block = comm.block(of: T)
            let data = try Dataset.gaussian(totalSamples: T, dimension: 16, seed: 5, samples: block)
            return try LayerProblem(architecture: a, inputs: LayerInputs(dataset: data, source: .gaussian), weights: .initial, seed: 5,
                                    communicator: comm, loss: .crossEntropy)
        }
        let serial = try problem(SerialCommunicator())
        let v = (0..<serial.parameterCount).map { CounterRandom(seed: 2, stream: .probe(0)).normal($0) }
        let hv = try serial.makeOperator(.hessian).apply(v)
        let gv = try serial.makeOperator(.ggn).apply(v)
        for size in 2...3 {
            let results = try ThreadGroup.run(size: size) { comm -> ([Double], [Double]) in
                let p = try problem(comm)
                return (try p.makeOperator(.hessian).apply(v), try p.makeOperator(.ggn).apply(v))
            }
            for (r, result) in results.enumerated() {
                XCTAssertLessThan(DenseReference.relativeError(result.0, hv), 1e-12, "H v on rank \(r) of \(size)")
                XCTAssertLessThan(DenseReference.relativeError(result.1, gv), 1e-12, "G v on rank \(r) of \(size)")
            }
        }
    }
}
