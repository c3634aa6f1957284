import Foundation
import XCTest
import WispTestSupport

/// Issue 12, "never crash": hostile paths, files, sizes, streams and launches. Every refusal
/// must be exactly one line `wisp: error: …` on stderr, an exit status in 1…127 (not a signal),
/// and no file replaced, created or half-written (no temporary left behind). Each case crashed
/// (SIGILL, SIGABRT, SIGPIPE), hung, or replaced a file before the fix.
final class HostileTests: XCTestCase {
    var directory: URL!
    let small = ["--width", "8", "--samples", "6", "--quiet"]

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-hostile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    typealias Outcome = WispExecutable.Outcome

    func wisp(_ arguments: [String]) throws -> Outcome { try WispExecutable.run(arguments, in: directory) }

    /// `script` in bash in the test directory, `$WISP` the executable (``WispExecutable/shell(_:in:)``).
    func shell(_ script: String) throws -> Outcome { try WispExecutable.shell(script, in: directory) }

    /// The directory's entries (to prove nothing was created, replaced or left behind).
    func snapshot() throws -> [String: Data?] {
        var result: [String: Data?] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: path(name), isDirectory: &isDirectory)
            result[name] = isDirectory.boolValue ? nil : (try? Data(contentsOf: URL(fileURLWithPath: path(name))))
        }
        return result
    }

    /// One error line mentioning every word, exit 1…127, the directory exactly as before.
    func assertRefused(_ outcome: Outcome, mentioning words: [String], before: [String: Data?],
                       file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertTrue((1...127).contains(outcome.status), "exit status \(outcome.status); stderr: \(outcome.stderr)", file: file, line: line)
        let lines = outcome.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "one error line expected, got: \(outcome.stderr)", file: file, line: line)
        XCTAssertTrue(outcome.stderr.hasPrefix("wisp: error: "), outcome.stderr, file: file, line: line)
        for word in words { XCTAssertTrue(outcome.stderr.contains(word), "'\(word)' missing in: \(outcome.stderr)", file: file, line: line) }
        XCTAssertEqual(try snapshot(), before, "the directory changed", file: file, line: line)
    }

    func refuse(_ arguments: [String], mentioning words: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let before = try snapshot()
        try assertRefused(try wisp(arguments), mentioning: words, before: before, file: file, line: line)
    }

    func refuseShell(_ script: String, mentioning words: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let before = try snapshot()
        try assertRefused(try shell(script), mentioning: words, before: before, file: file, line: line)
    }

    /// A small .npy file of float64 (T × d).
    func writeNPY(_ name: String, rows: Int, columns: Int) throws {
        var header = "{'descr': '<f8', 'fortran_order': False, 'shape': (\(rows), \(columns)), }"
        header += String(repeating: " ", count: 118 - header.utf8.count) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count), 0])
        data.append(Data(header.utf8))
        for i in 0..<(rows * columns) { withUnsafeBytes(of: (Double(i % 7) * 0.25 - 0.5).bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        try data.write(to: URL(fileURLWithPath: path(name)))
    }

    // MARK: - Output paths

    /// One-character names crashed in Foundation's path code (SIGILL); they are ordinary files.
    func testOneCharacterOutputAndModelNames() throws {
        let r = try wisp(["theory"] + small + ["--output", "a", "--save-model", "b"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("a")))) as? [String: Any])
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("b")))
    }

    /// `--output -`: the JSON alone on stdout (parseable), the summary on stderr.
    func testOutputDashWritesJSONToStdout() throws {
        for command in [["theory"], ["top"], ["density", "--probes", "2", "--steps", "4"]] {
            let r = try wisp(command + small + ["--output", "-"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
            XCTAssertEqual(json?["command"] as? String, command[0])
            XCTAssertTrue(r.stderr.contains("Wisp "), r.stderr)
            XCTAssertEqual(try snapshot().count, 0, "nothing written beside -")
        }
    }

    func testOutputEndingInSlashIsRefused() throws {
        try refuse(["theory"] + small + ["--output", "x/"], mentioning: ["x/", "ends in /"])
        try FileManager.default.createDirectory(atPath: path("outdir"), withIntermediateDirectories: false)
        try refuse(["theory"] + small + ["--output", "outdir/"], mentioning: ["outdir/"])
        try refuse(["theory"] + small + ["--output", "outdir"], mentioning: ["directory"])
    }

    func testOverlongNamesAreRefusedBeforeComputing() throws {
        try refuse(["theory"] + small + ["--output", String(repeating: "n", count: 256)], mentioning: ["NAME_MAX"])
        try refuse(["theory"] + small + ["--output", String(repeating: "d/", count: 2100) + "x.json"], mentioning: ["PATH_MAX"])
        // The JSON's name fits, its .csv sibling does not.
        try refuse(["density"] + small + ["--output", String(repeating: "s", count: 253) + ".j"], mentioning: ["NAME_MAX"])
        try refuse(["theory"] + small + ["--save-model", String(repeating: "m", count: 300) + ".safetensors"], mentioning: ["NAME_MAX"])
    }

    /// Flags that contradict each other are refused before the network is built: a width whose
    /// θ cannot fit would otherwise give a memory error (or an allocation) instead.
    func testContradictoryFlagsAreRefusedBeforeTheNetwork() throws {
        let huge = ["--width", "1000000", "--depth", "8", "--samples", "4"]
        try refuse(["moments", "--probes", "1"] + huge, mentioning: ["--probes", "at least 2"])
        try refuse(["density", "--compare-exact"] + huge, mentioning: ["--compare-exact", "--method slq"])
        try refuse(["density", "--method", "slq", "--moments", "64"] + huge, mentioning: ["--moments", "--method kpm"])
    }

    func testFIFOAsOutputIsRefused() throws {
        XCTAssertEqual(mkfifo(path("pipe"), 0o600), 0)
        try refuse(["theory"] + small + ["--output", "pipe"], mentioning: ["FIFO", "not a regular file"])
    }

    /// As root, `--output /dev/null` would have replaced the device node: a node of our own.
    func testDeviceNodeAsOutputIsRefused() throws {
        guard getuid() == 0 else { throw XCTSkip("mknod needs root") }
        XCTAssertEqual(mknod(path("null"), S_IFCHR | 0o666, dev_t(1 << 8 | 3)), 0)
        try refuse(["theory"] + small + ["--output", "null"], mentioning: ["character device"])
        var info = stat()
        XCTAssertEqual(stat(path("null"), &info), 0)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFCHR)
    }

    func testOutputThatIsAnInputIsRefused() throws {
        try writeNPY("x.npy", rows: 6, columns: 3)
        try refuse(["theory", "--width", "8", "--inputs", "x.npy", "--output", "x.npy"], mentioning: ["same file as the input"])
        XCTAssertEqual(link(path("x.npy"), path("hard.json")), 0)
        try refuse(["theory", "--width", "8", "--inputs", "x.npy", "--output", "hard.json"], mentioning: ["same file as the input"])
        XCTAssertEqual(symlink("x.npy", path("soft.json")), 0)
        try refuse(["theory", "--width", "8", "--inputs", "./x.npy", "--output", "soft.json"], mentioning: ["same file as the input"])
    }

    func testSaveModelOverItsOwnModelIsRefused() throws {
        XCTAssertEqual(try wisp(["theory"] + small + ["--save-model", "m.safetensors"]).status, 0)
        try refuse(["theory", "--samples", "6", "--model", "m.safetensors", "--save-model", "m.safetensors"], mentioning: ["same file as the input"])
    }

    func testDashIsOnlyForTheJSON() throws {
        try refuse(["theory"] + small + ["--save-model", "-"], mentioning: ["standard output"])
    }

    func testCheckpointAndOutputDirectoriesThatAreFiles() throws {
        try Data("x".utf8).write(to: URL(fileURLWithPath: path("plain")))
        try refuse(["top"] + small + ["--checkpoint", "plain"], mentioning: ["plain"])
        try refuse(["train"] + small + ["--steps", "2", "--output-dir", "plain/sub"], mentioning: ["plain"])
        // train.json fits in PATH_MAX, the models/step-N.safetensors written later do not:
        // before, the run trained and then failed (leaving directories behind).
        let deep = (0..<20).map { _ in String(repeating: "d", count: 200) }.joined(separator: "/")
        try refuse(["train"] + small + ["--steps", "2", "--output-dir", deep], mentioning: ["PATH_MAX"])
    }

    // MARK: - Standard streams

    /// stdout on a full device: the JSON is still written, one error line, exit 1.
    func testSummaryToFullDeviceKeepsTheFile() throws {
        guard FileManager.default.fileExists(atPath: "/dev/full") else { throw XCTSkip("no /dev/full") }
        let r = try shell("\"$WISP\" theory --width 8 --samples 6 --output r.json > /dev/full")
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("summary"), r.stderr)
        XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("r.json")))))
    }

    func testClosedStdoutAndStderrKeepTheFile() throws {
        let r = try shell("\"$WISP\" top --width 8 --samples 6 --output r.json >&- ; echo \"status $?\" >&2")
        XCTAssertTrue(r.stderr.contains("status 1"), r.stderr)
        XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("r.json")))))
        let both = try shell("(\"$WISP\" top --width 8 --samples 6 --output s.json >&- 2>&-); echo \"status $?\"")
        XCTAssertTrue(both.stdout.contains("status 1"), both.stdout)
        XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("s.json")))))
    }

    /// A pipe whose reader has left (`| head -1` once head is done; here `| true`): no death by
    /// SIGPIPE (status 141) before the JSON is written; the lost summary is exit 1.
    func testClosedPipeKeepsTheFile() throws {
        let r = try shell("\"$WISP\" top --width 8 --samples 6 --k 3 --output r.json | true; echo \"status ${PIPESTATUS[0]}\"")
        XCTAssertTrue(r.stdout.contains("status 1"), r.stdout + r.stderr)
        XCTAssertTrue(r.stderr.contains("Broken pipe"), r.stderr)
        XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("r.json")))))
    }

    // MARK: - Input files that are not regular files

    func testFIFOAsInputIsRefusedWithoutBlocking() throws {
        XCTAssertEqual(mkfifo(path("in.fifo"), 0o600), 0)
        try refuseShell("timeout 60 \"$WISP\" theory --width 8 --inputs in.fifo", mentioning: ["FIFO", "regular files"])
        try refuseShell("timeout 60 \"$WISP\" theory --width 8 --samples 6 --labels in.fifo", mentioning: ["FIFO"])
        try refuseShell("timeout 60 \"$WISP\" theory --samples 6 --model in.fifo", mentioning: ["FIFO"])
    }

    func testEndlessDevicesAsInputsAreRefused() throws {
        try refuseShell("timeout 60 \"$WISP\" theory --width 8 --inputs /dev/zero", mentioning: ["character device"])
        try refuseShell("timeout 60 \"$WISP\" theory --samples 6 --model /dev/urandom", mentioning: ["character device"])
        try writeNPY("x.npy", rows: 6, columns: 3)
        try refuseShell("timeout 60 \"$WISP\" theory --width 8 --inputs x.npy --targets /dev/zero", mentioning: ["/dev/zero", "character device"])
    }

    // MARK: - Headers whose sizes overflow

    func testZeroRowNPYWithHugeRowsIsRefused() throws {
        var header = "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 4294967296, 4294967296), }"
        header += String(repeating: " ", count: 118 - header.utf8.count) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count), 0])
        data.append(Data(header.utf8))
        try data.write(to: URL(fileURLWithPath: path("z.npy")))
        try refuse(["theory", "--width", "8", "--inputs", "z.npy"], mentioning: ["z.npy", "too many elements"])
        try refuse(["theory", "--width", "8", "--samples", "2", "--targets", "z.npy"], mentioning: ["too many elements"])
    }

    func testZeroRowIDXWithHugeRowsIsRefused() throws {
        var data = Data([0, 0, 0x08, 3])
        for dim: UInt32 in [0, 0xFFFF_FFFF, 0xFFFF_FFFF] { withUnsafeBytes(of: dim.bigEndian) { data.append(contentsOf: $0) } }
        try data.write(to: URL(fileURLWithPath: path("z.idx")))
        try refuse(["theory", "--width", "8", "--inputs", "z.idx"], mentioning: ["z.idx", "too many elements"])
        try refuse(["theory", "--width", "8", "--samples", "2", "--labels", "z.idx"], mentioning: ["too many elements"])
    }

    func testSafetensorsWithHugeEmptyShapeIsRefused() throws {
        let header = #"{"0.weight":{"dtype":"F64","shape":[0,4611686018427387904,4],"data_offsets":[0,0]}}"#
        let padded = header + String(repeating: " ", count: (8 - header.utf8.count % 8) % 8)
        var data = Data()
        withUnsafeBytes(of: UInt64(padded.utf8.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(Data(padded.utf8))
        try data.write(to: URL(fileURLWithPath: path("huge.safetensors")))
        try refuse(["theory", "--samples", "4", "--model", "huge.safetensors"], mentioning: ["too many elements"])
    }

    // MARK: - Sizes that cannot fit (under an 8 GB address-space limit, so on any machine)

    func refuseUnderLimit(_ arguments: String, mentioning words: [String] = ["needs", "available"],
                          file: StaticString = #filePath, line: UInt = #line) throws {
        try refuseShell("ulimit -v 8000000; timeout 120 \"$WISP\" \(arguments)", mentioning: words, file: file, line: line)
    }

    func testHugeWidthDepthAndSamplesAreRefused() throws {
        try refuseUnderLimit("theory --width 60000")
        try refuseUnderLimit("theory --samples 1000000000000")
        try refuseUnderLimit("theory --depth 1000000000")
        try refuseUnderLimit("theory --width 4000000000000000000 --depth 3 --samples 2 --input-dim 2", mentioning: ["overflow"])
    }

    func testHugeSolverSettingsAreRefused() throws {
        try refuseUnderLimit("density --width 8 --samples 6 --method slq --grid-points 10000000000")
        try refuseUnderLimit("density --width 8 --samples 6 --method exact --grid-points 10000000000")
        try refuseUnderLimit("density --width 8 --samples 6 --method slq --probes 1000000000000")
        try refuseUnderLimit("density --width 8 --samples 6 --method kpm --moments 100000000000")
        try refuseUnderLimit("top --width 8 --samples 6 --k 4000000000000000000", mentioning: ["--k"])
        try refuseUnderLimit("density --width 8 --samples 6 --method kpm --deflate 4000000000000000000", mentioning: ["--deflate"])
    }

    func testHugeLabelIsRefused() throws {
        try Data("label\n999999999\n0\n1\n2\n3\n4\n5\n6\n".utf8).write(to: URL(fileURLWithPath: path("labels.csv")))
        try refuseUnderLimit("theory --width 8 --labels labels.csv", mentioning: ["one-hot", "needs"])
    }

    /// `ulimit -v 200000` made every run spin forever (OpenBLAS retries its buffer mmap).
    func testTinyAddressSpaceIsOneErrorNotAHang() throws {
        try refuseShell("ulimit -v 200000; timeout 60 \"$WISP\" theory --width 8 --samples 6", mentioning: ["ulimit -v"])
    }

    // MARK: - Ranks that disagree (MPMD launches)

    /// `cluster/mpmd-mismatch.sh`: processes started with other settings or data of other shapes
    /// stop with one message naming the difference, and rank 0 writes nothing.
    func testMismatchedRanksAreRefused() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/mpirun") else { throw XCTSkip("no mpirun") }
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let r = try shell("bash \"\(repository.path)/cluster/mpmd-mismatch.sh\" \"$WISP\"")
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("mpmd mismatch: all refused"), r.stdout + r.stderr)
    }
}
