import Foundation
import XCTest

/// The distributed runs: `cluster/compare-ranks.sh` runs the same jobs on 1, 2, 3 and 4 MPI
/// ranks with the `wisp` built for these tests and fails unless every number agrees with the
/// 1-rank run (1e-12 relative in Float64). Needs `mpirun` (openmpi-bin).
final class MPITests: XCTestCase {
    func testSameResultsOnOneToFourRanks() throws {
        let products = Bundle.main.bundleURL
        let wisp = [products, products.deletingLastPathComponent()].map { $0.appendingPathComponent("wisp") }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
        let binary = try XCTUnwrap(wisp, "the wisp executable was not built next to the tests")
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let script = repository.appendingPathComponent("cluster/compare-ranks.sh")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script.path, binary.path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, text)
        XCTAssertTrue(text.contains("rank comparison: all agree"), text)
        print(text)
    }
}
