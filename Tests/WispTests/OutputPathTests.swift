import Foundation
import XCTest
import Wisp

/// The library side of issue 12: path checks, sibling names, checked sizes, regular-file reads.
final class OutputPathTests: XCTestCase {
    var directory: String!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-paths-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Foundation's NSString path methods trapped on one-character names; these are bytes.
    func testSiblingNames() {
        XCTAssertEqual(OutputPath.sibling(of: "a", extension: "csv"), "a.csv")
        XCTAssertEqual(OutputPath.sibling(of: "d.json", extension: "csv"), "d.csv")
        XCTAssertEqual(OutputPath.sibling(of: "x.y/z", extension: "svg"), "x.y/z.svg")
        XCTAssertEqual(OutputPath.sibling(of: "dir/.hidden", extension: "csv"), "dir/.hidden.csv")
        XCTAssertEqual(OutputPath.sibling(of: "a.b.json", extension: "csv"), "a.b.csv")
        XCTAssertEqual(OutputPath.directory(of: "a"), ".")
        XCTAssertEqual(OutputPath.directory(of: "/a"), "/")
        XCTAssertEqual(OutputPath.directory(of: "x/y/z"), "x/y")
    }

    func testCheckRefusesAndCreatesNothing() throws {
        let before = try FileManager.default.contentsOfDirectory(atPath: directory)
        XCTAssertThrowsError(try OutputPath.check(directory + "/x/"))
        XCTAssertThrowsError(try OutputPath.check(directory))                                     // a directory
        XCTAssertThrowsError(try OutputPath.check(directory + "/" + String(repeating: "a", count: 256)))
        XCTAssertThrowsError(try OutputPath.check("-"))                                          // not the JSON
        XCTAssertNoThrow(try OutputPath.check("-", standardOutput: true))
        XCTAssertNoThrow(try OutputPath.check(directory + "/new/deeper/out.json"))              // parents proved, not made
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), before)
        let input = directory + "/in.npy"
        try Data([1]).write(to: URL(fileURLWithPath: input))
        XCTAssertThrowsError(try OutputPath.check(directory + "/./in.npy", inputs: [input]))   // same inode, other spelling
        XCTAssertNoThrow(try OutputPath.check(input))                                           // not an input of this run
        try Data([1]).write(to: URL(fileURLWithPath: directory + "/file"))
        XCTAssertThrowsError(try OutputPath.check(directory + "/file/out.json"))                // parent is a file
        XCTAssertThrowsError(try OutputPath.checkDirectory(directory + "/file"))
    }

    func testCheckedSizes() {
        XCTAssertEqual(try MemoryBudget.count("x", 3, 4, 5), 60)
        XCTAssertThrowsError(try MemoryBudget.count("x", 1 << 32, 1 << 32))
        XCTAssertThrowsError(try MemoryBudget.count("x", 2, -1))
        XCTAssertThrowsError(try MemoryBudget.sum("x", [Int.max, 1]))
        XCTAssertThrowsError(try MemoryBudget.require(Int.max, for: "everything"))
        XCTAssertThrowsError(try RunMemory.checkNetwork(depth: 1_000_000_000, width: 512, inputDimension: 512, outputs: 1,
                                                        localSamples: 512, precision: .float64))
        XCTAssertNoThrow(try RunMemory.checkNetwork(depth: 3, width: 64, inputDimension: 8, outputs: 1, localSamples: 16, precision: .float32))
        XCTAssertNotNil(ResourceUsage.availableBytes())
    }

    /// Ranks on one node split its memory: with 4 processes sharing it, each may take about a
    /// quarter of what one process alone may (MemAvailable moves a little between the reads:
    /// 10% slack), and a refusal says why.
    func testRanksOnOneNodeShareItsMemory() throws {
        let alone = try XCTUnwrap(ResourceUsage.availableBytes())
        ResourceUsage.processesSharingMemory = 4
        defer { ResourceUsage.processesSharingMemory = 1 }
        let shared = try XCTUnwrap(ResourceUsage.availableBytes())
        if ResourceUsage.availableSource().hasPrefix("address-space") { return }   // a ulimit -v is per process
        XCTAssertEqual(Double(shared), Double(alone) / 4, accuracy: 0.1 * Double(alone) / 4)
        XCTAssertTrue(ResourceUsage.availableSource().contains("shared by the 4 processes"), ResourceUsage.availableSource())
        XCTAssertThrowsError(try MemoryBudget.require(alone / 2, for: "half the node")) { error in
            XCTAssertTrue("\(error)".contains("shared by the 4 processes"), "\(error)")
        }
    }

    func testOnlyRegularFilesAreRead() throws {
        let fifo = directory + "/fifo"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        XCTAssertThrowsError(try InputFile.requireRegular(fifo)) { XCTAssertTrue("\($0)".contains("FIFO"), "\($0)") }
        XCTAssertThrowsError(try InputFile.requireRegular("/dev/zero")) { XCTAssertTrue("\($0)".contains("character device"), "\($0)") }
        XCTAssertThrowsError(try InputFile.requireRegular(directory)) { XCTAssertTrue("\($0)".contains("directory"), "\($0)") }
        let file = directory + "/f"
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: file))
        XCTAssertEqual(try InputFile.requireRegular(file), 3)
    }

    /// The JSON of `--output -` goes to stdout; a write to a non-regular destination is refused
    /// at write time too (defence in depth behind the pre-check).
    func testAtomicWriteNeverReplacesANonRegularFile() throws {
        let fifo = directory + "/fifo"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        XCTAssertThrowsError(try AtomicFile.write(Data("x".utf8), to: fifo))
        var info = stat()
        XCTAssertEqual(stat(fifo, &info), 0)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFIFO)
    }
}
