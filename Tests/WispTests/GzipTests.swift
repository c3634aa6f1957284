import Foundation
import XCTest
@testable import Wisp
import WispTestSupport

/// Gzip-compressed IDX (issue 13, item 3): the reader against uncompressed files and against
/// the real Fashion-MNIST files (Debian package `dataset-fashion-mnist`), multi-member
/// streams, and hostile streams (corrupt, truncated, trailing garbage, a header that lies
/// about the inflated size in either direction), each refused with one line naming the file.
///
/// The compressed test files come from two independent writers: ``storedGzip(_:)`` below (the
/// RFC 1951 "stored" blocks and the RFC 1952 wrapper with its CRC-32, written by hand, no
/// zlib) and the system's `gzip` (real deflate; for the highly compressed "bomb").
final class GzipTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-gzip-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    @discardableResult
    func write(_ data: Data, _ name: String) throws -> String {
        try data.write(to: URL(fileURLWithPath: path(name)))
        return path(name)
    }

    // MARK: - Independent writers

    /// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), bit by bit.
    static func crc32(_ bytes: Data) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = (crc >> 1) ^ (crc & 1 == 1 ? 0xEDB8_8320 : 0) }
        }
        return ~crc
    }

    /// One gzip member holding `payload` in deflate "stored" blocks (RFC 1951 §3.2.4: a
    /// header byte, LEN, ~LEN, the bytes), wrapped per RFC 1952 (10-byte header, CRC-32, ISIZE).
    static func storedGzip(_ payload: Data) -> Data {
        var out = Data([0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3])
        var offset = 0
        repeat {
            let n = min(65535, payload.count - offset)
            let final: UInt8 = offset + n == payload.count ? 1 : 0
            out.append(final)
            out.append(contentsOf: [UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)])
            out.append(payload.subdata(in: offset..<(offset + n)))
            offset += n
        } while offset < payload.count
        withUnsafeBytes(of: crc32(payload).littleEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(truncatingIfNeeded: payload.count).littleEndian) { out.append(contentsOf: $0) }
        return out
    }

    /// `payload` compressed by the system's `gzip -9 -n`.
    func systemGzip(_ payload: Data) throws -> Data {
        let input = try write(payload, "gzip-input-\(UUID().uuidString)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "gzip -9 -n -c \"$0\"", input]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try FileManager.default.removeItem(atPath: input)
        guard process.terminationStatus == 0, !data.isEmpty else { throw XCTSkip("the system's gzip is not available") }
        return data
    }

    /// An IDX file of T images h × w of unsigned bytes with a deterministic pattern.
    static func images(_ T: Int, _ h: Int, _ w: Int) -> (data: Data, values: [Double]) {
        let values = (0..<(T * h * w)).map { Double(($0 * 37 + $0 / 5) % 256) }
        return (IDX.encode(values: values, shape: [T, h, w], dtype: .uint8), values)
    }

    // MARK: - Reading

    /// A gzip file reads exactly like the uncompressed one, from either writer, through
    /// ``IDX/read(path:rows:)`` and ``ArrayFile`` (rows of a block too); the name does not matter.
    func testGzipIDXReadsLikeUncompressed() throws {
        let (raw, values) = Self.images(300, 7, 9)   // 18900 bytes: one stored block … and several with 65535
        let big = Self.images(2000, 6, 7)             // 84000 bytes: two stored blocks
        for (name, data, expected, shape) in [
            ("a.idx.gz", Self.storedGzip(raw), values, [300, 7, 9]),
            ("b.bin", try systemGzip(raw), values, [300, 7, 9]),
            ("c.gz", Self.storedGzip(big.data), big.values, [2000, 6, 7]),
        ] {
            let file = try write(data, name)
            let read = try IDX.read(path: file)
            XCTAssertEqual(read.header.shape, shape, name)
            XCTAssertEqual(read.values, expected, name)
            let opened = try ArrayFile(path: file)
            XCTAssertEqual(opened.format, .idx)
            XCTAssertEqual(opened.shape, shape)
            let rowLength = shape[1] * shape[2]
            XCTAssertEqual(try opened.read(rows: 17..<40), Array(expected[(17 * rowLength)..<(40 * rowLength)]), name)
        }
    }

    /// Multi-member gzip (legal, `cat a.gz b.gz`): the members' outputs concatenated, also
    /// when a member boundary falls inside the IDX header or is an empty member.
    func testMultiMemberGzipIsConcatenated() throws {
        let (raw, values) = Self.images(50, 4, 4)
        for cuts in [[3], [10, 11], [16, 400, 401, 799]] {
            var data = Data(), start = 0
            for cut in cuts + [raw.count] {
                data.append(Self.storedGzip(raw.subdata(in: start..<cut)))
                start = cut
            }
            let file = try write(data, "multi.gz")
            XCTAssertEqual(try IDX.read(path: file).values, values, "members cut at \(cuts)")
        }
        // The same with real deflate members.
        let file = try write(try systemGzip(raw.subdata(in: 0..<100)) + systemGzip(raw.subdata(in: 100..<raw.count)), "sys.gz")
        XCTAssertEqual(try IDX.read(path: file).values, values)
    }

    /// The real Fashion-MNIST files. Expected values from Python, independently of Wisp:
    ///
    ///     import gzip, numpy as np
    ///     x = np.frombuffer(gzip.open("train-images-idx3-ubyte.gz").read(), np.uint8, offset=16).reshape(-1, 28, 28)
    ///     x.shape, int(x[0].sum()), int(x[1].sum()), x[0][14].tolist()   # (60000, 28, 28), 76247, 84598, […]
    ///     l = np.frombuffer(gzip.open("train-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
    ///     l[:12].tolist(), np.bincount(l).tolist()   # [9, 0, 0, 3, 0, 2, 7, 2, 5, 5, 0, 9], [6000] * 10
    ///     t = np.frombuffer(gzip.open("t10k-labels-idx1-ubyte.gz").read(), np.uint8, offset=8); t[:12].tolist()
    func testFashionMNISTFiles() throws {
        let directory = "/usr/share/datasets/fashion-mnist"
        guard FileManager.default.fileExists(atPath: directory + "/train-images-idx3-ubyte.gz") else {
            throw XCTSkip("Fashion-MNIST is not installed (Debian package dataset-fashion-mnist; .ci/install-deps installs it)")
        }
        let images = try ArrayFile(path: directory + "/train-images-idx3-ubyte.gz")
        XCTAssertEqual(images.shape, [60000, 28, 28])
        let first = try images.read(rows: 0..<2)
        XCTAssertEqual(first[0..<784].reduce(0, +), 76247)
        XCTAssertEqual(first[784..<1568].reduce(0, +), 84598)
        XCTAssertEqual(Array(first[(14 * 28)..<(15 * 28)]),
                       [0, 0, 1, 4, 6, 7, 2, 0, 0, 0, 0, 0, 237, 226, 217, 223, 222, 219, 222, 221, 216, 223, 229, 215, 218, 255, 77, 0])
        let labels = try IDX.read(path: directory + "/train-labels-idx1-ubyte.gz")
        XCTAssertEqual(labels.header.shape, [60000])
        XCTAssertEqual(Array(labels.values.prefix(12)), [9, 0, 0, 3, 0, 2, 7, 2, 5, 5, 0, 9])
        var counts = [Int](repeating: 0, count: 10)
        for v in labels.values { counts[Int(v)] += 1 }
        XCTAssertEqual(counts, [Int](repeating: 6000, count: 10))
        let test = try IDX.read(path: directory + "/t10k-labels-idx1-ubyte.gz")
        XCTAssertEqual(Array(test.values.prefix(12)), [9, 2, 1, 1, 6, 1, 4, 6, 5, 7, 4, 5])
        XCTAssertEqual(try ArrayFile(path: directory + "/t10k-images-idx3-ubyte.gz").shape, [10000, 28, 28])
    }

    /// Gzip labels are class targets exactly as uncompressed ones are (one-hot, C = largest + 1):
    /// the CLI gives the same eigenvalues from the .gz files and from their inflated copies.
    func testGzipLabelsAreClassesLikeUncompressed() throws {
        let (raw, _) = Self.images(40, 5, 5)
        let labelValues = (0..<40).map { Double(($0 * 7) % 4) }
        let labels = IDX.encode(values: labelValues, shape: [40], dtype: .uint8)
        try write(raw, "x.idx"); try write(labels, "y.idx")
        try write(Self.storedGzip(raw), "x.gz"); try write(try systemGzip(labels), "y.gz")
        var eigenvalues = [[Double]]()
        for (x, y) in [("x.idx", "y.idx"), ("x.gz", "y.gz")] {
            let r = try WispExecutable.run(["top", "--inputs", x, "--labels", y, "--scale-pixels", "--width", "8", "--loss", "cross-entropy",
                                            "--k", "2", "--quiet", "--output", "\(x).json"], in: directory)
            XCTAssertEqual(r.status, 0, r.stderr)
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("\(x).json")))) as! [String: Any]
            XCTAssertEqual((json["configuration"] as? [String: Any])?["outputs"] as? Int, 4, "C = largest label + 1")
            eigenvalues.append(json["eigenvalues"] as! [Double])
        }
        XCTAssertEqual(eigenvalues[0], eigenvalues[1])
    }

    // MARK: - Hostile streams

    /// The directory's files and their bytes (to prove a refusal created or changed nothing).
    func snapshot() throws -> [String: Data] {
        var result = [String: Data]()
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
            result[name] = try Data(contentsOf: directory.appendingPathComponent(name))
        }
        return result
    }

    /// Runs wisp on `file` as --inputs and as --labels: one error line naming the file and
    /// `words`, an exit status in 1…127 (not a signal), and the directory as before.
    func refuse(_ file: String, mentioning words: [String], line: UInt = #line) throws {
        let before = try snapshot()
        defer { XCTAssertEqual(try? snapshot(), before, "the directory changed", line: line) }
        for flag in ["--inputs", "--labels"] {
            let arguments = ["theory", "--width", "8", "--quiet", "--output", "out.json"] + (flag == "--labels" ? ["--samples", "2"] : []) + [flag, file]
            let r = try WispExecutable.run(arguments, in: directory)
            XCTAssertTrue((1...127).contains(r.status), "exit status \(r.status): \(r.stderr)", line: line)
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "one error line expected, got: \(r.stderr)", line: line)
            XCTAssertTrue(r.stderr.hasPrefix("wisp: error: "), r.stderr, line: line)
            for word in [(file as NSString).lastPathComponent] + words {
                XCTAssertTrue(r.stderr.contains(word), "'\(word)' missing in: \(r.stderr)", line: line)
            }
        }
    }

    func testCorruptGzipIsRefused() throws {
        let (raw, _) = Self.images(20, 8, 8)
        var stored = Self.storedGzip(raw)
        stored[stored.count - 6] ^= 0xFF   // the CRC-32
        try refuse(try write(stored, "crc.gz"), mentioning: ["corrupt gzip data", "incorrect data check"])
        var length = Self.storedGzip(raw)
        length[length.count - 2] ^= 0x01   // ISIZE
        try refuse(try write(length, "isize.gz"), mentioning: ["corrupt gzip data"])
        var deflated = try systemGzip(raw)
        deflated[12] ^= 0xFF   // inside the deflate data
        try refuse(try write(deflated, "bits.gz"), mentioning: ["gzip"])
        var method = Self.storedGzip(raw)
        method[2] = 7   // compression method other than deflate
        try refuse(try write(method, "method.gz"), mentioning: ["corrupt gzip data"])
    }

    func testTruncatedGzipIsRefused() throws {
        let (raw, _) = Self.images(20, 8, 8)
        let whole = try systemGzip(raw)
        try refuse(try write(whole.prefix(whole.count - 4), "no-isize.gz"), mentioning: ["truncated"])
        try refuse(try write(whole.prefix(whole.count / 2), "half.gz"), mentioning: ["truncated"])
        try refuse(try write(whole.prefix(11), "header-only.gz"), mentioning: ["truncated"])
        try refuse(try write(Data([0x1F, 0x8B]), "magic-only.gz"), mentioning: ["truncated"])
        // Complete gzip, but the IDX inside is short of what its header declares.
        try refuse(try write(Self.storedGzip(raw.prefix(raw.count - 1)), "short.gz"), mentioning: ["truncated", "declares"])
        try refuse(try write(Self.storedGzip(Data()), "empty.gz"), mentioning: ["truncated"])
    }

    func testTrailingGarbageIsRefused() throws {
        let (raw, _) = Self.images(20, 8, 8)
        try refuse(try write(Self.storedGzip(raw) + Data("garbage".utf8), "garbage.gz"), mentioning: ["trailing garbage"])
        try refuse(try write(try systemGzip(raw) + Data([0]), "zero.gz"), mentioning: ["trailing garbage"])
        // Extra bytes inside the stream, after the IDX data: the header declares fewer.
        try refuse(try write(Self.storedGzip(raw + Data([1, 2, 3])), "extra.gz"), mentioning: ["more than the", "declares"])
    }

    /// A gzip bomb whose header lies: it declares 2 images of 28 × 28 (1584 bytes) but inflates
    /// to 256 MiB of zeros. Refused one byte past the declared length, so the process never
    /// holds more than the header allows: under `ulimit -v` far below 256 MiB of headroom.
    func testGzipBombIsRefusedWithoutInflatingIt() throws {
        var header = Data([0, 0, 0x08, 3])
        for dim: UInt32 in [2, 28, 28] { withUnsafeBytes(of: dim.bigEndian) { header.append(contentsOf: $0) } }
        let zeros = try systemGzip(Data(count: 1 << 28))
        let file = try write(Self.storedGzip(header) + zeros, "bomb.gz")
        XCTAssertLessThan(try Data(contentsOf: URL(fileURLWithPath: file)).count, 1 << 20)
        try refuse(file, mentioning: ["more than the 1584 bytes its header declares"])
        // A header declaring far more than memory (2²⁴ × 2¹⁶ bytes, a TiB) is refused before allocating.
        var huge = Data([0, 0, 0x08, 3])
        for dim: UInt32 in [0x00FF_FFFF, 0xFFFF, 1] { withUnsafeBytes(of: dim.bigEndian) { huge.append(contentsOf: $0) } }
        try refuse(try write(Self.storedGzip(huge + Data(count: 8192)), "huge.gz"), mentioning: ["memory"])
    }

    func testGzipThatIsNotIDXIsRefused() throws {
        try refuse(try write(Self.storedGzip(Data("1,2,3\n4,5,6\n".utf8)), "table.csv.gz"), mentioning: ["not an IDX file"])
        var badType = Self.images(2, 2, 2).data
        badType[2] = 0x07
        try refuse(try write(Self.storedGzip(badType), "type.gz"), mentioning: ["type code 0x07"])
    }
}
