import Foundation
import XCTest
import WispTestSupport

/// The distributed runs: `cluster/compare-ranks.sh` runs the same jobs on 1, 2, 3 and 4 MPI
/// ranks with the `wisp` built for these tests and fails unless every number agrees with the
/// 1-rank run (1e-12 relative in Float64). Needs `mpirun` (openmpi-bin).
final class MPITests: XCTestCase {
    func testSameResultsOnOneToFourRanks() throws {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: WispExecutable.url.path), "the wisp executable was not built next to the tests")
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let script = repository.appendingPathComponent("cluster/compare-ranks.sh")
        let r = try WispExecutable.child(URL(fileURLWithPath: "/bin/bash"), [script.path, WispExecutable.url.path])
        let text = r.stdout + r.stderr
        XCTAssertEqual(r.status, 0, text)
        XCTAssertTrue(text.contains("rank comparison: all agree"), text)
        print(text)
    }
}
