import Foundation
import XCTest
@testable import Wisp
import WispTestSupport

/// `wisp train --measure align`: the layerwise alignments A_l (Lou et al. eq. 6–7) at training
/// checkpoints are ``AlignJob``'s on the checkpoint's parameters, survive a resume, and the CLI
/// writes them as a time series.
final class TrainAlignmentTests: XCTestCase {
    func problem(samples: Int = 20) throws -> Problem {
        var c = ProblemConfiguration()
        c.depth = 4; c.width = 16; c.inputDimension = 6; c.outputs = 3; c.samples = samples
        c.activation = .relu; c.sigmaW2 = 2; c.sigmaB2 = 0; c.bias = false; c.loss = .crossEntropy; c.seed = 5
        return try Problem(c)
    }

    static func same(_ a: AlignmentSnapshot, _ b: AlignResult, _ context: String) {
        XCTAssertEqual(a.method, b.method, context)
        XCTAssertEqual(a.peakLayer, b.peakLayer, context)
        XCTAssertEqual(a.layers.count, b.layers.count, context)
        for (x, y) in zip(a.layers, b.layers) {
            // The same code on the same parameters and probes: equal up to rounding.
            XCTAssertEqual(x.alignment, y.alignment, accuracy: 1e-12 * abs(y.alignment), "\(context) layer \(y.layer)")
            XCTAssertEqual(x.alignmentStandardError, y.alignmentStandardError, accuracy: 1e-12 * abs(y.alignment), "\(context) layer \(y.layer)")
            XCTAssertEqual(x.stableRank, y.stableRank, accuracy: 1e-8 * abs(y.stableRank), "\(context) layer \(y.layer)")
        }
    }

    /// The alignments recorded at step 0 and at the last step equal AlignJob.run on a problem
    /// holding the same parameters (exact and Hutchinson paths), and training moves them.
    func testCheckpointAlignmentEqualsAlignJob() throws {
        for settings in [AlignSettings(seed: 2), AlignSettings(exactLimit: 0, probes: 5, seed: 2)] {
            var m = MeasurementSettings()
            m.moments = false
            m.align = settings
            let p = try problem()
            let before = try AlignJob.run(try problem(), settings: settings)
            let (r, _) = try TrainJob.run(p, training: TrainingSettings(steps: 20, learningRate: 0.5, every: 10), measurements: m)
            XCTAssertEqual(r.series.map(\.step), [0, 10, 20])
            let after = try AlignJob.run(p, settings: settings)
            let first = try XCTUnwrap(r.series.first?.alignment), last = try XCTUnwrap(r.series.last?.alignment)
            XCTAssertEqual(first.method, settings.exactLimit == 0 ? "hutchinson" : "exact")
            Self.same(first, before, "step 0, \(first.method)")
            Self.same(last, after, "step 20, \(last.method)")
            XCTAssertNotEqual(first.layers[0].alignment, last.layers[0].alignment)
            XCTAssertGreaterThan(last.operatorApplications, 0)
        }
        var bad = MeasurementSettings()
        bad.align = AlignSettings(probes: 1)
        XCTAssertThrowsError(try TrainJob.run(try problem(), training: TrainingSettings(steps: 1), measurements: bad)) {
            XCTAssertTrue("\($0)".contains("\(Setting.measureAlignProbes)"), "\($0)")
        }
    }

    /// A run with alignments killed after its second checkpoint resumes from the saved state
    /// (the alignment records decode) and ends with the uninterrupted run's alignments (SGD).
    func testResumeKeepsAlignments() throws {
        struct Killed: Error {}
        let training = TrainingSettings(steps: 30, learningRate: 0.5, batchSize: 8, every: 10, seed: 2)
        var m = MeasurementSettings()
        m.moments = false
        m.align = AlignSettings(seed: 1)
        let (reference, _) = try TrainJob.run(try problem(), training: training, measurements: m)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-train-align-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func open(_ p: Problem) throws -> TrainingCheckpoint {
            TrainingCheckpoint(directory: try CheckpointDirectory(path: dir, fingerprint: try RunFingerprint(command: "test", configuration: p.configuration, settings: ["test": "train-align"]), communicator: p.communicator,
                                                                  replicatedVectors: true), architecture: p.architecture)
        }
        let first = try problem()
        XCTAssertThrowsError(try TrainJob.run(first, training: training, measurements: m, checkpoint: try open(first)) { record, _ in
            if record.step == 20 { throw Killed() }
            return nil
        })
        let second = try problem()
        let (resumed, _) = try TrainJob.run(second, training: training, measurements: m, checkpoint: try open(second))
        XCTAssertEqual(resumed.resumedFrom, 10)
        XCTAssertEqual(resumed.series.map(\.step), reference.series.map(\.step))
        for (x, y) in zip(resumed.series, reference.series) {
            XCTAssertEqual(try XCTUnwrap(x.alignment).layers.map(\.alignment), try XCTUnwrap(y.alignment).layers.map(\.alignment), "step \(x.step)")
            XCTAssertEqual(x.alignment?.peakLayer, y.alignment?.peakLayer)
        }
    }

    /// The CSV has one row per (checkpoint, layer) with the checkpoint's A_l; the SVG has both panels.
    func testSeriesFiles() throws {
        var m = MeasurementSettings()
        m.moments = false
        m.align = AlignSettings(seed: 1)
        let (r, _) = try TrainJob.run(try problem(), training: TrainingSettings(steps: 4, learningRate: 0.5, every: 2), measurements: m)
        let lines = AlignmentSeriesFiles.csv(r.series).split(separator: "\n")
        XCTAssertEqual(lines.count, 1 + 3 * 4)
        let row = lines[1 + 4 + 2].split(separator: ",")
        XCTAssertEqual(row[0], "2")
        XCTAssertEqual(row[1], "3")
        XCTAssertEqual(Double(row[2])!, r.series[1].alignment!.layers[2].alignment)
        XCTAssertEqual(lines.filter { $0.hasSuffix(",1") }.count, 3, "one peak per checkpoint")
        let svg = try XCTUnwrap(AlignmentSeriesFiles.svg(r.series, title: "t"))
        XCTAssertTrue(svg.contains("A_l against the layer") && svg.contains("A_l against the step") && svg.contains("l=4"))
        let labels = PlotAxisTests.textLabels(svg)   // layers 1…4 and steps 0, 2, 4 on integer axes
        XCTAssertTrue(["0", "1", "2", "3", "4"].allSatisfy(labels.contains) && !labels.contains("0.5") && !labels.contains("1.5"), "\(labels)")
        XCTAssertGreaterThan(try PlotAxisTests.render(svg, name: "alignment-series"), 1000)
        XCTAssertNil(AlignmentSeriesFiles.svg(r.series.map { var x = $0; x.alignment = nil; return x }, title: "t"))
    }

    /// `wisp train --measure align` through the executable on the digits (when present) or on
    /// Gaussian inputs: train.json carries the alignments, alignment.csv/.svg are written, and a
    /// bad --align-probes is one error line.
    func testCommandLine() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-train-align-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func wisp(_ arguments: [String]) throws -> (Int32, String) {
            let r = try WispExecutable.run(arguments)
            return (r.status, r.stderr)
        }
        let out = directory.appendingPathComponent("run").path
        let args = ["train", "--quiet", "--depth", "4", "--width", "16", "--samples", "12", "--outputs", "3", "--input-dim", "5",
                    "--activation", "relu", "--sigma-w2", "2", "--no-bias", "--loss", "cross-entropy", "--steps", "6", "--every", "3",
                    "--lr", "0.3", "--batch-size", "4", "--measure", "align", "--no-save-models", "--output-dir", out]
        let (status, stderr) = try wisp(args)
        XCTAssertEqual(status, 0, stderr)
        let record = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/train.json"))) as! [String: Any]
        let series = try XCTUnwrap(record["series"] as? [[String: Any]])
        XCTAssertEqual(series.count, 3)
        let alignment = try XCTUnwrap(series.last?["alignment"] as? [String: Any])
        XCTAssertEqual((alignment["layers"] as? [Any])?.count, 4)
        XCTAssertNotNil(alignment["peak_layer"] as? Int)
        for name in ["alignment.csv", "alignment.svg", "train.csv"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + name), name)
        }
        let csv = try String(contentsOfFile: out + "/alignment.csv", encoding: .utf8)
        XCTAssertEqual(csv.split(separator: "\n").count, 1 + 3 * 4)  // the column names, then 3 checkpoints × 4 layers
        let (bad, message) = try wisp(args.map { $0 == out ? directory.appendingPathComponent("bad").path : $0 } + ["--align-probes", "1"])
        XCTAssertNotEqual(bad, 0)
        XCTAssertEqual(message.split(separator: "\n").count, 1, message)
        XCTAssertTrue(message.hasPrefix("wisp: error: ") && message.contains("--align-probes"), message)
    }
}
