import Foundation
import XCTest
@testable import Wisp
import WispTestSupport

/// `wisp train`'s held-out set (issue 13, item 4): its loss and accuracy at every checkpoint,
/// checked against the training loss on the same samples (an independent path: the training
/// problem's full-batch loss), scaled by the training set's divisor, resumed exactly, and its
/// misuses refused with one line naming the setting.
final class ValidationTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-validation-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    static let digits = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Data/digits").path
    let images = digits + "/digits-images.idx3-ubyte"
    let labels = digits + "/digits-labels.idx1-ubyte"

    func configuration(samples: Int, inputs: String? = nil, labels: String? = nil) -> ProblemConfiguration {
        var c = ProblemConfiguration()
        c.depth = 3; c.width = 12; c.outputs = nil; c.samples = samples
        c.inputsPath = inputs ?? images; c.labelsPath = labels ?? self.labels
        c.pool = 2; c.scalePixels = true; c.loss = .crossEntropy; c.activation = .tanh; c.seed = 4
        return c
    }

    func quiet() -> MeasurementSettings {
        var m = MeasurementSettings()
        m.moments = false
        return m
    }

    /// Held-out = the training samples themselves: at every checkpoint the validation loss and
    /// accuracy are the training loss and accuracy (same forward pass, another Problem; equal
    /// to rounding of the sum's order: 1e-14 relative).
    func testValidationOnTheTrainingSamplesEqualsTheTrainingLoss() throws {
        let c = configuration(samples: 60)
        let p = try Problem(c)
        let v = ValidationSettings(inputsPath: images, labelsPath: labels, samples: 60)
        let held = try v.makeProblem(training: p, base: c)
        let (r, _) = try TrainJob.run(p, training: TrainingSettings(steps: 20, learningRate: 0.01, batchSize: 10, every: 10,
                                                                    optimizer: OptimizerSettings(method: .adam)),
                                      measurements: quiet(), validation: (v, held))
        XCTAssertEqual(r.series.map(\.step), [0, 10, 20])
        XCTAssertEqual(r.validationSamples, 60)
        for record in r.series {
            XCTAssertEqual(record.validationLoss!, record.loss, accuracy: 1e-14 * record.loss, "step \(record.step)")
            XCTAssertEqual(record.validationAccuracy, record.accuracy, "step \(record.step)")
        }
        XCTAssertLessThan(r.series.last!.validationLoss!, r.series.first!.validationLoss!)
    }

    /// Held-out rows 0..<V of other files: the loss is that of a training problem on those V
    /// samples at the checkpoint's θ (built independently, from the saved model).
    func testValidationLossIsTheLossOfTheHeldOutSamples() throws {
        // Validation files: the last 50 digits, written as their own IDX files (gzip for the images).
        let all = try IDX.read(path: images), y = try IDX.read(path: labels)
        let tail = Array(all.values[(1747 * 64)...]), tailLabels = Array(y.values[1747...])
        try GzipTests.storedGzip(IDX.encode(values: tail, shape: [50, 8, 8], dtype: .uint8))
            .write(to: URL(fileURLWithPath: path("held-images.gz")))
        try IDX.write(values: tailLabels, shape: [50], dtype: .uint8, to: path("held-labels.idx"))

        let c = configuration(samples: 80)
        let p = try Problem(c)
        let v = ValidationSettings(inputsPath: path("held-images.gz"), labelsPath: path("held-labels.idx"))
        let held = try v.makeProblem(training: p, base: c)
        var saved = [Int: [Double]]()
        let (r, _) = try TrainJob.run(p, training: TrainingSettings(steps: 10, learningRate: 0.05, every: 5,
                                                                    optimizer: OptimizerSettings(method: .momentum)),
                                      measurements: quiet(), validation: (v, held)) { record, theta in
            saved[record.step] = theta
            return nil
        }
        for record in r.series {
            var reference = configuration(samples: 50, inputs: path("held-images.gz"), labels: path("held-labels.idx"))
            reference.classes = 10
            reference.scaleDivisor = p.preprocessingSummary.scaleDivisor
            let q = try Problem(reference)
            try q.setParameters(saved[record.step]!)
            let (loss, accuracy) = try q.loss()
            XCTAssertEqual(record.validationLoss!, loss, accuracy: 1e-14 * loss, "step \(record.step)")
            XCTAssertEqual(record.validationAccuracy, accuracy)
        }
    }

    /// The validation inputs are divided by the training inputs' largest value (the digits: 16),
    /// not their own (100 here).
    func testValidationIsScaledAsTheTrainingSet() throws {
        let values = (0..<(10 * 64)).map { Double($0 % 101) }
        try IDX.write(values: values, shape: [10, 8, 8], dtype: .uint8, to: path("dim.idx"))
        try IDX.write(values: (0..<10).map { Double($0 % 10) }, shape: [10], dtype: .uint8, to: path("dim-labels.idx"))
        var c = configuration(samples: 60)
        c.pool = 1
        let p = try Problem(c)
        XCTAssertEqual(p.preprocessingSummary.scaleDivisor, 16)
        let held = try ValidationSettings(inputsPath: path("dim.idx"), labelsPath: path("dim-labels.idx")).makeProblem(training: p, base: c)
        XCTAssertEqual(held.preprocessingSummary.scaleDivisor, 16)
        XCTAssertEqual(held.dataset.values.max(), 100.0 / 16)
    }

    /// Killed after a checkpoint and rerun: the validation numbers continue exactly.
    func testResumeKeepsTheValidationSeries() throws {
        struct Killed: Error {}
        let c = configuration(samples: 40)
        let v = ValidationSettings(inputsPath: images, labelsPath: labels, samples: 30)
        let training = TrainingSettings(steps: 30, learningRate: 0.01, batchSize: 8, every: 10, optimizer: OptimizerSettings(method: .adam))
        let p0 = try Problem(c)
        let (reference, _) = try TrainJob.run(p0, training: training, measurements: quiet(), validation: (v, try v.makeProblem(training: p0, base: c)))
        func open(_ p: Problem) throws -> TrainingCheckpoint {
            TrainingCheckpoint(directory: try CheckpointDirectory(path: path("ck"), fingerprint: try RunFingerprint(command: "test", configuration: p.configuration, settings: ["v": "1"]),
                                                                  communicator: p.communicator, replicatedVectors: true), architecture: p.architecture)
        }
        let p1 = try Problem(c)
        XCTAssertThrowsError(try TrainJob.run(p1, training: training, measurements: quiet(), validation: (v, try v.makeProblem(training: p1, base: c)),
                                              checkpoint: try open(p1)) { record, _ in
            if record.step == 20 { throw Killed() }
            return nil
        })
        let p2 = try Problem(c)
        let (resumed, _) = try TrainJob.run(p2, training: training, measurements: quiet(), validation: (v, try v.makeProblem(training: p2, base: c)),
                                            checkpoint: try open(p2))
        XCTAssertEqual(resumed.resumedFrom, 10)
        XCTAssertEqual(resumed.series.map(\.validationLoss), reference.series.map(\.validationLoss))
        XCTAssertEqual(resumed.series.map(\.validationAccuracy), reference.series.map(\.validationAccuracy))
    }

    func testMisuseIsRefusedNamingTheSetting() throws {
        let c = configuration(samples: 20)
        let p = try Problem(c)
        func refused(_ v: ValidationSettings, _ base: ProblemConfiguration, _ words: [String], line: UInt = #line) {
            XCTAssertThrowsError(try v.makeProblem(training: p, base: base), line: line) { error in
                for w in words { XCTAssertTrue("\(error)".contains(w), "'\(w)' not in \(error)", line: line) }
            }
        }
        refused(ValidationSettings(inputsPath: images), c, ["\(Setting.validationTargets)", "\(Setting.validationLabels)"])
        refused(ValidationSettings(inputsPath: images, targetsPath: labels), c, ["\(Setting.validationLabels)"])
        var standardized = c
        standardized.standardize = true
        refused(ValidationSettings(inputsPath: images, labelsPath: labels), standardized, ["\(Setting.standardize)"])
        refused(ValidationSettings(inputsPath: images, labelsPath: labels, samples: 0), c, ["\(Setting.validationSamples)"])
        var gaussian = ProblemConfiguration()
        gaussian.width = 8; gaussian.samples = 5
        refused(ValidationSettings(inputsPath: images, labelsPath: labels), gaussian, ["\(Setting.inputs)"])

        // The CLI: one error line, and the summary and CSV carry the validation numbers.
        for (arguments, word) in [(["--validation-labels", labels], "--validation-inputs"),
                                  (["--validation-inputs", images, "--validation-labels", labels, "--standardize"], "--standardize")] {
            let r = try WispExecutable.run(["train", "--inputs", images, "--labels", labels, "--samples", "20", "--width", "8", "--steps", "2",
                                            "--measure", "none", "--quiet", "--output-dir", "out"] + arguments, in: directory)
            XCTAssertNotEqual(r.status, 0)
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains(word), r.stderr)
        }
        let ok = try WispExecutable.run(["train", "--inputs", images, "--labels", labels, "--samples", "20", "--width", "8", "--steps", "4",
                                         "--every", "2", "--scale-pixels", "--loss", "cross-entropy", "--optimizer", "adam", "--lr", "0.01",
                                         "--validation-inputs", images, "--validation-labels", labels, "--validation-samples", "15",
                                         "--measure", "none", "--quiet", "--no-save-models", "--output-dir", "out"], in: directory)
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertTrue(ok.stdout.contains("validation loss"), ok.stdout)
        let csv = try String(contentsOfFile: path("out/train.csv"), encoding: .utf8)
        XCTAssertTrue(csv.hasPrefix("step,loss,accuracy,gradient_norm,validation_loss,validation_accuracy\n"), csv)
        XCTAssertEqual(csv.split(separator: "\n").count, 4)
    }
}
