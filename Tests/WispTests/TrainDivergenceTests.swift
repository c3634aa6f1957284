import Foundation
import XCTest
@testable import Wisp
import WispTestSupport

/// A learning rate far too large is stopped as divergence while the loss is still finite
/// (before: `--lr 1e10` took the loss to 1e139 and exited 0), for GD and SGD and from the
/// command line; a converging run is never stopped by the test.
final class TrainDivergenceTests: XCTestCase {
    func problem(_ loss: Loss = .mse) throws -> Problem {
        var c = ProblemConfiguration()
        c.depth = 3; c.width = 16; c.inputDimension = 5; c.outputs = 2; c.samples = 32
        c.activation = .softplus; c.sigmaW2 = 2; c.sigmaB2 = 0.1; c.loss = loss; c.seed = 3
        return try Problem(c)
    }

    func quiet() -> MeasurementSettings {
        var m = MeasurementSettings()
        m.moments = false
        return m
    }

    func assertDiverges(_ training: TrainingSettings, _ loss: Loss = .mse, line: UInt = #line) {
        XCTAssertThrowsError(try TrainJob.run(try problem(loss), training: training, measurements: quiet()), line: line) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("training diverged at step"), message, line: line)
            XCTAssertTrue(message.contains("more than 1e6 times the initial loss"), "caught only once non-finite: \(message)", line: line)
        }
    }

    func testHugeLearningRateIsStoppedBeforeOverflow() {
        // (Not cross-entropy here: on this problem one step of 1e10 separates the classes and
        // its loss falls to 0, which is no divergence.)
        for loss in [Loss.mse, .binaryCrossEntropy] {
            assertDiverges(TrainingSettings(steps: 200, learningRate: 1e10, every: 100), loss)
        }
        assertDiverges(TrainingSettings(steps: 200, learningRate: 1e10, batchSize: 8, every: 100))
        assertDiverges(TrainingSettings(steps: 200, learningRate: 1e4, every: 100))
    }

    /// The reference loss is the step-0 one, saved with the series: the test is the same in a
    /// resumed run, and a run whose loss falls is untouched.
    func testDivergenceThreshold() throws {
        XCTAssertNoThrow(try TrainJob.checkDivergence(1e6, of: "loss", step: 3, initial: 1))
        XCTAssertThrowsError(try TrainJob.checkDivergence(1e6 * 1.0000001, of: "loss", step: 3, initial: 1))
        XCTAssertThrowsError(try TrainJob.checkDivergence(.nan, of: "loss", step: 3, initial: 1))
        XCTAssertNoThrow(try TrainJob.checkDivergence(5, of: "loss", step: 3, initial: 0))
        let (r, _) = try TrainJob.run(try problem(), training: TrainingSettings(steps: 60, learningRate: 0.05, every: 30), measurements: quiet())
        XCTAssertEqual(r.stepsTaken, 60)
    }

    func testCommandLineReportsDivergence() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-diverge-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let r = try WispExecutable.run(["train", "--quiet", "--width", "8", "--samples", "16", "--steps", "50", "--lr", "1e10",
                                        "--measure", "none", "--output-dir", directory.appendingPathComponent("out").path], in: directory)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.hasPrefix("wisp: error: training diverged"), r.stderr)
        // Before, this run went on to step 14 and stopped only at an infinite loss.
        XCTAssertTrue(r.stderr.contains("more than 1e6 times the initial loss"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.appendingPathComponent("out/train.json").path))
    }
}
