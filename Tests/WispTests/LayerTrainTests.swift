import Foundation
import XCTest
@testable import Wisp
import WispTestSupport

/// Training a network given as layers (``LayerProblem`` as a ``TrainableProblem``): the loss's
/// gradient against central differences and an explicit Jacobian, the minibatch gradient
/// against the full one and against a problem on the batch alone (batch statistics), 1–3 ranks
/// against one, ``TrainJob`` runs that resume to the uninterrupted bits, a dense sequence
/// against the MLP path, and the command line.
final class LayerTrainTests: XCTestCase {
    typealias H = LayerHessianTests
    typealias L = LayerTests

    /// The small CNN of ``LayerHessianTests/specs`` (conv, tanh, max pool, layer norm, a residual
    /// block of convs, average pool, flatten, dense; P = 185) or `specs`, on T Gaussian inputs
    /// (seed 31, as ``LayerHessianTests/network(_:input:parameters:block:reduction:)``) with the
    /// file targets ``LayerHessianTests/targets(_:rows:)`` of `loss`.
    static func problem(_ loss: Loss, specs: [LayerSpec] = H.specs, T: Int = H.samples, rows: [Int]? = nil,
                 communicator: any Communicator = SerialCommunicator()) throws -> LayerProblem {
        let block = communicator.block(of: T)
        var data = try Dataset.gaussian(totalSamples: T, dimension: H.input.count, seed: 31, samples: block)
        var y = H.targets(loss, rows: block)
        if let rows {
            // Only these samples of the Gaussian draw (a problem on a batch alone).
            let all = try Dataset.gaussian(totalSamples: rows.max()! + 1, dimension: H.input.count, seed: 31)
            let d = H.input.count
            data = try Dataset(dimension: d, totalSamples: rows.count, samples: 0..<rows.count,
                               values: rows.flatMap { all.values[($0 * d)..<(($0 + 1) * d)] })
            let allY = H.targets(loss, rows: 0..<(rows.max()! + 1))
            y = rows.flatMap { allY[($0 * H.outputs)..<(($0 + 1) * H.outputs)] }
        }
        let targets = try Targets(columns: H.outputs, samples: data.samples, values: y, classes: loss == .crossEntropy ? H.outputs : nil,
                                  source: "test targets")
        return try LayerProblem(architecture: LayerArchitecture(input: H.input, layers: specs),
                                inputs: LayerInputs(dataset: data, source: .gaussian, targets: targets),
                                weights: .loaded(path: "test", dtype: "f64", parameters: L.normals(try H.parameterCount(specs), seed: 31, stream: 0, scale: 0.6)),
                                seed: 31, communicator: communicator, loss: loss)
    }

    /// ∇L against central differences of L (every coordinate, through ``LayerProblem/evaluateLoss(at:)``)
    /// and against (1/T) Jᵀ r with J formed column by column from J e_j (the JVP, an independent
    /// pass from the VJP), for mse and cross-entropy. Restoring θ gives L's bits back.
    func testGradientAgainstCentralDifferencesAndTheExplicitJacobian() throws {
        for loss in [Loss.mse, .crossEntropy] {
            let p = try Self.problem(loss)
            let theta = p.parameterValues, P = theta.count
            let (value, accuracy, g) = try p.lossAndGradient()
            XCTAssertEqual(accuracy == nil, loss == .mse)
            // h = 1e-6: truncation h²·|∂³L|/6 ≈ 1e-13, rounding ε·|L|/h ≈ 1e-10; against ‖∇L‖ ≈ 0.1–1.
            let h = 1e-6
            var fd = [Double](repeating: 0, count: P)
            for j in 0..<P {
                var plus = theta, minus = theta
                plus[j] += h
                minus[j] -= h
                fd[j] = (try p.evaluateLoss(at: plus) - p.evaluateLoss(at: minus)) / (2 * h)
            }
            try p.setParameters(theta)
            XCTAssertEqual(try p.evaluateLoss().value, value, "θ restored: the same loss, bit for bit (\(loss))")
            XCTAssertLessThan(DenseReference.relativeError(g, fd), 1e-7, "∇L against central differences, \(loss)")

            // J (TC × P) from JVPs of the basis vectors, then (1/T) Jᵀ r by explicit sums.
            let seq = try H.network(parameters: theta)
            let n = H.samples * H.outputs
            let J = DenseReference.jacobian(rows: n, parameters: P) { seq.jvp($0, into: &$1) }
            let r = loss.evaluate(outputs: seq.outputs, targets: H.targets(loss), columns: H.outputs).gradient
            let explicit = (0..<P).map { j in (0..<n).reduce(0.0) { $0 + J[$1 * P + j] * r[$1] } / Double(H.samples) }
            // The same products summed in another order: ε · n terms.
            XCTAssertLessThan(DenseReference.relativeError(g, explicit), 1e-13, "∇L against (1/T) Jᵀ r, \(loss)")
        }
    }

    /// A minibatch of every sample gives the full loss and gradient: the same forward and backward
    /// passes on the same rows in the same order (the inputs copied into the batch buffer), so
    /// they agree to rounding — bit for bit here; 1e-13 allows BLAS kernels that block by the
    /// buffers' alignment.
    /// A batch B of some samples equals the full gradient of a problem on B alone — with batch
    /// normalization too, whose statistics are then B's.
    func testMinibatchGradientEqualsTheFullGradientOfItsSamples() throws {
        for (name, specs, loss) in [("cnn", H.specs, Loss.crossEntropy), ("batchnorm", H.batchNormSpecs, Loss.mse)] {
            let T = 6
            let p = try Self.problem(loss, specs: specs, T: T)
            let theta = p.parameterValues
            let full = try p.lossAndGradient()
            let batch = try p.batchLossAndGradient(parameters: theta, local: Array(0..<T), batchSize: T)
            XCTAssertEqual(batch.loss, full.loss, accuracy: 1e-13 * full.loss, name)
            XCTAssertLessThan(DenseReference.relativeError(batch.gradient, full.gradient), 1e-13, name)

            let rows = [1, 3, 4]
            let sub = try p.batchLossAndGradient(parameters: theta, local: rows, batchSize: rows.count)
            let alone = try Self.problem(loss, specs: specs, T: T, rows: rows).lossAndGradient()
            XCTAssertEqual(sub.loss, alone.loss, accuracy: 1e-13 * alone.loss, name)
            XCTAssertLessThan(DenseReference.relativeError(sub.gradient, alone.gradient), 1e-13, "batch \(rows), \(name)")
            // The problem's next full-sample use runs forward over its own samples again.
            try p.setParameters(theta)
            XCTAssertLessThan(DenseReference.relativeError(try p.lossAndGradient().gradient, full.gradient), 1e-15, name)
        }
    }

    /// The samples sharded over 1–3 ranks (threads): the full and the minibatch loss and gradient
    /// equal one rank's to rounding (partial sums in another order), with batch normalization
    /// summing its statistics over the ranks.
    func testShardedOverRanksEqualsOneRank() throws {
        let T = 6, batch = [0, 2, 3, 5]
        let serial = try Self.problem(.mse, specs: H.batchNormSpecs, T: T)
        let theta = serial.parameterValues
        let full = try serial.lossAndGradient()
        let mini = try serial.batchLossAndGradient(parameters: theta, local: batch, batchSize: batch.count)
        for size in 1...3 {
            let results = try ThreadGroup.run(size: size) { comm -> [[Double]] in
                let p = try Self.problem(.mse, specs: H.batchNormSpecs, T: T, communicator: comm)
                let f = try p.lossAndGradient()
                let local = batch.filter { comm.block(of: T).contains($0) }
                let m = try p.batchLossAndGradient(parameters: theta, local: local, batchSize: batch.count)
                return [[f.loss] + f.gradient, [m.loss] + m.gradient]
            }
            for r in results {
                XCTAssertLessThan(DenseReference.relativeError(r[0], [full.loss] + full.gradient), 1e-13, "full, \(size) ranks")
                XCTAssertLessThan(DenseReference.relativeError(r[1], [mini.loss] + mini.gradient), 1e-13, "minibatch, \(size) ranks")
            }
        }
    }

    /// ``TrainJob`` on the CNN: gradient descent lowers the loss; with moments, top and a loss
    /// grid at the checkpoints (the grid's centre is the checkpoint's loss: θ is restored after
    /// the grid). A run killed after its first checkpoint and rerun on the same directory ends
    /// with the uninterrupted run's bits (GD with momentum, SGD with Adam and weight decay, on
    /// the batch-normalized network too).
    func testTrainingLowersTheLossAndResumesBitForBit() throws {
        var m = MeasurementSettings()
        m.slq = SLQSettings(probes: 2, steps: 4, seed: 1)
        m.top = 2
        m.grid = .init(x: 1, y: 2, radius: 0.1, points: 3)
        let gd = try Self.problem(.mse, T: 6)
        let (trained, _) = try TrainJob.run(gd, training: TrainingSettings(steps: 20, learningRate: 0.05, every: 10), measurements: m)
        XCTAssertEqual(trained.series.map(\.step), [0, 10, 20])
        XCTAssertLessThan(trained.series.last!.loss, 0.7 * trained.series.first!.loss)
        for record in trained.series {
            XCTAssertNotNil(record.moments)
            XCTAssertEqual(record.grid!.loss[4], record.loss, accuracy: 1e-14 * record.loss, "grid centre at step \(record.step)")
        }

        struct Killed: Error {}
        var quiet = MeasurementSettings()
        quiet.moments = false
        let cases: [(String, [LayerSpec], TrainingSettings)] = [
            ("cnn, GD, momentum", H.specs, TrainingSettings(steps: 12, learningRate: 0.05, every: 4, seed: 2,
                                                            optimizer: OptimizerSettings(method: .momentum, momentum: 0.8))),
            ("cnn, SGD, adam", H.specs, TrainingSettings(steps: 12, learningRate: 0.01, batchSize: 4, every: 4, seed: 2,
                                                         optimizer: OptimizerSettings(method: .adam, weightDecay: 0.01))),
            ("batchnorm, SGD", H.batchNormSpecs, TrainingSettings(steps: 12, learningRate: 0.05, batchSize: 3, every: 4, seed: 2)),
        ]
        for (name, specs, training) in cases {
            let uninterrupted = try Self.problem(.crossEntropy, specs: specs, T: 6)
            let (reference, _) = try TrainJob.run(uninterrupted, training: training, measurements: quiet)
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-layer-train-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: dir) }
            func open(_ p: LayerProblem) throws -> TrainingCheckpoint {
                TrainingCheckpoint(directory: try CheckpointDirectory(path: dir, fingerprint: try RunFingerprint(command: "test", configuration: LayerRunIdentity(problem: p), settings: ["test": name]),
                                                                      communicator: p.communicator, replicatedVectors: true))
            }
            let first = try Self.problem(.crossEntropy, specs: specs, T: 6)
            XCTAssertThrowsError(try TrainJob.run(first, training: training, measurements: quiet, checkpoint: try open(first)) { record, _ in
                if record.step == 8 { throw Killed() }
                return nil
            })
            let second = try Self.problem(.crossEntropy, specs: specs, T: 6)
            let (resumed, _) = try TrainJob.run(second, training: training, measurements: quiet, checkpoint: try open(second))
            XCTAssertEqual(resumed.resumedFrom, 4, name)
            XCTAssertEqual(resumed.series.map(\.loss), reference.series.map(\.loss), name)
            XCTAssertEqual(resumed.lossCurve.map(\.loss), reference.lossCurve.map(\.loss), name)
            XCTAssertEqual(second.parameterValues, uninterrupted.parameterValues, name)
            XCTAssertLessThan(reference.series.last!.loss, reference.series.first!.loss, name)
        }
    }

    /// A dense + tanh sequence with the MLP's θ (the same layout) trains like the MLP path: the
    /// same loss curve to rounding (the same GEMMs; 1e-12 relative after 15 steps).
    func testDenseSequenceTrainsLikeTheMLP() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-layer-mlp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let (mlp, layered) = try MLPTwin(directory: dir).problems(loss: .mse, targets: L.normals(MLPTwin.T * 2, seed: 5, stream: 9))
        var quiet = MeasurementSettings()
        quiet.moments = false
        let training = TrainingSettings(steps: 15, learningRate: 0.2, every: 5)
        let (a, _) = try TrainJob.run(mlp, training: training, measurements: quiet)
        let (b, _) = try TrainJob.run(layered, training: training, measurements: quiet)
        XCTAssertEqual(a.lossCurve.count, 15)
        XCTAssertLessThan(DenseReference.relativeError(b.lossCurve.map(\.loss), a.lossCurve.map(\.loss)), 1e-12)
        XCTAssertLessThan(DenseReference.relativeError(layered.parameterValues, mlp.parameterValues), 1e-12)
    }

    /// `wisp train --architecture` with labels, a held-out set and a checkpoint directory: the
    /// loss falls, the record is the layer network's (its architecture, typed settings, the
    /// validation loss), θ saved at the last checkpoint reads back with `--model` to the same loss,
    /// and a rerun on the directory resumes at the last step with the same series. Refused in one
    /// line before any work: measurements the layer path lacks, and a validation set larger than
    /// its files.
    func testCommandLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-layer-train-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(LayerArchitectureTests.cnn.utf8).write(to: dir.appendingPathComponent("cnn.json"))
        let T = 14, V = 5
        try NPY.write(values: L.normals(T * 64, seed: 41, stream: 0), shape: [T, 64], dtype: .float64, to: dir.appendingPathComponent("x.npy").path)
        try NPY.write(values: (0..<T).map { Double($0 % 2) }, shape: [T], dtype: .float64, to: dir.appendingPathComponent("y.npy").path)
        try NPY.write(values: L.normals(V * 64, seed: 42, stream: 0), shape: [V, 64], dtype: .float64, to: dir.appendingPathComponent("vx.npy").path)
        try NPY.write(values: (0..<V).map { Double($0 % 2) }, shape: [V], dtype: .float64, to: dir.appendingPathComponent("vy.npy").path)
        let common = ["train", "--architecture", "cnn.json", "--inputs", "x.npy", "--labels", "y.npy", "--loss", "cross-entropy",
                      "--steps", "10", "--every", "5", "--lr", "0.1", "--quiet"]
        let held = ["--validation-inputs", "vx.npy", "--validation-labels", "vy.npy"]
        let run = try WispExecutable.run(common + held + ["--measure", "moments", "--probes", "2", "--slq-steps", "4", "--checkpoint", "ck",
                                                          "--output-dir", "out"], in: dir)
        XCTAssertEqual(run.status, 0, run.stderr)
        let record = try ExactJSON.object(file: dir.appendingPathComponent("out/train.json").path)
        let series = try XCTUnwrap(record["series"] as? [[String: Any]])
        let losses = series.map { $0["loss"] as! Double }
        XCTAssertEqual(series.count, 3)
        XCTAssertLessThan(losses.last!, losses.first!)
        XCTAssertNotNil(series.last!["validation_loss"] as? Double)
        XCTAssertNotNil(series.last!["moments"])
        XCTAssertEqual(record["validation_samples"] as? Int, V)
        XCTAssertNotNil((record["architecture"] as? [String: Any])?["layers"])
        XCTAssertEqual(((record["settings"] as? [String: Any])?["training"] as? [String: Any])?["steps"] as? Int, 10)

        // θ at step 10 as a layer model file: its loss over the same data is the record's.
        let model = try XCTUnwrap(series.last!["model"] as? String)
        let again = try WispExecutable.run(["train", "--model", model, "--inputs", "x.npy", "--labels", "y.npy", "--loss", "cross-entropy",
                                            "--steps", "0", "--measure", "none", "--output-dir", "again", "--quiet"], in: dir)
        XCTAssertEqual(again.status, 0, again.stderr)
        let reread = try ExactJSON.object(file: dir.appendingPathComponent("again/train.json").path)
        XCTAssertEqual((reread["series"] as! [[String: Any]])[0]["loss"] as? Double, losses.last!)

        // The rerun finds step 10 saved: nothing left to train, the same series.
        let rerun = try WispExecutable.run(common + held + ["--measure", "moments", "--probes", "2", "--slq-steps", "4", "--checkpoint", "ck",
                                                            "--output-dir", "out2"], in: dir)
        XCTAssertEqual(rerun.status, 0, rerun.stderr)
        let resumed = try ExactJSON.object(file: dir.appendingPathComponent("out2/train.json").path)
        XCTAssertEqual(resumed["resumed_from"] as? Int, 10)
        XCTAssertEqual((resumed["series"] as! [[String: Any]]).map { $0["loss"] as! Double }, losses)

        for (extra, message) in [
            (["--measure", "moments,ntk-limit"], "wisp: error: --measure ntk-limit is not available for --architecture networks yet"),
            (held + ["--validation-samples", "\(V + 1)"], "wisp: error: --validation-samples \(V + 1) exceeds the \(V) rows of vx.npy"),
            (["--batch-size", "\(T + 1)"], "wisp: error: --batch-size must be between 1 and the \(T) samples (got \(T + 1))"),
        ] {
            let bad = try WispExecutable.run(common + extra + ["--output-dir", "bad"], in: dir)
            XCTAssertNotEqual(bad.status, 0)
            XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, bad.stderr)
            XCTAssertTrue(bad.stderr.hasPrefix(message), bad.stderr)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("bad/train.json").path))

        // The layerwise alignments through training, one per layer with parameters, named.
        let aligned = try WispExecutable.run(common + ["--measure", "align", "--output-dir", "al"], in: dir)
        XCTAssertEqual(aligned.status, 0, aligned.stderr)
        let alignSeries = try XCTUnwrap(try ExactJSON.object(file: dir.appendingPathComponent("al/train.json").path)["series"] as? [[String: Any]])
        XCTAssertEqual(alignSeries.count, 3)
        for checkpoint in alignSeries {
            let layers = try XCTUnwrap((checkpoint["alignment"] as? [String: Any])?["layers"] as? [[String: Any]])
            XCTAssertEqual(layers.compactMap { $0["name"] as? String }.count, layers.count)
            XCTAssertTrue(layers.allSatisfy { ($0["alignment"] as? Double).map { $0.isFinite && abs($0) <= 1 } ?? false }, "\(layers)")
        }
    }
}
