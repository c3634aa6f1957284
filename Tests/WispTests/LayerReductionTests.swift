import Foundation
import XCTest
@testable import Wisp
import WispTestSupport

/// Model reduction (`wisp reduce`, ``ModelReduction``) and the export of F's eigenvectors
/// (`top --save-eigenvectors`, ``EigenvectorExport``) on networks given as layers, through the
/// one code path over ``ReducibleProblem``: the dense eigenbasis against LAPACK on F formed from
/// an explicit Jacobian, the projection identities (with BatchNorm too), a dense+tanh sequence
/// against the MLP path, thread ranks against one, and the command line.
final class LayerReductionTests: XCTestCase {
    typealias H = LayerHessianTests
    typealias L = LayerTests

    static func norm(_ x: [Double]) -> Double { x.reduce(0) { $0 + $1 * $1 }.squareRoot() }
    static func distance(_ x: [Double], _ y: [Double]) -> Double { norm(zip(x, y).map { $0 - $1 }) }

    /// F = (1/T) Jᵀ J of the CNN of ``LayerHessianTests/specs`` at θ, with J (TC × P) formed
    /// column by column from J e_j (the JVP: a pass independent of the VJP the operator also uses).
    static func denseFisher(parameters theta: [Double]) throws -> [Double] {
        let seq = try H.network(parameters: theta)
        let P = theta.count, n = H.samples * H.outputs
        let J = DenseReference.jacobian(rows: n, parameters: P) { seq.jvp($0, into: &$1) }
        return DenseReference.fisher(jacobian: J, rows: n, parameters: P, totalSamples: H.samples)
    }

    /// The CNN (conv, tanh, max pool, layer norm, residual block, average pool, flatten, dense;
    /// P = 185, TC = 12): `reduce`'s dense eigenbasis against LAPACK's eigendecomposition of F
    /// formed from the explicit Jacobian. Eigenvalues to 1e-12·λ_1 (both are F to ~ε·TC·‖F‖; the
    /// eigenvalues of a symmetric matrix move by at most the perturbation's norm); the projection
    /// Π_k w at each k with a gap λ_k − λ_(k+1) ≥ 1e-3·λ_1 (the top-k space is then determined to
    /// ~ε‖F‖/gap ≈ 1e-13, so 1e-10‖w‖ is generous), k = TC (the rank) among them.
    func testDenseEigenbasisAgainstLAPACKOnTheExplicitJacobian() throws {
        let p = try LayerTrainTests.problem(.mse)
        let w = p.parameterValues, P = w.count, TC = p.sampleSpaceDimension
        XCTAssertEqual(P, 185)
        let f = try Self.denseFisher(parameters: w)
        let (ascending, z) = try LAPACK.symmetricEigen(f, n: P, vectors: true)
        let values = Array(ascending.reversed())
        let basis = try ModelReduction.eigenbasis(p, matrix: .fisher, count: P, denseLimit: 4096, tolerance: 1e-10, seed: 1)
        XCTAssertTrue(basis.method.hasPrefix("dense"))
        XCTAssertEqual(basis.values.count, P)
        for i in 0..<P { XCTAssertEqual(basis.values[i], values[i], accuracy: 1e-12 * values[0], "λ_\(i + 1)") }
        XCTAssertLessThan(basis.worstResidual, 1e-12 * values[0])
        let ks = (1...TC).filter { values[$0 - 1] - values[$0] >= 1e-3 * values[0] }
        XCTAssertTrue(ks.contains(TC), "F has rank TC = \(TC): \(values.prefix(TC + 1))")
        for k in ks {
            let reference = DenseReference.topProjection(w, eigenvectors: z, P: P, k: k)
            let projected = ModelReduction.project(w, origin: nil, basis: basis.vectors, k: k, P: P).parameters
            XCTAssertLessThan(Self.distance(projected, reference), 1e-10 * Self.norm(w), "k = \(k)")
        }
    }

    /// k = P reproduces the full model's loss (V is orthogonal: w_P = w to ~√P·ε‖w‖, the loss to
    /// 1e-12 of itself), and k = 0 of the change variant is the initial model exactly (its loss
    /// bit for bit), on the CNN with cross-entropy and on the batch-normalized network with mse,
    /// whose reduced models are evaluated with the statistics of the whole batch (as the full one).
    func testFullAndEmptyProjectionsGiveTheFullAndInitialLosses() throws {
        for (name, specs, loss) in [("cnn", H.specs, Loss.crossEntropy), ("batchnorm", H.batchNormSpecs, Loss.mse)] {
            let p = try LayerTrainTests.problem(loss, specs: specs)
            let P = p.parameterCount, w = p.parameterValues
            let w0 = L.normals(P, seed: 77, stream: 0, scale: 0.5)
            let settings = ReductionSettings(keep: .percent(100), sweep: [.count(0), .count(5), .percent(100)])
            let (result, _, saved) = try ModelReduction.run(p, initial: w0, settings: settings)
            XCTAssertEqual(result.eigenvalues.count, P, name)
            for m in result.reduced + result.sweep.filter({ $0.k == P }) {
                XCTAssertEqual(m.loss, result.full.loss, accuracy: 1e-12 * result.full.loss, "\(name) \(m.variant) k = P")
                XCTAssertEqual(m.accuracy, result.full.accuracy, name)
            }
            let initial = try XCTUnwrap(result.initial, name)
            let change0 = try XCTUnwrap(result.sweep.first { $0.k == 0 && $0.variant == "change" })
            XCTAssertEqual(change0.loss, initial.loss, name)
            try p.setParameters(w0)
            XCTAssertEqual(try p.evaluateLoss().value, initial.loss, name)
            try p.setParameters([Double](repeating: 0, count: P))
            let zeroLoss = try p.evaluateLoss().value
            XCTAssertEqual(try XCTUnwrap(result.sweep.first { $0.k == 0 && $0.variant == "weights" }).loss, zeroLoss, name)
            XCTAssertLessThan(Self.distance(saved["change"]!, w), 1e-12 * Self.norm(w), name)
        }
    }

    /// The dense+tanh MLP of ``LayerTrainTests/testDenseSequenceTrainsLikeTheMLP()`` and the same
    /// network as layers with its θ: the same eigenvalues (1e-10·λ_1), the same loss at every k of
    /// both variants (1e-10 relative; the passes differ only in summation order), the same InPCA
    /// of the full model's predictions, and the same `--save-eigenvectors` file (tensor names,
    /// shapes; values to 1e-8, Lanczos at tolerance 1e-12 from the same start).
    func testDenseTanhLayersReduceLikeTheMLP() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-layer-reduce-mlp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let twin = try MLPTwin(directory: dir), arch = twin.architecture, T = MLPTwin.T
        // mse (F, Gaussian predictions) and cross-entropy on one-hot targets (G, softmax probabilities).
        let oneHot: [Double] = (0..<T).flatMap { t -> [Double] in t % 3 == 0 ? [1, 0] : [0, 1] }
        let cases: [(Loss, [Double])] = [(.crossEntropy, oneHot), (.mse, L.normals(T * 2, seed: 5, stream: 9))]
        for (loss, y) in cases {
            let (mlp, layered) = try twin.problems(loss: loss, targets: y)
            XCTAssertEqual(layered.parameterLayout, mlp.parameterLayout)
            XCTAssertLessThan(DenseReference.relativeError(try ReductionEmbedding.localPredictions(layered, samples: T),
                                                           try ReductionEmbedding.localPredictions(mlp, samples: T)), 1e-14, "\(loss)")
            let w0 = Network<Double>(architecture: arch, seed: 6).parameters
            // k below the rank of G (T(C − 1) = 9 for cross-entropy): past it the kept vectors are an arbitrary basis of the null space.
            let settings = ReductionSettings(keep: .count(4), sweep: [.count(0), .count(2), .count(7), .percent(100)], inpca: InPCASettings())
            let (a, _, savedA) = try ModelReduction.run(mlp, initial: w0, settings: settings)
            let (b, _, savedB) = try ModelReduction.run(layered, initial: w0, settings: settings)
            XCTAssertEqual(a.parameters, b.parameters)
            XCTAssertEqual(a.matrix, b.matrix)
            XCTAssertLessThan(DenseReference.relativeError(b.eigenvalues, a.eigenvalues), 1e-10, "\(loss)")
            XCTAssertEqual(a.sweep.map(\.k), b.sweep.map(\.k))
            XCTAssertEqual(a.sweep.map(\.variant), b.sweep.map(\.variant))
            XCTAssertLessThan(DenseReference.relativeError((b.sweep + b.reduced).map(\.loss), (a.sweep + a.reduced).map(\.loss)), 1e-10, "\(loss)")
            XCTAssertEqual((b.sweep + b.reduced).map(\.accuracy), (a.sweep + a.reduced).map(\.accuracy), "\(loss)")
            XCTAssertEqual(b.full.loss, a.full.loss, accuracy: 1e-12 * a.full.loss)
            XCTAssertEqual(try XCTUnwrap(b.initial).loss, try XCTUnwrap(a.initial).loss, accuracy: 1e-12 * a.initial!.loss)
            XCTAssertLessThan(Self.distance(savedB["change"]!, savedA["change"]!), 1e-10 * Self.norm(savedA["change"]!))
            // InPCA: the same models, spectrum, distances and labels, and the full model's points (the first T) alike up to each axis's sign.
            let (ea, eb) = (try XCTUnwrap(a.inpca), try XCTUnwrap(b.inpca))
            XCTAssertEqual(ea.models, eb.models)
            XCTAssertEqual(ea.family, eb.family)
            XCTAssertEqual(ea.labels, eb.labels)
            XCTAssertLessThan(DenseReference.relativeError(eb.eigenvalues, ea.eigenvalues), 1e-10, "\(loss)")
            XCTAssertLessThan(DenseReference.relativeError(eb.modelLevel.distanceFromFull, ea.modelLevel.distanceFromFull), 1e-9, "\(loss)")
            let q = ea.components
            for axis in 0..<q {
                let xa = (0..<T).map { ea.coordinates[$0 * q + axis] }, xb = (0..<T).map { eb.coordinates[$0 * q + axis] }
                let sign = zip(xa, xb).reduce(0.0) { $0 + $1.0 * $1.1 } < 0 ? -1.0 : 1.0
                XCTAssertLessThan(DenseReference.relativeError(xb.map { sign * $0 }, xa), 1e-8, "InPCA axis \(axis), \(loss)")
            }
        }

        let (mlp, layered) = try twin.problems(loss: .mse, targets: L.normals(T * 2, seed: 5, stream: 9))
        // --save-eigenvectors: F's top 3 by Lanczos on K (mapped with the VJP), both written.
        let lanczos = LanczosSettings(count: 3, which: .largest, tolerance: 1e-12, seed: 2)
        var files = [String]()
        for (tag, problem) in [("mlp", mlp as any ReducibleProblem), ("layers", layered as any ReducibleProblem)] {
            let path = dir.appendingPathComponent("ev-\(tag).safetensors").path
            func export(_ p: some ReducibleProblem) throws {
                let (top, _) = try TopJob.run(p, matrix: .ntk, settings: lanczos)
                let report = try EigenvectorExport.run(p, top: top, path: path, rule: EigenvectorExport.rule)
                XCTAssertEqual(report.written, [0, 1, 2], tag)
            }
            try export(problem)
            files.append(path)
        }
        let (fa, fb) = (try SafeTensorsFile.read(path: files[0]), try SafeTensorsFile.read(path: files[1]))
        XCTAssertEqual(Set(fa.tensors.keys), Set(fb.tensors.keys))
        XCTAssertTrue(fa.tensors.keys.contains("eigenvector.2.2.weight") && !fa.tensors.keys.contains("eigenvector.0.2.bias"), "\(fa.tensors.keys.sorted())")
        for (name, t) in fa.tensors {
            let u = try XCTUnwrap(fb.tensors[name])
            XCTAssertEqual(u.shape, t.shape, name)
            XCTAssertLessThan(DenseReference.relativeError(u.values, t.values), 1e-8, name)
        }
    }

    /// `top --save-eigenvectors` on the CNN: each vector v written (from Lanczos on K mapped by
    /// v = Jᵀu/√(Tλ), and from Lanczos on F itself) satisfies ‖F v − λ v‖ ≤ 1e-9·λ_1 against the
    /// dense F of the explicit Jacobian (Lanczos tolerance 1e-12, relative), has unit norm, and
    /// the file's tensors are the layer model file's names and shapes.
    func testSavedEigenvectorsAreEigenvectorsOfTheDenseFisher() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-layer-ev-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = try LayerTrainTests.problem(.mse)
        let P = p.parameterCount
        let f = try Self.denseFisher(parameters: p.parameterValues)
        let lambda1 = try LAPACK.symmetricEigen(f, n: P).values.last!
        let slots = try LayerModelFile.slots(p.architecture)
        for matrix in [CurvatureMatrix.ntk, .fisher] {
            let (top, _) = try TopJob.run(p, matrix: matrix, settings: LanczosSettings(count: 4, which: .largest, tolerance: 1e-12, seed: 3))
            let path = dir.appendingPathComponent("ev-\(matrix.rawValue).safetensors").path
            let report = try EigenvectorExport.run(p, top: top, path: path, rule: EigenvectorExport.rule)
            XCTAssertEqual(report.written.count, 4)
            let file = try SafeTensorsFile.read(path: path)
            XCTAssertEqual(file.tensors.count, 4 * slots.count + 1)
            let values = try XCTUnwrap(file.tensors["eigenvalues"]).values
            for i in 0..<4 {
                var v = [Double](repeating: 0, count: P)
                for s in slots {
                    let t = try XCTUnwrap(file.tensors["eigenvector.\(i).\(s.name)"], s.name)
                    XCTAssertEqual(t.shape, s.shape)
                    v.replaceSubrange(s.offset..<(s.offset + s.count), with: t.values)
                }
                XCTAssertEqual(Self.norm(v), 1, accuracy: 1e-10)
                let fv = (0..<P).map { r in (0..<P).reduce(0.0) { $0 + f[r * P + $1] * v[$1] } }
                XCTAssertLessThan(Self.distance(fv, v.map { values[i] * $0 }), 1e-9 * lambda1, "\(matrix.rawValue) v_\(i)")
            }
        }
    }

    /// 1 and 2 thread ranks: the eigenvalues, every reduced loss and the InPCA spectrum equal one
    /// rank's to 1e-12 (partial sums in another order), with BatchNorm statistics summed over ranks.
    func testThreadRanksAgree() throws {
        @Sendable func run(_ communicator: any Communicator) throws -> [[Double]] {
            let p = try LayerTrainTests.problem(.mse, specs: H.batchNormSpecs, T: 6, communicator: communicator)
            let w0 = L.normals(p.parameterCount, seed: 78, stream: 0, scale: 0.5)
            let (r, _, _) = try ModelReduction.run(p, initial: w0, settings: ReductionSettings(keep: .count(3), sweep: [.count(1), .count(6)],
                                                                                                inpca: InPCASettings()))
            return [r.eigenvalues, (r.sweep + r.reduced).map(\.loss) + [r.full.loss, r.initial!.loss], r.inpca!.eigenvalues]
        }
        let serial = try run(SerialCommunicator())
        for size in 1...2 {
            for ranks in try ThreadGroup.run(size: size, { try run($0) }) {
                for (x, y) in zip(ranks, serial) { XCTAssertLessThan(DenseReference.relativeError(x, y), 1e-12, "\(size) ranks") }
            }
        }
    }

    /// `wisp reduce --architecture` with labels: the record is the layer network's, `--save-reduced`
    /// writes a layer model whose loss read back with `--model` is the reduced model's,
    /// `--inpca` writes its files; `--init` with a model of another architecture is refused in one
    /// line naming the difference; `top --save-eigenvectors` writes the layer model's tensor names.
    func testCommandLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-layer-reduce-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(LayerArchitectureTests.cnn.utf8).write(to: dir.appendingPathComponent("cnn.json"))
        let T = 14
        try NPY.write(values: L.normals(T * 64, seed: 41, stream: 0), shape: [T, 64], dtype: .float64, to: dir.appendingPathComponent("x.npy").path)
        try NPY.write(values: (0..<T).map { Double($0 % 2) }, shape: [T], dtype: .float64, to: dir.appendingPathComponent("y.npy").path)
        let data = ["--inputs", "x.npy", "--labels", "y.npy", "--loss", "cross-entropy", "--quiet"]
        let first = try WispExecutable.run(["reduce", "--architecture", "cnn.json", "--save-model", "full.safetensors", "--keep", "10",
                                            "--sweep", "0,50%", "--save-reduced", "reduced.safetensors", "--inpca", "--output", "r.json"] + data, in: dir)
        XCTAssertEqual(first.status, 0, first.stderr)
        let record = try ExactJSON.object(file: dir.appendingPathComponent("r.json").path)
        XCTAssertEqual(record["command"] as? String, "reduce")
        XCTAssertNotNil((record["architecture"] as? [String: Any])?["layers"])
        let result = record
        let reduced = try XCTUnwrap((result["reduced"] as? [[String: Any]])?.first)
        XCTAssertEqual(reduced["k"] as? Int, 10)
        XCTAssertNotNil(result["inpca"] as? [String: Any])
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("r.inpca.csv").path))
        XCTAssertTrue(LayerModelFile.recordsArchitecture(path: dir.appendingPathComponent("reduced.safetensors").path))

        let again = try WispExecutable.run(["reduce", "--model", "reduced.safetensors", "--keep", "0", "--output", "again.json"] + data, in: dir)
        XCTAssertEqual(again.status, 0, again.stderr)
        let reread = try ExactJSON.object(file: dir.appendingPathComponent("again.json").path)
        let loss = try XCTUnwrap(reduced["loss"] as? Double)
        XCTAssertEqual(try XCTUnwrap((reread["full"] as? [String: Any])?["loss"] as? Double), loss, accuracy: 1e-13 * loss)

        // The change variant from the initial model written by the first run; k = 0 is that model.
        let change = try WispExecutable.run(["reduce", "--model", "reduced.safetensors", "--init", "full.safetensors", "--keep", "0",
                                             "--output", "change.json"] + data, in: dir)
        XCTAssertEqual(change.status, 0, change.stderr)
        let changed = try ExactJSON.object(file: dir.appendingPathComponent("change.json").path)
        let initialLoss = try XCTUnwrap((changed["initial"] as? [String: Any])?["loss"] as? Double)
        XCTAssertEqual((changed["reduced"] as? [[String: Any]])?.first { $0["variant"] as? String == "change" }?["loss"] as? Double, initialLoss)

        // --init of another architecture (one more output): one line naming the difference, no record.
        let other = try LayerArchitecture.parse(Data(LayerArchitectureTests.cnn.replacingOccurrences(of: "\"out_features\": 2", with: "\"out_features\": 3").utf8), name: "other")
        try LayerModelFile.save([Double](repeating: 0.1, count: try LayerModelFile.slots(other).reduce(0) { $0 + $1.count }), architecture: other,
                                to: dir.appendingPathComponent("other.safetensors").path)
        let bad = try WispExecutable.run(["reduce", "--model", "reduced.safetensors", "--init", "other.safetensors", "--output", "bad.json"] + data, in: dir)
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, bad.stderr)
        XCTAssertTrue(bad.stderr.hasPrefix("wisp: error: --init other.safetensors is a model of another architecture"), bad.stderr)
        XCTAssertTrue(bad.stderr.contains("layer 6"), bad.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("bad.json").path))

        let top = try WispExecutable.run(["top", "--architecture", "cnn.json", "--inputs", "x.npy", "--k", "2", "--method", "lanczos",
                                          "--save-eigenvectors", "ev.safetensors", "--output", "top.json", "--quiet"], in: dir)
        XCTAssertEqual(top.status, 0, top.stderr)
        let ev = try SafeTensorsFile.read(path: dir.appendingPathComponent("ev.safetensors").path)
        let slots = try LayerModelFile.slots(try LayerArchitecture.parse(Data(LayerArchitectureTests.cnn.utf8), name: "cnn"))
        XCTAssertEqual(Set(ev.tensors.keys), Set((0..<2).flatMap { i in slots.map { "eigenvector.\(i).\($0.name)" } } + ["eigenvalues"]))
        let topRecord = try ExactJSON.object(file: dir.appendingPathComponent("top.json").path)
        XCTAssertEqual((topRecord["eigenvectors"] as? [String: Any])?["written"] as? [Int], [0, 1])
    }
}
