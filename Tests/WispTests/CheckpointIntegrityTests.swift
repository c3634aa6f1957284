import Foundation
import XCTest
@testable import Wisp
import WispTestSupport

/// Hostile checkpoints: a flipped digit, a truncated file, a deleted manifest, files swapped in
/// from another configuration, edited counts. Each is refused with one error naming the file
/// (never used: before, a changed digit in an SLQ probe moved the density by 2.6 %, a width-64
/// run reused width-128 probes, and a Lanczos count above the capacity overflowed the heap);
/// fingerprints are canonical, so `train --checkpoint` resumes in a new process.
final class CheckpointIntegrityTests: XCTestCase {
    var root: URL!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-integrity-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    func path(_ name: String) -> String { root.appendingPathComponent(name).path }

    func problem(width: Int = 20) throws -> Problem {
        var c = ProblemConfiguration()
        c.width = width
        c.samples = 30
        c.outputs = 2
        c.activation = .tanh
        return try Problem(c)
    }

    func open(_ name: String, _ p: Problem, command: String = "density", settings: [String: String] = ["steps": "12"],
              replicated: Bool = true) throws -> CheckpointDirectory {
        try CheckpointDirectory(path: path(name), fingerprint: try RunFingerprint(command: command, configuration: p.configuration, settings: settings),
                                communicator: p.communicator, interval: 0, replicatedVectors: replicated)
    }

    let slq = SLQSettings(probes: 3, steps: 12, seed: 2)

    func runSLQ(_ p: Problem, _ ck: CheckpointDirectory?) throws -> DensityResult {
        try DensityJob.run(p, matrix: .ntk, settings: slq, grid: DensitySettings(), checkpoint: ck).0
    }

    /// Changes one digit of the file's content (after its checksum), keeping its length.
    func flipDigit(_ file: String, skip: Int = 100) throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        let i = try XCTUnwrap((skip..<bytes.count).first { (0x31...0x38).contains(bytes[$0]) }, "no digit in \(file)")
        bytes[i] += 1
        try Data(bytes).write(to: URL(fileURLWithPath: file))
    }

    func assertRefused(_ body: @autoclosure () throws -> Any, naming words: [String], line: UInt = #line) {
        XCTAssertThrowsError(try body(), line: line) { error in
            let message = "\(error)"
            XCTAssertFalse(message.contains("\n"), "one line: \(message)", line: line)
            for w in words { XCTAssertTrue(message.contains(w), "'\(w)' not in: \(message)", line: line) }
        }
    }

    // MARK: SLQ probes

    func testFlippedDigitInSLQProbeIsRefused() throws {
        let p = try problem()
        _ = try runSLQ(p, try open("a", p))
        try flipDigit(path("a/slq.json"))
        assertRefused(try runSLQ(p, try open("a", p)), naming: ["slq.json", "corrupt", "SHA-256"])
    }

    func testTruncatedSLQFileIsRefused() throws {
        let p = try problem()
        _ = try runSLQ(p, try open("a", p))
        let data = try Data(contentsOf: URL(fileURLWithPath: path("a/slq.json")))
        for keep in [data.count - 2, data.count / 2, 40, 0] {
            try data.prefix(keep).write(to: URL(fileURLWithPath: path("a/slq.json")))
            assertRefused(try runSLQ(p, try open("a", p)), naming: ["slq.json", "corrupt"])
        }
    }

    /// Without its manifest, a directory of width-20 probes is not reused by a width-24 run:
    /// slq.json carries its own fingerprint.
    func testDeletedManifestDoesNotLetAnotherWidthReuseProbes() throws {
        _ = try runSLQ(try problem(width: 20), try open("a", try problem(width: 20)))
        try FileManager.default.removeItem(atPath: path("a/manifest.json"))
        let other = try problem(width: 24)
        assertRefused(try runSLQ(other, try open("a", other)), naming: ["slq.json", "configuration.", "is 20 there and 24 here"])
    }

    func testSLQFileSwappedFromAnotherConfigurationIsRefused() throws {
        let (p20, p24) = (try problem(width: 20), try problem(width: 24))
        _ = try runSLQ(p20, try open("a", p20))
        _ = try runSLQ(p24, try open("b", p24))
        try FileManager.default.removeItem(atPath: path("b/slq.json"))
        try FileManager.default.copyItem(atPath: path("a/slq.json"), toPath: path("b/slq.json"))
        assertRefused(try runSLQ(p24, try open("b", p24)), naming: ["b/slq.json", "is 20 there and 24 here"])
        // Another solver setting (the Lanczos steps) is named too.
        assertRefused(try open("a", p20, settings: ["steps": "13"]), naming: ["manifest.json", "settings.steps is 12 there and 13 here"])
    }

    /// A file of the old, unsealed format (or any JSON without a checksum) is not trusted.
    func testUnsealedFileIsRefused() throws {
        let p = try problem()
        _ = try open("a", p)
        try Data(#"{"0":{"nodes":[1.0],"weights":[1.0]}}"#.utf8).write(to: URL(fileURLWithPath: path("a/slq.json")))
        assertRefused(try runSLQ(p, try open("a", p)), naming: ["slq.json", "no checksum"])
    }

    func testEditedManifestIsRefused() throws {
        let p = try problem()
        _ = try open("a", p)
        try flipDigit(path("a/manifest.json"))
        assertRefused(try open("a", p), naming: ["manifest.json", "corrupt"])
    }

    /// A digit changed and the checksum recomputed (a buggy writer, not a disk): the rule's
    /// shape is still checked. Here a weight count differing from the node count.
    func testResealedInconsistentProbeIsRefused() throws {
        let p = try problem()
        let ck = try open("a", p)
        try SealedFile.writeJSON(["0": QuadratureRule(nodes: [1, 2], weights: [0.5])], fingerprint: ck.fingerprint, to: path("a/slq.json"))
        assertRefused(try ck.finishedProbes(), naming: ["slq.json", "entry '0'"])
    }

    // MARK: Lanczos

    func state(count: Int = 2, capacity: Int = 4, n: Int = 5) -> LanczosState {
        LanczosState(localDimension: n, capacity: capacity, count: count, residualNorm: 0.5, isTridiagonal: true, applications: count,
                     extraStarts: 0, restarts: 0, basis: (0..<((count + 1) * n)).map { Double($0) / 7 },
                     projected: [Double](repeating: 0.25, count: (capacity + 1) * (capacity + 1)))
    }

    /// Edits a metadata value of the saved generation in place (same length), optionally
    /// resealing the file so that only the consistency check can catch it.
    func editLanczos(_ name: String, _ from: String, _ to: String, reseal: Bool) throws {
        let file = path("\(name)/lanczos-g1-r0.safetensors")
        var data = try Data(contentsOf: URL(fileURLWithPath: file))
        let range = try XCTUnwrap(data.range(of: Data(from.utf8)))
        data.replaceSubrange(range, with: Data(to.utf8))
        if reseal {
            let sealed = data.range(of: Data("sha256:".utf8))!
            data.replaceSubrange(sealed.upperBound..<(sealed.upperBound + 64), with: Data(String(repeating: "0", count: 64).utf8))
            data = try SealedFile.seal(data, name: file)
        }
        try data.write(to: URL(fileURLWithPath: file))
    }

    func testEditedLanczosCountIsRefused() throws {
        let p = try problem()
        try open("a", p, command: "top").save(state())
        XCTAssertEqual(try open("a", p, command: "top").restore(), state())
        try editLanczos("a", #""count":"2""#, #""count":"9""#, reseal: false)
        assertRefused(try open("a", p, command: "top").restore(), naming: ["lanczos-g1-r0.safetensors", "SHA-256"])
    }

    /// The heap overflow of the issue: a count above the capacity, checksum valid.
    func testLanczosCountAboveCapacityIsRefusedEvenWhenResealed() throws {
        let p = try problem()
        try open("a", p, command: "top").save(state())
        try editLanczos("a", #""count":"2""#, #""count":"9""#, reseal: true)
        assertRefused(try open("a", p, command: "top").restore(), naming: ["lanczos-g1-r0.safetensors", "count 9 exceeds the capacity 4"])
        try FileManager.default.removeItem(atPath: path("a"))
        try open("a", p, command: "top").save(state())
        try editLanczos("a", #""capacity":"4""#, #""capacity":"1""#, reseal: true)
        assertRefused(try open("a", p, command: "top").restore(), naming: ["lanczos-g1-r0.safetensors", "exceeds the capacity 1"])
    }

    final class FixedCheckpoint: LanczosCheckpoint {
        let state: LanczosState
        init(_ state: LanczosState) { self.state = state }
        func restore() throws -> LanczosState? { state }
        func isDue() -> Bool { false }
        func save(_ state: LanczosState) throws {}
    }

    /// Any checkpoint implementation: the solver validates the state before restoring it.
    func testSolverValidatesRestoredState() throws {
        let op = MatrixOperator(diagonal: (1...5).map(Double.init))
        let settings = LanczosSettings(count: 1, tolerance: 1e-10, basisSize: 4)
        var bad = [state(count: 9), state(count: -1)]
        var short = state()
        short.basis.removeLast()
        var wide = state()
        wide.projected += [0]
        var nan = state()
        nan.basis[3] = .nan
        bad += [short, wide, nan]
        for s in bad {
            XCTAssertNotNil(s.inconsistency)
            assertRefused(try Lanczos.solve(op, settings: settings, checkpoint: FixedCheckpoint(s)), naming: ["Lanczos checkpoint"])
        }
        XCTAssertNil(state().inconsistency)
    }

    func testLanczosPointerFlippedIsRefused() throws {
        let p = try problem()
        try open("a", p, command: "top").save(state())
        try flipDigit(path("a/lanczos.json"))
        assertRefused(try open("a", p, command: "top").restore(), naming: ["lanczos.json", "corrupt"])
    }

    func testLanczosGenerationFromAnotherRunIsRefused() throws {
        let p = try problem()
        try open("a", p, command: "top", settings: ["k": "2"]).save(state())
        try open("b", p, command: "top", settings: ["k": "3"]).save(state())
        try FileManager.default.removeItem(atPath: path("b/lanczos-g1-r0.safetensors"))
        try FileManager.default.copyItem(atPath: path("a/lanczos-g1-r0.safetensors"), toPath: path("b/lanczos-g1-r0.safetensors"))
        assertRefused(try open("b", p, command: "top", settings: ["k": "3"]).restore(),
                      naming: ["lanczos-g1-r0.safetensors", "settings.k is 2 there and 3 here"])
    }

    // MARK: KPM

    func testFlippedDigitInKPMMomentsIsRefused() throws {
        let p = try problem()
        let settings = KPMSettings(probes: 2, moments: 32, seed: 2)
        _ = try KPMDensityJob.run(p, matrix: .ntk, settings: settings, grid: DensitySettings(), checkpoint: try open("a", p))
        try flipDigit(path("a/kpm.json"))
        assertRefused(try KPMDensityJob.run(p, matrix: .ntk, settings: settings, grid: DensitySettings(), checkpoint: try open("a", p)),
                      naming: ["kpm.json", "SHA-256"])
    }

    // MARK: Training

    func train(_ p: Problem, lr: Double = 0.05, directory: String = "t") throws -> TrainResult {
        let training = TrainingSettings(steps: 20, learningRate: lr, every: 10, seed: 2)
        var m = MeasurementSettings()
        m.moments = false
        let ck = TrainingCheckpoint(directory: try open(directory, p, command: "train", settings: ["lr": "\(lr)"]), architecture: p.architecture)
        return try TrainJob.run(p, training: training, measurements: m, checkpoint: ck).0
    }

    func testFlippedDigitInTrainStateIsRefused() throws {
        let first = try train(try problem())
        XCTAssertNil(first.resumedFrom)
        XCTAssertEqual(try train(try problem()).resumedFrom, 20)
        try flipDigit(path("t/train-state.json"))
        assertRefused(try train(try problem()), naming: ["train-state.json", "SHA-256"])
    }

    func testFlippedByteInTrainModelIsRefused() throws {
        _ = try train(try problem())
        let file = path("t/train-step-000000020.safetensors")
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        bytes[bytes.count - 3] ^= 0x10
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        assertRefused(try train(try problem()), naming: ["train-step-000000020.safetensors", "SHA-256"])
    }

    func testTrainModelFromAnotherRunIsRefused() throws {
        _ = try train(try problem(), lr: 0.05, directory: "t")
        _ = try train(try problem(), lr: 0.04, directory: "u")
        let name = "train-step-000000020.safetensors"
        try FileManager.default.removeItem(atPath: path("u/" + name))
        try FileManager.default.copyItem(atPath: path("t/" + name), toPath: path("u/" + name))
        assertRefused(try train(try problem(), lr: 0.04, directory: "u"), naming: [name, "settings.lr is 0.05 there and 0.04 here"])
    }

    /// The fingerprint is canonical: the same settings give the same bytes whatever the order
    /// they were assembled in, and doubles are compared exactly.
    func testFingerprintIsCanonical() throws {
        let c = ProblemConfiguration()
        var a = [String: Double](), b = [String: Double]()
        for i in 0..<50 { a["s\(i)"] = Double(i) / 10 }
        for i in (0..<50).reversed() { b["s\(i)"] = Double(i) / 10 }
        let fa = try RunFingerprint(command: "x", configuration: c, settings: a)
        XCTAssertEqual(fa, try RunFingerprint(command: "x", configuration: c, settings: b))
        b["s1"] = 0.1.nextUp
        let fb = try RunFingerprint(command: "x", configuration: c, settings: b)
        XCTAssertNotEqual(fa, fb)
        XCTAssertEqual(fb.difference(from: fa.text), "settings.s1 is 0.1 there and 0.10000000000000002 here")
        XCTAssertNil(fa.difference(from: fa.text))
        var d = c
        d.modelPath = "net.safetensors"
        XCTAssertEqual(try RunFingerprint(command: "x", configuration: d, settings: a).difference(from: fa.text),
                       "configuration.model is unset there and net.safetensors here")
        XCTAssertEqual(try RunFingerprint(command: "y", configuration: c, settings: a).difference(from: fa.text),
                       "command is x there and y here")
    }

    // MARK: Across processes

    func wisp(_ arguments: [String]) throws -> WispExecutable.Outcome { try WispExecutable.run(arguments, in: root) }

    /// `train --checkpoint` in one process, then again in a second: the second resumes (it was
    /// refused 10 times in 10 before, its fingerprint comparing JSON of random key order) and
    /// reports exactly the first's numbers; a third with another --lr is refused, naming it.
    func testTrainResumesInAnotherProcess() throws {
        let base = ["train", "--quiet", "--width", "8", "--samples", "16", "--steps", "20", "--every", "10", "--measure", "moments",
                    "--probes", "2", "--slq-steps", "4", "--checkpoint", path("ck"), "--no-save-models"]
        let r1 = try wisp(base + ["--output-dir", path("one")])
        XCTAssertEqual(r1.status, 0, r1.stderr)
        let r2 = try wisp(base + ["--output-dir", path("two")])
        XCTAssertEqual(r2.status, 0, r2.stderr)
        let one = try ExactJSON.object(file: path("one/train.json")), two = try ExactJSON.object(file: path("two/train.json"))
        XCTAssertNil(one["resumed_from"])
        XCTAssertEqual(two["resumed_from"] as? Int, 20)
        func losses(_ o: [String: Any]) -> [Double] { (o["series"] as? [[String: Any]] ?? []).compactMap { $0["loss"] as? Double } }
        XCTAssertEqual(losses(one).count, 3)
        XCTAssertEqual(losses(one).map(\.bitPattern), losses(two).map(\.bitPattern))
        let curve = { (o: [String: Any]) in (o["loss_curve"] as? [[String: Any]] ?? []).compactMap { ($0["loss"] as? Double)?.bitPattern } }
        XCTAssertEqual(curve(one), curve(two))
        let r3 = try wisp(base + ["--output-dir", path("three"), "--lr", "0.2"])
        XCTAssertNotEqual(r3.status, 0)
        XCTAssertEqual(r3.stderr.split(separator: "\n").count, 1, r3.stderr)
        XCTAssertTrue(r3.stderr.contains("learning_rate is 0.1 there and 0.2 here"), r3.stderr)
    }

    /// The command line names a corrupt file in one error line and exits non-zero.
    func testCorruptProbeFileEndsTheCommand() throws {
        let args = ["density", "--method", "slq", "--quiet", "--width", "10", "--samples", "8", "--probes", "3", "--steps", "6", "--checkpoint", path("ck"),
                    "--output", path("d.json")]
        XCTAssertEqual(try wisp(args).status, 0)
        try flipDigit(path("ck/slq.json"))
        let r = try wisp(args)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.hasPrefix("wisp: error: checkpoint file") && r.stderr.contains("slq.json"), r.stderr)
    }
}
