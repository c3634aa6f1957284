import Foundation
import XCTest
@testable import Wisp

final class IOTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "wisp-io-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        chmod(directory, 0o755)
        try? FileManager.default.removeItem(atPath: directory)
    }

    // MARK: - Helpers

    /// Asserts that `body` throws a `WispError` of the given kind whose one-line message contains
    /// every one of `words`.
    private func assertFails<T>(
        _ kind: (String) -> WispError, _ words: [String],
        file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> T
    ) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            guard let wisp = error as? WispError else {
                return XCTFail("not a WispError: \(error)", file: file, line: line)
            }
            let message = wisp.description
            XCTAssertEqual(wisp, kind(message), "wrong kind: \(wisp)", file: file, line: line)
            XCTAssertFalse(message.contains("\n"), "multi-line message: \(message)", file: file, line: line)
            for word in words {
                XCTAssertTrue(message.contains(word), "\"\(message)\" lacks \"\(word)\"", file: file, line: line)
            }
        }
    }

    /// A .npy file with the given header dict text, padded like numpy, then `payload`.
    private func npy(_ dict: String, version: UInt8 = 1, payload: [UInt8] = []) -> Data {
        let lengthSize = version == 1 ? 2 : 4
        var header = Array(dict.utf8)
        let unpadded = 8 + lengthSize + header.count + 1
        header += [UInt8](repeating: 0x20, count: (64 - unpadded % 64) % 64) + [0x0A]
        var data = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, version, 0])
        if version == 1 {
            withUnsafeBytes(of: UInt16(header.count).littleEndian) { data.append(contentsOf: $0) }
        } else {
            withUnsafeBytes(of: UInt32(header.count).littleEndian) { data.append(contentsOf: $0) }
        }
        return data + header + payload
    }

    private func f64Bytes(_ values: [Double]) -> [UInt8] {
        values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
    }

    /// A safetensors file with the given header text (padded to 8 bytes) and buffer.
    private func safetensors(_ header: String, buffer: [UInt8] = []) -> Data {
        var h = Array(header.utf8)
        h += [UInt8](repeating: 0x20, count: (8 - h.count % 8) % 8)
        var data = Data()
        withUnsafeBytes(of: UInt64(h.count).littleEndian) { data.append(contentsOf: $0) }
        return data + h + buffer
    }

    private func entries(_ path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
    }

    // MARK: - NPY round trips and reference bytes

    func testNPYRoundTripFloat64() throws {
        let values = [0, -0.0, 1.5, -2.25e-300, .greatestFiniteMagnitude, .leastNonzeroMagnitude]
        let path = directory + "/a.npy"
        try NPY.write(values: values, shape: [2, 3], dtype: .float64, to: path)
        let array = try NPY.read(path: path)
        XCTAssertEqual(array, NPYArray(shape: [2, 3], dtype: .float64, values: values))
        XCTAssertEqual(array.values.map(\.bitPattern), values.map(\.bitPattern))
    }

    func testNPYRoundTripFloat32() throws {
        let values: [Double] = [0.5, -1.25, 3, 1024.0625, -65504, 1.0 / 1024]
        let data = NPY.encode(values: values, shape: [6], dtype: .float32)
        XCTAssertEqual(data.count, 128 + 6 * 4)
        XCTAssertEqual(try NPY.decode(data, name: "f32.npy"), NPYArray(shape: [6], dtype: .float32, values: values))
    }

    func testNPYFloat32NarrowsOnEncode() throws {
        let decoded = try NPY.decode(NPY.encode(values: [0.1], shape: [1], dtype: .float32), name: "x.npy")
        XCTAssertEqual(decoded.values, [Double(Float(0.1))])
    }

    /// `numpy.save(f, np.arange(6, dtype='<f8').reshape(2, 3))`, numpy 2.4.
    private let numpyArange6 = """
        k05VTVBZAQB2AHsnZGVzY3InOiAnPGY4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgIC\
        AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAAAAAAAAAAAAPA/AAAAAAAAAEAAAAAAAAAI\
        QAAAAAAAABBAAAAAAAAAFEA=
        """

    func testNPYDecodesNumpySave() throws {
        let data = try XCTUnwrap(Data(base64Encoded: numpyArange6))
        XCTAssertEqual(try NPY.decode(data, name: "arange.npy"),
                       NPYArray(shape: [2, 3], dtype: .float64, values: [0, 1, 2, 3, 4, 5]))
    }

    func testNPYEncodeMatchesNumpySaveByteForByte() throws {
        let expected = try XCTUnwrap(Data(base64Encoded: numpyArange6))
        XCTAssertEqual(NPY.encode(values: [0, 1, 2, 3, 4, 5], shape: [2, 3], dtype: .float64), expected)
    }

    func testNPYEncodeAlignsDataTo64Bytes() throws {
        for shape in [[], [0], [7], [0, 3], [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]] {
            let count = shape.reduce(1, *)
            let data = NPY.encode(values: [Double](repeating: 1, count: count), shape: shape, dtype: .float64)
            let bytes = [UInt8](data)
            XCTAssertEqual(bytes[6], 1)
            let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            XCTAssertEqual((10 + headerLength) % 64, 0, "shape \(shape)")
            XCTAssertEqual(bytes[10 + headerLength - 1], 0x0A, "shape \(shape)")
            XCTAssertEqual(data.count, 10 + headerLength + 8 * count)
            XCTAssertEqual(try NPY.decode(data, name: "s.npy").shape, shape)
        }
    }

    /// `numpy.lib.format.write_array(f, np.array([1.5, -2, 0.25], dtype='<f4'), version=(2, 0))`.
    func testNPYVersion2Header() throws {
        let data = try XCTUnwrap(Data(base64Encoded: """
            k05VTVBZAgB0AAAAeydkZXNjcic6ICc8ZjQnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMywpLCB9ICAgICAgICAgIC\
            AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAMA/AAAAwAAAgD4=
            """))
        XCTAssertEqual(try NPY.decode(data, name: "v2.npy"),
                       NPYArray(shape: [3], dtype: .float32, values: [1.5, -2, 0.25]))
    }

    /// `numpy.lib.format.write_array(f, np.array([[0.5, -1], [2, 1e300]]), version=(3, 0))`.
    func testNPYVersion3Header() throws {
        let data = try XCTUnwrap(Data(base64Encoded: """
            k05VTVBZAwB0AAAAeydkZXNjcic6ICc8ZjgnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMiwgMiksIH0gICAgICAgIC\
            AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAADgPwAAAAAAAPC/AAAAAAAAAECcdQCIPOQ3fg==
            """))
        XCTAssertEqual(try NPY.decode(data, name: "v3.npy"),
                       NPYArray(shape: [2, 2], dtype: .float64, values: [0.5, -1, 2, 1e300]))
    }

    func testNPYHeaderSpellings() throws {
        let two = f64Bytes([1, 2])
        let cases: [(String, [Int])] = [
            ("{'shape': (2,), 'fortran_order': False, 'descr': '<f8'}", [2]),
            ("{ \"descr\" : \"<f8\" , \"fortran_order\":False,'shape':( 2 , ) , }", [2]),
            ("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }", [1, 2]),
            ("{'descr': '<f8', 'fortran_order': False, 'shape': (2L,), }", [2]),
            ("{'descr':'<f8','fortran_order':False,'shape':(2,1,1)}", [2, 1, 1]),
        ]
        for (dict, shape) in cases {
            let array = try NPY.decode(npy(dict, payload: two), name: "h.npy")
            XCTAssertEqual(array, NPYArray(shape: shape, dtype: .float64, values: [1, 2]), dict)
        }
        let scalar = try NPY.decode(npy("{'descr': '<f8', 'fortran_order': False, 'shape': ()}",
                                        payload: f64Bytes([7])), name: "s.npy")
        XCTAssertEqual(scalar, NPYArray(shape: [], dtype: .float64, values: [7]))
    }

    func testNPYZeroSizeDimensions() throws {
        let array = try NPY.decode(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }"), name: "e.npy")
        XCTAssertEqual(array, NPYArray(shape: [0, 3], dtype: .float32, values: []))
        let empty = try NPY.decode(NPY.encode(values: [], shape: [4, 0], dtype: .float64), name: "e.npy")
        XCTAssertEqual(empty.shape, [4, 0])
        XCTAssertEqual(empty.values, [])
    }

    func testNPYKeepsNonFiniteValues() throws {
        let data = NPY.encode(values: [.nan, .infinity, -.infinity], shape: [3], dtype: .float32)
        let values = try NPY.decode(data, name: "nan.npy").values
        XCTAssertTrue(values[0].isNaN)
        XCTAssertEqual(Array(values[1...]), [.infinity, -.infinity])
    }

    func testNPYDecodesSlicedData() throws {
        let data = Data([0xFF, 0xFF]) + NPY.encode(values: [3, 4], shape: [2], dtype: .float64)
        XCTAssertEqual(try NPY.decode(data.dropFirst(2), name: "slice.npy").values, [3, 4])
    }

    // MARK: - NPY rejections

    private func assertNPYRejects(_ dict: String, payload: [UInt8] = [], _ words: [String],
                                  file: StaticString = #filePath, line: UInt = #line) {
        assertFails(WispError.badInput, ["bad.npy"] + words, file: file, line: line) {
            try NPY.decode(npy(dict, payload: payload), name: "bad.npy")
        }
    }

    func testNPYRejectsUnsupportedDTypes() {
        let cases: [(String, [String])] = [
            (">f8", ["'>f8'", "big-endian"]),
            (">f4", ["'>f4'", "big-endian"]),
            (">i8", ["'>i8'", "big-endian integers"]),
            ("=i4", ["'=i4'", "native byte order"]),
            ("<i16", ["'<i16'", "integers of an unsupported size"]),
            ("|b2", ["'|b2'", "booleans of an unsupported size"]),
            ("|O", ["'|O'", "objects"]),
            ("<c16", ["'<c16'", "complex"]),
            ("<f2", ["'<f2'", "unsupported size"]),
            ("=f8", ["'=f8'", "native byte order"]),
            ("|f8", ["'|f8'", "no byte order"]),
            ("<U3", ["'<U3'", "strings"]),
            ("float64", ["'float64'", "unsupported dtype"]),
        ]
        for (descr, words) in cases {
            assertNPYRejects("{'descr': '\(descr)', 'fortran_order': False, 'shape': (1,), }",
                             payload: f64Bytes([1]), words + ["'<f8', '<f4'", "'<i8'"])
        }
        assertNPYRejects("{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (1,), }", ["structured"])
        assertNPYRejects("{'descr': 8, 'fortran_order': False, 'shape': (1,), }", ["'descr'", "not a dtype string"])
    }

    func testNPYRejectsFortranOrder() {
        assertNPYRejects("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }",
                         payload: f64Bytes([1, 2, 3, 4]), ["fortran_order", "True"])
        assertNPYRejects("{'descr': '<f8', 'fortran_order': 0, 'shape': (1,), }", ["fortran_order", "not True or False"])
    }

    func testNPYRejectsBadShapes() {
        assertNPYRejects("{'descr': '<f8', 'fortran_order': False, 'shape': (5), }", ["shape", "not a tuple", "(5,)"])
        assertNPYRejects("{'descr': '<f8', 'fortran_order': False, 'shape': (2, -3), }", ["negative", "-3"])
        assertNPYRejects("{'descr': '<f8', 'fortran_order': False, 'shape': '2', }", ["shape", "not a tuple"])
        assertNPYRejects("{'descr': '<f8', 'fortran_order': False, 'shape': [2], }", ["not a valid dict literal"])
        assertNPYRejects("{'descr': '<f8', 'fortran_order': False, 'shape': (1.5,), }", ["not a valid dict literal"])
        assertNPYRejects("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999,), }",
                         ["too large"])
        assertNPYRejects("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
                         ["too many elements"])
    }

    func testNPYRejectsBadHeaderDicts() {
        assertNPYRejects("{'descr': '<f8', 'fortran_order': False}", ["missing", "'shape'"])
        assertNPYRejects("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'extra': 1}",
                         ["unexpected key", "'extra'"])
        assertNPYRejects("{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (1,)}",
                         ["'descr'", "more than once"])
        assertNPYRejects("['descr', '<f8']", ["not a valid dict literal", "'{'"])
        assertNPYRejects("{'descr': '<f8' 'fortran_order': False, 'shape': (1,)}", ["not a valid dict literal"])
        assertNPYRejects("{'descr': '<f8', 'fortran_order': False, 'shape': (1,)} junk", ["only whitespace"])
        assertNPYRejects("{'descr: '<f8', 'fortran_order': False, 'shape': (1,)}", ["unexpected key 'descr: '"])
        assertNPYRejects("{'descr': '<f8, 'fortran_order': False, 'shape': (1,)}", ["not a valid dict literal"])
        assertNPYRejects("{'descr': '<f8', 'fortran_order': Falsey, 'shape': (1,)}", ["not a valid dict literal"])
        assertNPYRejects("{'descr': '<f8', 'fortran_order': False, 'shape': (1,", ["not a valid dict literal"])
        assertNPYRejects("", ["not a valid dict literal"])
    }

    func testNPYRejectsInvalidUTF8InVersion3Header() throws {
        var data = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'é': 1}", version: 3,
                       payload: f64Bytes([1]))
        let e = try XCTUnwrap(data.firstRange(of: Data("é".utf8)))
        data.replaceSubrange(e, with: [0xC3, 0x28])
        assertFails(WispError.badInput, ["UTF-8"]) { try NPY.decode(data, name: "v3.npy") }
    }

    func testNPYRejectsBadPrefix() {
        let good = NPY.encode(values: [1, 2], shape: [2], dtype: .float64)
        assertFails(WispError.badInput, ["x.npy", "not a .npy file"]) { try NPY.decode(Data(), name: "x.npy") }
        assertFails(WispError.badInput, ["not a .npy file"]) { try NPY.decode(Data("PK\u{3}\u{4}abcdefgh".utf8), name: "x.npy") }
        assertFails(WispError.badInput, ["truncated", "header length"]) { try NPY.decode(good.prefix(9), name: "x.npy") }
        var version = good
        version[6] = 4
        assertFails(WispError.badInput, ["version 4.0"]) { try NPY.decode(version, name: "x.npy") }
        var length = good
        length[8] = 0xFF
        length[9] = 0xFF
        assertFails(WispError.badInput, ["header length 65535 exceeds file size \(good.count)"]) {
            try NPY.decode(length, name: "x.npy")
        }
        var wide = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 2, 0, 0xFF, 0xFF, 0xFF, 0xFF])
        wide.append(contentsOf: [UInt8](repeating: 0x20, count: 20))
        assertFails(WispError.badInput, ["header length 4294967295 exceeds file size 32"]) {
            try NPY.decode(wide, name: "x.npy")
        }
    }

    func testNPYRejectsTruncatedAndExtraData() {
        let good = NPY.encode(values: [0, 1, 2, 3, 4, 5], shape: [2, 3], dtype: .float64)
        assertFails(WispError.badInput, ["t.npy", "truncated: expected 48 bytes of data, found 40"]) {
            try NPY.decode(good.dropLast(8), name: "t.npy")
        }
        assertFails(WispError.badInput, ["truncated: expected 48 bytes of data, found 0"]) {
            try NPY.decode(good.prefix(128), name: "t.npy")
        }
        assertFails(WispError.badInput, ["t.npy", "extra bytes", "expected 48 bytes of data", "found 51"]) {
            try NPY.decode(good + [1, 2, 3], name: "t.npy")
        }
    }

    func testNPYReadReportsMissingFile() {
        let path = directory + "/missing.npy"
        assertFails(WispError.badInput, [path, "cannot read", "No such file"]) { try NPY.read(path: path) }
        assertFails(WispError.badInput, [directory, "cannot read", "directory"]) { try NPY.read(path: directory) }
    }

    func testNPYWriteRejectsMismatchedShape() {
        let path = directory + "/m.npy"
        assertFails(WispError.output, ["cannot write", path, "(2, 3)", "5 values"]) {
            try NPY.write(values: [1, 2, 3, 4, 5], shape: [2, 3], dtype: .float64, to: path)
        }
        XCTAssertEqual(entries(directory), [])
    }

    func testNPYNeverCrashesOnCorruption() {
        let good = [UInt8](NPY.encode(values: [1, 2, 3], shape: [3], dtype: .float32))
        for index in 0 ..< good.count {
            for value: UInt8 in [0x00, 0x20, 0x27, 0x28, 0x29, 0x2C, 0x7B, 0x7D, 0xFF] {
                var bytes = good
                bytes[index] = value
                _ = try? NPY.decode(Data(bytes), name: "fuzz.npy")
            }
            _ = try? NPY.decode(Data(good.prefix(index)), name: "fuzz.npy")
        }
    }

    // MARK: - safetensors round trips and reference bytes

    func testSafeTensorsRoundTrip() throws {
        let file = SafeTensorsFile(
            tensors: [
                "layer10.weight": SafeTensor(dtype: .f64, shape: [2, 3], values: [1, -2, 3.5, 1e-300, 0, 6]),
                "layer2.bias": SafeTensor(dtype: .f32, shape: [3], values: [0.5, -0.25, 8]),
                "scale": SafeTensor(dtype: .f64, shape: [], values: [2.5]),
                "empty": SafeTensor(dtype: .f32, shape: [0, 4], values: []),
            ],
            metadata: ["format": "wisp", "quote\"and\\slash\n": "ünïcode \u{1}"])
        let path = directory + "/model.safetensors"
        try file.write(to: path)
        XCTAssertEqual(try SafeTensorsFile.read(path: path), file)
        XCTAssertEqual(entries(directory), ["model.safetensors"])
    }

    /// Test vectors of the reference serializer (huggingface/safetensors, `safetensors/src/tensor.rs`,
    /// `test_serialization` and `test_empty`).
    func testSafeTensorsEncodeMatchesReferenceSerializer() throws {
        let attn = SafeTensorsFile(tensors: ["attn.0": SafeTensor(dtype: .f32, shape: [1, 2, 3], values: [0, 1, 2, 3, 4, 5])])
        let expected: [UInt8] = [
            64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100,
            116, 121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34,
            58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102, 115,
            101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63,
            0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
        ]
        XCTAssertEqual([UInt8](attn.encoded()), expected)
        XCTAssertEqual(try SafeTensorsFile.decode(Data(expected), name: "attn.safetensors"), attn)

        XCTAssertEqual([UInt8](SafeTensorsFile(tensors: [:]).encoded()),
                       [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32])
        XCTAssertEqual([UInt8](SafeTensorsFile(tensors: [:], metadata: ["framework": "pt"]).encoded()), [
            40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95,
            95, 34, 58, 123, 34, 102, 114, 97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112,
            116, 34, 125, 125, 32, 32, 32, 32, 32,
        ])
    }

    func testSafeTensorsEncodeLayout() throws {
        let file = SafeTensorsFile(tensors: [
            "b": SafeTensor(dtype: .f32, shape: [1], values: [1]),
            "a": SafeTensor(dtype: .f32, shape: [1], values: [2]),
            "z": SafeTensor(dtype: .f64, shape: [1], values: [3]),
        ])
        let data = [UInt8](file.encoded())
        let n = Int(data[0]) | Int(data[1]) << 8
        XCTAssertEqual(n % 8, 0)
        let header = String(decoding: data[8 ..< 8 + n], as: UTF8.self)
        XCTAssertEqual(header.trimmingCharacters(in: .whitespaces), """
            {"z":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},\
            "a":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},\
            "b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}}
            """)
        XCTAssertEqual(data.count, 8 + n + 16)
    }

    /// Written by hand in Python per the README: `struct.pack('<Q', len(h)) + h + buffer` with
    /// `h = json.dumps(header)` (spaces after separators, keys in arbitrary order, metadata in the
    /// middle), a `<f8` (2, 2) tensor then a `<f4` (3,) tensor.
    func testSafeTensorsDecodesPythonBuiltFile() throws {
        let data = try XCTUnwrap(Data(base64Encoded: """
            0AAAAAAAAAB7ImxheWVyLjAud2VpZ2h0IjogeyJkdHlwZSI6ICJGNjQiLCAic2hhcGUiOiBbMiwgMl0sICJkYXRhX29mZnNldHMiOiBbMC\
            wgMzJdfSwgIl9fbWV0YWRhdGFfXyI6IHsiZm9ybWF0IjogInB0IiwgIm5vdGUiOiAiaGFuZC1idWlsdCJ9LCAibGF5ZXIuMC5iaWFzIjog\
            eyJkdHlwZSI6ICJGMzIiLCAic2hhcGUiOiBbM10sICJkYXRhX29mZnNldHMiOiBbMzIsIDQ0XX19AAAAAAAA8D8AAAAAAAAAQAAAAAAAAA\
            hAAAAAAAAAEsAAAIA+AAAAvwAAAEE=
            """))
        let path = directory + "/hand.safetensors"
        try data.write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(try SafeTensorsFile.read(path: path), SafeTensorsFile(
            tensors: [
                "layer.0.weight": SafeTensor(dtype: .f64, shape: [2, 2], values: [1, 2, 3, -4.5]),
                "layer.0.bias": SafeTensor(dtype: .f32, shape: [3], values: [0.25, -0.5, 8]),
            ],
            metadata: ["format": "pt", "note": "hand-built"]))
    }

    func testSafeTensorsAcceptsOutOfOrderOffsetsAndNullMetadata() throws {
        let header = #"{"__metadata__":null,"b":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"#
            + #""a":{"dtype":"F64","shape":[1],"data_offsets":[8,16]},"z":{"dtype":"F32","shape":[0],"data_offsets":[16,16]}}"#
        let file = try SafeTensorsFile.decode(safetensors(header, buffer: f64Bytes([1, 2])), name: "o.safetensors")
        XCTAssertEqual(file.tensors["b"]?.values, [1])
        XCTAssertEqual(file.tensors["a"]?.values, [2])
        XCTAssertEqual(file.tensors["z"]?.values, [])
        XCTAssertEqual(file.metadata, [:])
    }

    // MARK: - safetensors rejections

    private func assertSafeTensorsRejects(_ header: String, buffer: [UInt8] = [], _ words: [String],
                                          file: StaticString = #filePath, line: UInt = #line) {
        assertFails(WispError.badInput, ["m.safetensors"] + words, file: file, line: line) {
            try SafeTensorsFile.decode(safetensors(header, buffer: buffer), name: "m.safetensors")
        }
    }

    func testSafeTensorsRejectsBadLengthPrefix() {
        assertFails(WispError.badInput, ["m.safetensors", "5 bytes", "shorter than the 8-byte"]) {
            try SafeTensorsFile.decode(Data([1, 2, 3, 4, 5]), name: "m.safetensors")
        }
        var overflow = Data(repeating: 0xFF, count: 8)
        overflow.append(contentsOf: Array("{}".utf8))
        assertFails(WispError.badInput, ["header length 18446744073709551615 exceeds file size 10"]) {
            try SafeTensorsFile.decode(overflow, name: "m.safetensors")
        }
        var long = Data([0x3F, 0x42, 0x0F, 0, 0, 0, 0, 0])
        long.append(contentsOf: Array("{}".utf8))
        assertFails(WispError.badInput, ["header length 999999 exceeds file size 10"]) {
            try SafeTensorsFile.decode(long, name: "m.safetensors")
        }
        var huge = Data(count: 8 + 100_000_008)
        huge[0] = 0x08
        huge[1] = 0xE1
        huge[2] = 0xF5
        huge[3] = 0x05  // 100_000_008
        assertFails(WispError.badInput, ["header length 100000008", "limit of 100000000 bytes"]) {
            try SafeTensorsFile.decode(huge, name: "m.safetensors")
        }
    }

    func testSafeTensorsRejectsCorruptHeaders() {
        assertSafeTensorsRejects("", ["not a JSON object"])
        assertSafeTensorsRejects("[1, 2]", ["not a JSON object"])
        assertSafeTensorsRejects(#"{"a": "#, ["not valid JSON"])
        assertSafeTensorsRejects(#"{"a": 1} trailing"#, ["not valid JSON"])
        assertSafeTensorsRejects(#"{"a": {"dtype": "F64", "shape": [1] "data_offsets": [0, 8]}}"#, ["not valid JSON"])
        assertSafeTensorsRejects(#"{'a': 1}"#, ["not valid JSON"])
        assertSafeTensorsRejects("{\"a\":" + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}",
                                 ["not valid JSON"])
        var invalid = safetensors(#"{"x": 1}"#)
        invalid[10] = 0xFF
        assertFails(WispError.badInput, ["UTF-8"]) { try SafeTensorsFile.decode(invalid, name: "m.safetensors") }
    }

    func testSafeTensorsRejectsMalformedEntries() {
        let eight = f64Bytes([1])
        assertSafeTensorsRejects(#"{"w": 3}"#, ["tensor w", "not a JSON object"])
        assertSafeTensorsRejects(#"{"w": {"shape": [1], "data_offsets": [0, 8]}}"#, buffer: eight, ["tensor w", "no \"dtype\""])
        assertSafeTensorsRejects(#"{"w": {"dtype": "F64", "data_offsets": [0, 8]}}"#, buffer: eight, ["tensor w", "no \"shape\""])
        assertSafeTensorsRejects(#"{"w": {"dtype": "F64", "shape": [1]}}"#, buffer: eight, ["tensor w", "no \"data_offsets\""])
        assertSafeTensorsRejects(#"{"w": {"dtype": 64, "shape": [1], "data_offsets": [0, 8]}}"#, buffer: eight,
                                 ["\"dtype\" is not a string"])
        for shape in [#""1""#, "[1.5]", "[true]", "[\"1\"]", "{}", "[18446744073709551615]"] {
            assertSafeTensorsRejects(#"{"w": {"dtype": "F64", "shape": \#(shape), "data_offsets": [0, 8]}}"#, buffer: eight,
                                     ["tensor w", "\"shape\" is not an array of integers"])
        }
        for offsets in ["[0]", "[0, 8, 16]", "[0, 8.0]", "[false, 8]", "\"0-8\"", "[0, 1e1]"] {
            assertSafeTensorsRejects(#"{"w": {"dtype": "F64", "shape": [1], "data_offsets": \#(offsets)}}"#, buffer: eight,
                                     ["tensor w", "\"data_offsets\" is not an array of two integers"])
        }
        assertSafeTensorsRejects(#"{"__metadata__": {"k": 1}}"#, ["__metadata__", "\"k\" is not a string"])
        assertSafeTensorsRejects(#"{"__metadata__": ["k"]}"#, ["__metadata__", "not a JSON object"])
    }

    func testSafeTensorsRejectsUnsupportedDType() {
        assertSafeTensorsRejects(#"{"0.weight": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}"#,
                                 buffer: [0, 0, 0, 0], ["tensor 0.weight has dtype BF16; Wisp reads F64 and F32"])
        assertSafeTensorsRejects(#"{"t": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}}"#,
                                 buffer: f64Bytes([0]), ["tensor t has dtype I64"])
    }

    func testSafeTensorsRejectsBadOffsets() {
        let buffer = f64Bytes([1, 2])
        assertSafeTensorsRejects(#"{"w": {"dtype": "F64", "shape": [2, -1], "data_offsets": [0, 16]}}"#, buffer: buffer,
                                 ["tensor w", "negative dimension -1"])
        assertSafeTensorsRejects(#"{"w": {"dtype": "F64", "shape": [3], "data_offsets": [0, 16]}}"#, buffer: buffer,
                                 ["tensor w", "[0, 16]", "span 16 bytes", "F64 shape [3] needs 24"])
        assertSafeTensorsRejects(#"{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 16]}}"#, buffer: buffer,
                                 ["span 16 bytes", "needs 8"])
        assertSafeTensorsRejects(#"{"w": {"dtype": "F64", "shape": [2], "data_offsets": [8, 24]}}"#, buffer: buffer,
                                 ["tensor w", "[8, 24]", "past the end of the 16-byte data buffer"])
        assertSafeTensorsRejects(#"{"w": {"dtype": "F64", "shape": [2], "data_offsets": [16, 0]}}"#, buffer: buffer,
                                 ["tensor w", "[16, 0]", "not form a valid range"])
        assertSafeTensorsRejects(#"{"w": {"dtype": "F64", "shape": [2], "data_offsets": [-8, 8]}}"#, buffer: buffer,
                                 ["tensor w", "not form a valid range"])
        assertSafeTensorsRejects(#"{"w": {"dtype": "F64", "shape": [9223372036854775807, 2], "data_offsets": [0, 16]}}"#,
                                 buffer: buffer, ["tensor w", "too many elements"])
        assertSafeTensorsRejects(#"{"w": {"dtype": "F64", "shape": [2], "data_offsets": [9223372036854775807, 9223372036854775807]}}"#,
                                 buffer: buffer, ["tensor w"])
    }

    func testSafeTensorsRejectsOverlap() {
        let header = #"{"a": {"dtype": "F64", "shape": [2], "data_offsets": [0, 16]}, "#
            + #""b": {"dtype": "F64", "shape": [2], "data_offsets": [8, 24]}}"#
        assertSafeTensorsRejects(header, buffer: f64Bytes([1, 2, 3]), ["tensors a and b overlap", "ends at byte 16", "begins at byte 8"])
        let same = #"{"a": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}, "#
            + #""b": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}}"#
        assertSafeTensorsRejects(same, buffer: f64Bytes([1]), ["overlap"])
        let inside = #"{"a": {"dtype": "F64", "shape": [2], "data_offsets": [0, 16]}, "#
            + #""e": {"dtype": "F64", "shape": [0], "data_offsets": [8, 8]}}"#
        assertSafeTensorsRejects(inside, buffer: f64Bytes([1, 2]), ["tensors a and e overlap"])
    }

    func testSafeTensorsRejectsGaps() {
        let middle = #"{"a": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}, "#
            + #""b": {"dtype": "F64", "shape": [1], "data_offsets": [16, 24]}}"#
        assertSafeTensorsRejects(middle, buffer: f64Bytes([1, 2, 3]), ["gap", "bytes 8..<16", "before tensor b"])
        let leading = #"{"b": {"dtype": "F64", "shape": [1], "data_offsets": [8, 16]}}"#
        assertSafeTensorsRejects(leading, buffer: f64Bytes([1, 2]), ["gap", "bytes 0..<8"])
        let trailing = #"{"a": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}}"#
        assertSafeTensorsRejects(trailing, buffer: f64Bytes([1]) + [0, 0, 0], ["gap", "bytes 8..<11", "after the last tensor"])
        assertSafeTensorsRejects("{}", buffer: [0], ["gap", "bytes 0..<1", "lists none"])
    }

    func testSafeTensorsNeverCrashesOnCorruption() {
        let good = [UInt8](SafeTensorsFile(tensors: [
            "a": SafeTensor(dtype: .f64, shape: [2], values: [1, 2]),
            "b": SafeTensor(dtype: .f32, shape: [1, 1], values: [3]),
        ], metadata: ["k": "v"]).encoded())
        for index in 0 ..< good.count {
            for value: UInt8 in [0x00, 0x22, 0x2C, 0x2D, 0x30, 0x39, 0x5B, 0x7B, 0x7D, 0xFF] {
                var bytes = good
                bytes[index] = value
                _ = try? SafeTensorsFile.decode(Data(bytes), name: "fuzz.safetensors")
            }
            _ = try? SafeTensorsFile.decode(Data(good.prefix(index)), name: "fuzz.safetensors")
        }
    }

    func testSafeTensorsWriteRejectsInconsistentTensors() {
        let path = directory + "/bad.safetensors"
        assertFails(WispError.output, ["cannot write", path, "tensor w", "[2, 2]", "3 values"]) {
            try SafeTensorsFile(tensors: ["w": SafeTensor(dtype: .f64, shape: [2, 2], values: [1, 2, 3])]).write(to: path)
        }
        assertFails(WispError.output, ["__metadata__"]) {
            try SafeTensorsFile(tensors: ["__metadata__": SafeTensor(dtype: .f64, shape: [], values: [1])]).write(to: path)
        }
        XCTAssertEqual(entries(directory), [])
    }

    func testMessagesEscapeControlCharactersFromFiles() {
        assertSafeTensorsRejects(#"{"a\nb\u0007": {"dtype": "F8\tE4M3", "shape": [1], "data_offsets": [0, 1]}}"#,
                                 buffer: [0], [#"tensor a\nb\u{7} has dtype F8\tE4M3"#])
        assertNPYRejects("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'x\ny': 1}", [#"'x\ny'"#])
        let long = String(repeating: "w", count: 5000)
        assertSafeTensorsRejects(#"{"\#(long)": {"dtype": "BF16", "shape": [1], "data_offsets": [0, 2]}}"#,
                                 buffer: [0, 0], ["tensor www", "w… has dtype BF16"])
    }

    // MARK: - numericAwareLess

    func testNumericAwareOrdering() {
        let expected = ["0", "0.bias", "1", "1.x", "2", "10", "10.weight", "a01", "a1", "a2", "a10", "b",
                        "layer2", "layer2.w", "layer10", "layer10.b", "layer100"]
        for _ in 0 ..< 20 {
            XCTAssertEqual(expected.shuffled().sorted(by: numericAwareLess), expected)
        }
        XCTAssertTrue(numericAwareLess("2", "10"))
        XCTAssertFalse(numericAwareLess("10", "2"))
        XCTAssertTrue(numericAwareLess("layer2", "layer10"))
        XCTAssertTrue(numericAwareLess("0", "1.x"))
        XCTAssertTrue(numericAwareLess("1.x", "10"))
        XCTAssertTrue(numericAwareLess("w99999999999999999999999", "w100000000000000000000000"))
        XCTAssertFalse(numericAwareLess("same", "same"))
        XCTAssertTrue(numericAwareLess("", "0"))
        XCTAssertTrue(numericAwareLess("a01", "a1"))
        XCTAssertFalse(numericAwareLess("a1", "a01"))
    }

    // MARK: - AtomicFile

    func testAtomicWriteCreatesAndReplaces() throws {
        let path = directory + "/out.bin"
        try AtomicFile.write(Data("first".utf8), to: path)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), Data("first".utf8))
        try AtomicFile.write(Data("second, longer".utf8), to: path)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), Data("second, longer".utf8))
        try AtomicFile.write(Data(), to: path)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), Data())
        XCTAssertEqual(entries(directory), ["out.bin"])
    }

    func testAtomicWriteToMissingDirectoryFails() {
        let path = directory + "/missing/out.bin"
        assertFails(WispError.output, ["cannot write \(path)", "No such file or directory"]) {
            try AtomicFile.write(Data("x".utf8), to: path)
        }
        XCTAssertEqual(entries(directory), [])
    }

    func testAtomicWriteOverDirectoryLeavesNoTemporaryFile() throws {
        let path = directory + "/taken"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        assertFails(WispError.output, ["cannot write \(path)"]) { try AtomicFile.write(Data("x".utf8), to: path) }
        XCTAssertEqual(entries(directory), ["taken"])
        XCTAssertEqual(entries(path), [])
    }

    func testAtomicWriteToUnwritableDirectoryLeavesDestinationUntouched() throws {
        guard geteuid() != 0 else { throw XCTSkip("root ignores directory permissions") }
        let path = directory + "/keep.bin"
        try Data("original".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(chmod(directory, 0o555), 0)
        assertFails(WispError.output, ["cannot write \(path)", "Permission denied"]) {
            try AtomicFile.write(Data("replacement".utf8), to: path)
        }
        XCTAssertEqual(chmod(directory, 0o755), 0)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), Data("original".utf8))
        XCTAssertEqual(entries(directory), ["keep.bin"])
    }

    func testAtomicWriteRejectsDirectoryPath() {
        assertFails(WispError.output, ["cannot write \(directory)/", "directory"]) {
            try AtomicFile.write(Data(), to: directory + "/")
        }
    }

    func testAtomicWriteLongFileName() throws {
        let name = String(repeating: "é", count: 120) + ".npy"
        try AtomicFile.write(Data("long".utf8), to: directory + "/" + name)
        XCTAssertEqual(try AtomicFile.read(path: directory + "/" + name), Data("long".utf8))
        XCTAssertEqual(entries(directory), [name])
    }

    func testAtomicWriteRelativePath() throws {
        let saved = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(directory))
        defer { _ = FileManager.default.changeCurrentDirectoryPath(saved) }
        try AtomicFile.write(Data("r".utf8), to: "rel.bin")
        XCTAssertEqual(try AtomicFile.read(path: "rel.bin"), Data("r".utf8))
        XCTAssertEqual(entries(directory), ["rel.bin"])
    }

    func testCreateDirectoryForFile() throws {
        let path = directory + "/a/b/c/out.npy"
        try AtomicFile.createDirectory(forFile: path)
        try AtomicFile.createDirectory(forFile: path)
        var isDirectory: ObjCBool = false
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory + "/a/b/c", isDirectory: &isDirectory))
        XCTAssertTrue(isDirectory.boolValue)
        try NPY.write(values: [1], shape: [1], dtype: .float64, to: path)
        XCTAssertEqual(try NPY.read(path: path).values, [1])

        try Data().write(to: URL(fileURLWithPath: directory + "/plain"))
        assertFails(WispError.output, ["cannot create directory \(directory)/plain/sub", "not a directory"]) {
            try AtomicFile.createDirectory(forFile: directory + "/plain/sub/out.npy")
        }
        try AtomicFile.createDirectory(forFile: "bare-name.npy")
    }

    func testAtomicReadRoundTripsLargeFile() throws {
        let path = directory + "/big.npy"
        let values = (0 ..< 300_000).map { Double($0) * 0.5 }
        try NPY.write(values: values, shape: [600, 500], dtype: .float64, to: path)
        let array = try NPY.read(path: path)
        XCTAssertEqual(array.shape, [600, 500])
        XCTAssertEqual(array.values, values)
    }
}
