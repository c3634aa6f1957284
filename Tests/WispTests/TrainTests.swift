import Foundation
import XCTest
@testable import Wisp
import WispTestSupport

/// `wisp train`'s job: gradient descent on a realizable teacher problem, the minibatch
/// schedule, measurements at checkpoints, and resuming after a kill with identical numbers.
final class TrainTests: XCTestCase {
    func problem(_ loss: Loss = .mse, activation: Activation = .softplus, samples: Int = 32, outputs: Int = 2) throws -> Problem {
        var c = ProblemConfiguration()
        c.depth = 3; c.width = 16; c.inputDimension = 5; c.outputs = outputs; c.samples = samples
        c.activation = activation; c.sigmaW2 = 2; c.sigmaB2 = 0.1; c.loss = loss; c.seed = 3
        return try Problem(c)
    }

    func quiet() -> MeasurementSettings {
        var m = MeasurementSettings()
        m.moments = false
        return m
    }

    /// Full-batch GD on targets from a teacher of the same architecture (realizable): the loss
    /// falls by more than 10× in 300 steps, monotonically at this small step size (η below
    /// 2/λ_max(H) for the whole run), for each loss.
    func testGradientDescentDecreasesLossOnTeacherProblem() throws {
        for loss in Loss.allCases {
            let p = try problem(loss, outputs: loss == .mse ? 2 : 3)
            let (r, _) = try TrainJob.run(p, training: TrainingSettings(steps: 300, learningRate: loss == .mse ? 0.05 : 0.5, every: 100),
                                          measurements: quiet())
            XCTAssertEqual(r.series.map(\.step), [0, 100, 200, 300])
            if loss == .mse {
                let (extra, _) = try TrainJob.run(try problem(loss), training: TrainingSettings(steps: 20, learningRate: 0.05, every: 10,
                                                                                             checkpointSteps: [1, 2, 5]),
                                                  measurements: quiet())
                XCTAssertEqual(extra.series.map(\.step), [0, 1, 2, 5, 10, 20])
            }
            let first = r.series.first!.loss, last = r.series.last!.loss
            XCTAssertLessThan(last, first / (loss == .mse ? 10 : 2), "\(loss): \(first) → \(last)")
            let curve = r.lossCurve.map(\.loss)
            XCTAssertTrue(zip(curve, curve.dropFirst()).allSatisfy { $1 <= $0 * (1 + 1e-12) }, "\(loss): loss not monotone")
            if loss != .mse { XCTAssertNotNil(r.series.last!.accuracy) }
        }
    }

    /// One GD step is θ − η ∇L with ∇L from the batched VJP, and the problem moves with it.
    func testStepIsGradientDescent() throws {
        let p = try problem()
        let theta0 = p.parameters
        let g = try p.lossAndGradient().gradient
        _ = try TrainJob.run(p, training: TrainingSettings(steps: 1, learningRate: 0.2, every: 1), measurements: quiet())
        let expected = zip(theta0, g).map { $0 - 0.2 * $1 }
        XCTAssertLessThan(DenseReference.relativeError(p.parameters, expected), 1e-15)
    }

    /// Each epoch visits every sample exactly once; the order changes with the epoch and seed.
    func testBatchScheduleIsAPermutationPerEpoch() {
        var s = BatchSchedule(samples: 23, batchSize: 5, seed: 4)
        XCTAssertEqual(s.stepsPerEpoch, 4)
        let epoch0 = (0..<4).flatMap { s.batch(step: $0) }
        XCTAssertEqual(Set(epoch0).count, 20)
        let epoch1 = (4..<8).flatMap { s.batch(step: $0) }
        XCTAssertNotEqual(epoch0, epoch1)
        var t = BatchSchedule(samples: 23, batchSize: 5, seed: 4)
        XCTAssertEqual(t.batch(step: 6), s.batch(step: 6))
        var u = BatchSchedule(samples: 23, batchSize: 5, seed: 5)
        XCTAssertNotEqual(u.batch(step: 0), t.batch(step: 0))
    }

    /// SGD with the full batch is gradient descent (same steps up to summation order).
    func testFullBatchSGDEqualsGradientDescent() throws {
        let a = try problem(), b = try problem()
        let (gd, _) = try TrainJob.run(a, training: TrainingSettings(steps: 20, learningRate: 0.05, every: 10), measurements: quiet())
        let (sgd, _) = try TrainJob.run(b, training: TrainingSettings(steps: 20, learningRate: 0.05, batchSize: 32, every: 10),
                                        measurements: quiet())
        XCTAssertLessThan(DenseReference.relativeError(a.parameters, b.parameters), 1e-12)
        XCTAssertEqual(gd.series.last!.loss, sgd.series.last!.loss, accuracy: 1e-12 * gd.series.last!.loss)
    }

    /// The measurements at a checkpoint: H = G + S holds for the moments to within their
    /// shared-probe error (δ₁ is 0 to rounding); the Rayleigh quotient of G's top eigenvector
    /// under G is its eigenvalue; the loss plane has its minimum near the centre for a
    /// well-trained network and is L(θ) at (0, 0).
    func testMeasurementsAtCheckpoints() throws {
        let p = try problem(samples: 24)
        var m = MeasurementSettings()
        m.slq = SLQSettings(probes: 6, steps: 12, seed: 1)
        m.top = 4
        m.grid = .init(x: 1, y: 2, radius: 0.5, points: 5)
        m.density = .ggn
        let (r, _) = try TrainJob.run(p, training: TrainingSettings(steps: 10, learningRate: 0.05, every: 10), measurements: m)
        for record in r.series {
            let moments = try XCTUnwrap(record.moments)
            XCTAssertEqual(moments.matrices.map(\.matrix), [.ggn, .residual, .hessian])
            XCTAssertLessThan(abs(moments.additivityGap[0].mean), 1e-10 * abs(moments.matrices[2].moments[0].estimate))
            // The exact tr G/P = tr F/P for mse, at this checkpoint's parameters.
            let exact = try XCTUnwrap(moments.matrices[0].moments[0].exact)
            XCTAssertGreaterThan(exact, 0)
            if record.step == r.series.last!.step {
                XCTAssertEqual(exact, p.exactTrace() / Double(p.parameterCount), accuracy: 1e-14 * exact)
            }
            let q = try XCTUnwrap(record.rayleigh)
            XCTAssertEqual(q.gDirections.count, 4)
            XCTAssertTrue(q.gDirections.allSatisfy(\.converged))
            let grid = try XCTUnwrap(record.grid)
            XCTAssertEqual(grid.loss.count, 25)
            XCTAssertEqual(grid.loss[12], record.loss, accuracy: 1e-12 * record.loss)
            XCTAssertNotNil(record.spectrum)
        }
    }

    /// A run killed after its second checkpoint and rerun with the same checkpoint directory
    /// finishes with exactly the numbers of an uninterrupted run (GD and SGD, each with plain,
    /// momentum, Nesterov and Adam updates: the optimizer's state is saved with θ).
    func testResumeAfterKillGivesIdenticalNumbers() throws {
        struct Killed: Error {}
        let optimizers = [OptimizerSettings(), OptimizerSettings(method: .momentum, momentum: 0.8, weightDecay: 0.01),
                          OptimizerSettings(method: .momentum, nesterov: true), OptimizerSettings(method: .adam)]
        for optimizer in optimizers {
          for batch in [nil, 8] as [Int?] {
            let training = TrainingSettings(steps: 30, learningRate: optimizer.method == .adam ? 0.01 : 0.05, batchSize: batch, every: 10,
                                            seed: 2, optimizer: optimizer)
            var m = MeasurementSettings()
            m.slq = SLQSettings(probes: 3, steps: 8, seed: 1)
            let uninterrupted = try problem()
            let (reference, _) = try TrainJob.run(uninterrupted, training: training, measurements: m)

            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-train-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: dir) }
            func open(_ p: Problem) throws -> TrainingCheckpoint {
                TrainingCheckpoint(directory: try CheckpointDirectory(path: dir, fingerprint: try RunFingerprint(command: "test", configuration: p.configuration, settings: ["test": "train"]), communicator: p.communicator,
                                                                      replicatedVectors: true), architecture: p.architecture)
            }
            let first = try problem()
            XCTAssertThrowsError(try TrainJob.run(first, training: training, measurements: m, checkpoint: try open(first)) { record, _ in
                if record.step == 20 { throw Killed() }
                return nil
            })
            let second = try problem()
            let (resumed, _) = try TrainJob.run(second, training: training, measurements: m, checkpoint: try open(second))
            XCTAssertEqual(resumed.resumedFrom, 10, "the kill came before step 20 was saved")
            XCTAssertEqual(resumed.series.map(\.step), reference.series.map(\.step))
            XCTAssertEqual(resumed.series.map(\.loss), reference.series.map(\.loss))
            XCTAssertEqual(resumed.lossCurve.map(\.loss), reference.lossCurve.map(\.loss))
            XCTAssertEqual(resumed.series.last!.moments!.matrices[2].moments.map(\.estimate),
                           reference.series.last!.moments!.matrices[2].moments.map(\.estimate))
            XCTAssertEqual(second.parameters, uninterrupted.parameters, "\(optimizer), batch \(batch.map(String.init) ?? "full")")
          }
        }
    }

    func testBadSettings() throws {
        let p = try problem()
        XCTAssertThrowsError(try TrainJob.run(p, training: TrainingSettings(learningRate: 0), measurements: quiet()))
        XCTAssertThrowsError(try TrainJob.run(p, training: TrainingSettings(batchSize: 33), measurements: quiet()))
        XCTAssertThrowsError(try TrainJob.run(p, training: TrainingSettings(every: 0), measurements: quiet()))
        XCTAssertThrowsError(try TrainJob.run(p, training: TrainingSettings(steps: 5, checkpointSteps: [7]), measurements: quiet()))
        var m = quiet()
        m.top = 2
        m.grid = .init(x: 1, y: 4, radius: 1, points: 5)
        XCTAssertThrowsError(try TrainJob.run(p, training: TrainingSettings(steps: 1), measurements: m)) {
            XCTAssertTrue("\($0)".contains("\(Setting.measureTop)"), "\($0)")
        }
        // A learning rate far above 2/λ_max diverges: reported, not silently NaN.
        XCTAssertThrowsError(try TrainJob.run(try problem(), training: TrainingSettings(steps: 200, learningRate: 1e4, every: 100),
                                              measurements: quiet())) {
            XCTAssertTrue("\($0)".contains("diverged") || "\($0)".contains("non-finite") || "\($0)".contains("inf"), "\($0)")
        }
    }
}
