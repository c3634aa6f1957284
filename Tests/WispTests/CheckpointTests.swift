import Foundation
import XCTest
@testable import Wisp
import WispTestSupport

/// Resuming from a checkpoint gives bit-for-bit the numbers of an uninterrupted run.
final class CheckpointTests: XCTestCase {
    var directory: String!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-ck-\(UUID().uuidString)").path
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    struct Killed: Error {}

    /// Forwards to a real checkpoint directory and "dies" after `limit` saves.
    final class DyingCheckpoint: LanczosCheckpoint {
        let base: CheckpointDirectory
        let limit: Int
        var saves = 0
        init(_ base: CheckpointDirectory, limit: Int) { self.base = base; self.limit = limit }
        func restore() throws -> LanczosState? { try base.restore() }
        func isDue() -> Bool { true }
        func save(_ state: LanczosState) throws {
            try base.save(state)
            saves += 1
            if saves == limit { throw Killed() }
        }
    }

    func problem(width: Int = 20) throws -> Problem {
        var c = ProblemConfiguration()
        c.width = width
        c.samples = 30
        c.outputs = 2
        c.activation = .tanh
        return try Problem(c)
    }

    func open(_ p: Problem, fingerprint: [String: String] = ["command": "test"], replicated: Bool) throws -> CheckpointDirectory {
        try CheckpointDirectory(path: directory, fingerprint: try RunFingerprint(command: fingerprint["command"] ?? "test",
                                                                               configuration: p.configuration, settings: fingerprint),
                                communicator: p.communicator, interval: 0, replicatedVectors: replicated)
    }

    /// Killed after 5 saves, a third and half of the way (before and after thick
    /// restarts), the resumed solve matches the uninterrupted one exactly, in parameter and in
    /// sample space.
    func testLanczosResumesExactly() throws {
        let p = try problem()
        let settings = LanczosSettings(count: 4, tolerance: 1e-12, basisSize: 12, seed: 5)
        for matrix in CurvatureMatrix.allCases {
            let reference = try Lanczos.solve(try p.makeOperator(matrix), settings: settings)
            XCTAssertGreaterThan(reference.restarts, 1)
            let n = reference.operatorApplications
            for limit in [5, n / 3, n / 2] {   // saves happen after most, not all, expansions
                try? FileManager.default.removeItem(atPath: directory)
                let dying = DyingCheckpoint(try open(p, replicated: !matrix.isSampleSpace), limit: limit)
                XCTAssertThrowsError(try Lanczos.solve(try p.makeOperator(matrix), settings: settings, checkpoint: dying))
                let resumed = try Lanczos.solve(try p.makeOperator(matrix), settings: settings,
                                                checkpoint: try open(p, replicated: !matrix.isSampleSpace))
                XCTAssertEqual(resumed.values, reference.values, "\(matrix) killed after \(limit) saves")
                XCTAssertEqual(resumed.residuals, reference.residuals)
                XCTAssertEqual(resumed.operatorApplications, reference.operatorApplications)
                XCTAssertEqual(resumed.restarts, reference.restarts)
            }
        }
    }

    /// SLQ: a run with 4 probes, then a rerun with 9 on the same directory, equals a single
    /// uninterrupted 9-probe run (JSON round trip of the rules is exact).
    func testSLQResumesAndExtendsExactly() throws {
        let p = try problem()
        let settings9 = SLQSettings(probes: 9, steps: 12, seed: 2)
        let (reference, _) = try DensityJob.run(p, matrix: .ntk, settings: settings9, grid: DensitySettings())
        let ck = try open(p, fingerprint: ["steps": "12"], replicated: true)
        _ = try DensityJob.run(p, matrix: .ntk, settings: SLQSettings(probes: 4, steps: 12, seed: 2), grid: DensitySettings(), checkpoint: ck)
        let (resumed, timings) = try DensityJob.run(p, matrix: .ntk, settings: settings9, grid: DensitySettings(),
                                                    checkpoint: try open(p, fingerprint: ["steps": "12"], replicated: true))
        XCTAssertEqual(resumed.resumedProbes, 4)
        XCTAssertEqual(timings.operatorApplications, 5 * 12)
        XCTAssertEqual(resumed.density.density, reference.density.density)
        XCTAssertEqual(resumed.moments.map(\.estimate), reference.moments.map(\.estimate))
    }

    func testForeignCheckpointIsRefused() throws {
        _ = try open(try problem(width: 20), replicated: true)
        XCTAssertThrowsError(try open(try problem(width: 21), replicated: true)) { error in
            XCTAssertTrue("\(error)".contains("20 there and 21 here"), "\(error)")
        }
        XCTAssertThrowsError(try open(try problem(width: 20), fingerprint: ["command": "other"], replicated: true)) { error in
            XCTAssertTrue("\(error)".contains("command"), "\(error)")
        }
    }

    func testCorruptCheckpointIsReported() throws {
        let p = try problem()
        let ck = try open(p, replicated: true)
        try Data("{ not json".utf8).write(to: URL(fileURLWithPath: directory + "/slq.json"))
        XCTAssertThrowsError(try ck.finishedProbes()) { XCTAssertTrue("\($0)".contains("is corrupt"), "\($0)") }
        try Data("{\"generation\": \"x\"}".utf8).write(to: URL(fileURLWithPath: directory + "/lanczos.json"))
        XCTAssertThrowsError(try ck.restore()) { XCTAssertTrue("\($0)".contains("is corrupt"), "\($0)") }
    }
}
