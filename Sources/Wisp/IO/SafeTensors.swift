import Foundation

/// The element types Wisp reads and writes in safetensors files: little-endian IEEE 754 binary64
/// and binary32, named as in the safetensors header.
public enum SafeTensorDType: String, Sendable {
    case f64 = "F64"
    case f32 = "F32"

    /// Bytes per element.
    var itemSize: Int {
        switch self {
        case .f64: return 8
        case .f32: return 4
        }
    }
}

/// One tensor of a safetensors file. `values` are in C (row-major) order, widened to `Double`
/// whatever `dtype` the file stores; `values.count` is the product of `shape` (1 for `[]`).
public struct SafeTensor: Equatable, Sendable {
    public var dtype: SafeTensorDType
    public var shape: [Int]
    public var values: [Double]

    public init(dtype: SafeTensorDType, shape: [Int], values: [Double]) {
        self.dtype = dtype
        self.shape = shape
        self.values = values
    }
}

/// A safetensors file (huggingface/safetensors README, "Format"; validation as in the reference
/// Rust crate, `safetensors/src/tensor.rs`):
///
///     N          8 bytes, u64 little-endian: the header length
///     header     N bytes of UTF-8 JSON, an object:
///                  "__metadata__" (optional): {string: string}
///                  tensor name: {"dtype": "F64", "shape": [2, 3], "data_offsets": [begin, end]}
///     buffer     the rest of the file
///
/// `data_offsets` are byte offsets into the buffer, `end` exclusive; data is little-endian and in
/// C order. The reference implementation requires, and Wisp enforces: N ≤ 100,000,000; the
/// header starts with `{`; `end - begin` equals product(shape) × itemsize; sorted by offset, the
/// tensors tile the buffer exactly, with no overlap, no gap and nothing after the last tensor.
/// Wisp reads only the dtypes F64 and F32. NaN and infinity are returned as stored.
///
/// The header is parsed with `JSONSerialization`, a little more lenient than the reference's
/// serde_json (it accepts a trailing comma, and a repeated key keeps one of its values); every
/// field the format defines is still checked. Unknown fields inside a tensor entry are ignored,
/// as in the reference.
public struct SafeTensorsFile: Equatable, Sendable {
    public var tensors: [String: SafeTensor]
    public var metadata: [String: String]

    public init(tensors: [String: SafeTensor], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    /// Reads and decodes the safetensors file at `path`.
    public static func read(path: String) throws -> SafeTensorsFile {
        try decode(AtomicFile.read(path: path), name: path)
    }

    /// Decodes the bytes of a safetensors file. `name` prefixes every error message.
    public static func decode(_ data: Data, name: String) throws -> SafeTensorsFile {
        func fail(_ problem: String) -> WispError { .badInput("\(printable(name)): \(problem)") }

        return try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws -> SafeTensorsFile in
            guard raw.count >= 8 else {
                throw fail("file is \(raw.count) bytes, shorter than the 8-byte safetensors header length")
            }
            let declared = UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self))
            guard declared <= UInt64(raw.count - 8) else {
                throw fail("header length \(declared) exceeds file size \(raw.count)")
            }
            guard declared <= UInt64(maxHeaderLength) else {
                throw fail("header length \(declared) exceeds the safetensors limit of \(maxHeaderLength) bytes")
            }
            let bufferStart = 8 + Int(declared)
            let bufferLength = raw.count - bufferStart
            let headerBytes = UnsafeRawBufferPointer(rebasing: raw[8 ..< bufferStart])

            guard headerBytes.first == UInt8(ascii: "{") else {
                throw fail("header is not a JSON object (it does not start with '{')")
            }
            guard String(validating: headerBytes, as: UTF8.self) != nil else {
                throw fail("header is not valid UTF-8")
            }
            let json: Any
            do {
                json = try JSONSerialization.jsonObject(with: Data(headerBytes))
            } catch {
                let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String
                throw fail("header is not valid JSON" + (detail.map { ": " + printable(oneLine($0)) } ?? ""))
            }
            guard let object = json as? [String: Any] else {
                throw fail("header is not a JSON object")
            }

            var metadata: [String: String] = [:]
            var entries: [Entry] = []
            for key in object.keys.sorted(by: numericAwareLess) {
                guard let value = object[key] else { continue }
                if key == metadataKey {
                    metadata = try parseMetadata(value, fail: fail)
                } else {
                    entries.append(try Entry(name: key, json: value, bufferLength: bufferLength, fail: fail))
                }
            }

            var cursor = 0
            var previous: String?
            for entry in entries.sorted(by: { ($0.begin, $0.end) < ($1.begin, $1.end) }) {
                if entry.begin < cursor {
                    let previous = previous ?? ""
                    throw fail("tensors \(printable(previous)) and \(printable(entry.name)) overlap: \(printable(previous)) ends at byte \(cursor) "
                        + "of the data buffer, \(printable(entry.name)) begins at byte \(entry.begin)")
                }
                if entry.begin > cursor {
                    throw fail("gap in the data buffer: bytes \(cursor)..<\(entry.begin) belong to no tensor "
                        + "(before tensor \(printable(entry.name)))")
                }
                cursor = entry.end
                previous = entry.name
            }
            guard cursor == bufferLength || !entries.isEmpty else {
                throw fail("gap in the data buffer: bytes 0..<\(bufferLength) belong to no tensor "
                    + "(the header lists none)")
            }
            guard cursor == bufferLength else {
                throw fail("gap in the data buffer: bytes \(cursor)..<\(bufferLength) after the last tensor "
                    + "belong to no tensor")
            }

            var tensors: [String: SafeTensor] = [:]
            for entry in entries {
                let values = LittleEndianFloats.decode(
                    raw, from: bufferStart + entry.begin, count: entry.count, float32: entry.dtype == .f32)
                tensors[entry.name] = SafeTensor(dtype: entry.dtype, shape: entry.shape, values: values)
            }
            return SafeTensorsFile(tensors: tensors, metadata: metadata)
        }
    }

    /// Encodes the file as the reference serializer does, byte for byte: tensors ordered by
    /// descending dtype size (so every tensor starts aligned to its own size), then by name
    /// (byte-wise); compact JSON with `__metadata__` first (omitted if empty, its keys sorted),
    /// each entry as `{"dtype":…,"shape":[…],"data_offsets":[begin,end]}`; the header padded with
    /// spaces to a multiple of 8 bytes; the tensors' data back to back.
    ///
    /// - Precondition: no tensor is named `__metadata__`; every dimension is non-negative and
    ///   every tensor's `values.count` is the product of its shape.
    public func encoded() -> Data {
        if let problem = encodingProblem() { preconditionFailure("SafeTensorsFile.encoded(): \(problem)") }

        let order = tensors.keys.sorted { a, b in
            let (sa, sb) = (tensors[a]?.dtype.itemSize ?? 0, tensors[b]?.dtype.itemSize ?? 0)
            return sa != sb ? sa > sb : a.utf8.lexicographicallyPrecedes(b.utf8)
        }
        var fields: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
                .map { jsonString($0) + ":" + jsonString(metadata[$0] ?? "") }
            fields.append(jsonString(Self.metadataKey) + ":{" + pairs.joined(separator: ",") + "}")
        }
        var offset = 0
        for name in order {
            guard let tensor = tensors[name] else { continue }
            let end = offset + tensor.values.count * tensor.dtype.itemSize
            fields.append(jsonString(name) + ":{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":["
                + tensor.shape.map(String.init).joined(separator: ",")
                + "],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var header = Array(("{" + fields.joined(separator: ",") + "}").utf8)
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8))

        var data = Data(capacity: 8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: header)
        for name in order {
            guard let tensor = tensors[name] else { continue }
            LittleEndianFloats.append(tensor.values, float32: tensor.dtype == .f32, to: &data)
        }
        return data
    }

    /// Encodes the file and writes it to `path` atomically (see ``AtomicFile``).
    public func write(to path: String) throws {
        if let problem = encodingProblem() { throw WispError.output("cannot write \(printable(path)): \(problem)") }
        try AtomicFile.write(encoded(), to: path)
    }

    // MARK: - Helpers

    /// The reference implementation's limit on N, against headers that would exhaust memory.
    private static let maxHeaderLength = 100_000_000

    private static let metadataKey = "__metadata__"

    /// Why this value cannot be encoded, or nil if it can.
    private func encodingProblem() -> String? {
        if tensors[Self.metadataKey] != nil { return "a tensor may not be named \(Self.metadataKey)" }
        for name in tensors.keys.sorted(by: numericAwareLess) {
            guard let tensor = tensors[name] else { continue }
            var count = 1
            for dimension in tensor.shape {
                guard dimension >= 0 else {
                    return "tensor \(printable(name)) has a negative dimension in shape \(tensor.shape)"
                }
                let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
                guard !overflow else { return "tensor \(printable(name)) has too many elements" }
                count = product
            }
            guard count == tensor.values.count else {
                return "tensor \(printable(name)) has shape \(tensor.shape) but \(tensor.values.count) values"
            }
        }
        return nil
    }

    /// The validated header entry of one tensor.
    private struct Entry {
        var name: String
        var dtype: SafeTensorDType
        var shape: [Int]
        var count: Int
        var begin: Int
        var end: Int

        init(name: String, json: Any, bufferLength: Int, fail: (String) -> WispError) throws {
            let shown = printable(name)
            guard let object = json as? [String: Any] else {
                throw fail("tensor \(shown): header entry is not a JSON object")
            }
            guard let dtypeValue = object["dtype"] else { throw fail("tensor \(shown) has no \"dtype\"") }
            guard let dtypeName = dtypeValue as? String else {
                throw fail("tensor \(shown): \"dtype\" is not a string")
            }
            guard let shapeValue = object["shape"] else { throw fail("tensor \(shown) has no \"shape\"") }
            guard let shapeArray = shapeValue as? [Any] else {
                throw fail("tensor \(shown): \"shape\" is not an array of integers")
            }
            var shape: [Int] = []
            for element in shapeArray {
                guard let dimension = jsonInteger(element) else {
                    throw fail("tensor \(shown): \"shape\" is not an array of integers")
                }
                shape.append(dimension)
            }
            guard let offsetsValue = object["data_offsets"] else {
                throw fail("tensor \(shown) has no \"data_offsets\"")
            }
            guard let offsetsArray = offsetsValue as? [Any], offsetsArray.count == 2,
                  let begin = jsonInteger(offsetsArray[0]), let end = jsonInteger(offsetsArray[1])
            else {
                throw fail("tensor \(shown): \"data_offsets\" is not an array of two integers [begin, end]")
            }

            guard let dtype = SafeTensorDType(rawValue: dtypeName) else {
                throw fail("tensor \(shown) has dtype \(printable(dtypeName)); Wisp reads F64 and F32")
            }
            if let negative = shape.first(where: { $0 < 0 }) {
                throw fail("tensor \(shown) has a negative dimension \(negative) in shape \(shape)")
            }
            // The product of the non-zero dimensions must fit too: a [0, 2⁶², 2⁶²] tensor holds
            // no values but its rows (or the layer sizes read from it) would overflow.
            var count = 1, nonZero = 1
            for dimension in shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
                let (product2, overflow2) = nonZero.multipliedReportingOverflow(by: max(dimension, 1))
                guard !overflow, !overflow2 else { throw fail("tensor \(shown): shape \(shape) has too many elements") }
                count = product
                nonZero = product2
            }
            let (byteCount, overflow) = count.multipliedReportingOverflow(by: dtype.itemSize)
            guard !overflow else { throw fail("tensor \(shown): shape \(shape) has too many elements") }
            guard begin >= 0, end >= begin else {
                throw fail("tensor \(shown): data_offsets [\(begin), \(end)] do not form a valid range")
            }
            guard end - begin == byteCount else {
                throw fail("tensor \(shown): data_offsets [\(begin), \(end)] span \(end - begin) bytes "
                    + "but \(dtype.rawValue) shape \(shape) needs \(byteCount)")
            }
            guard end <= bufferLength else {
                throw fail("tensor \(shown): data_offsets [\(begin), \(end)] extend past the end of "
                    + "the \(bufferLength)-byte data buffer")
            }
            self.name = name
            self.dtype = dtype
            self.shape = shape
            self.count = count
            self.begin = begin
            self.end = end
        }
    }

    /// `__metadata__`: a JSON object whose values are all strings, or null.
    private static func parseMetadata(_ json: Any, fail: (String) -> WispError) throws -> [String: String] {
        if json is NSNull { return [:] }
        guard let object = json as? [String: Any] else {
            throw fail("\"\(metadataKey)\" is not a JSON object of strings")
        }
        var metadata: [String: String] = [:]
        for (key, value) in object {
            guard let string = value as? String else {
                throw fail("\"\(metadataKey)\" entry \"\(printable(key))\" is not a string")
            }
            metadata[key] = string
        }
        return metadata
    }
}

/// An integer JSON number as `JSONSerialization` returns it. Booleans (type encoding `c`) and
/// numbers written with a fraction or exponent (`d`), which a `usize` in the reference
/// implementation rejects, are not integers.
private func jsonInteger(_ value: Any) -> Int? {
    guard let number = value as? NSNumber,
          ["s", "i", "l", "q", "S", "I", "L", "Q"].contains(String(cString: number.objCType))
    else { return nil }
    return number as? Int
}

/// A JSON string literal escaped as serde_json writes it: `"` and `\` backslashed, control
/// characters as `\b \t \n \f \r` or `\u00XX`, everything else verbatim UTF-8.
private func jsonString(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\u{08}": out += "\\b"
        case "\t": out += "\\t"
        case "\n": out += "\\n"
        case "\u{0C}": out += "\\f"
        case "\r": out += "\\r"
        case "\u{00}" ... "\u{1F}":
            let hex = String(scalar.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

/// Collapses a message onto one line.
private func oneLine(_ s: String) -> String {
    s.split(whereSeparator: \.isNewline).joined(separator: " ")
}

/// Numeric-aware ordering of names, for listing tensors as a person would: `"2" < "10"`,
/// `"layer2" < "layer10"`, `"0" < "1.x" < "10"`.
///
/// Each name is split into maximal runs of ASCII digits, compared by numeric value (any length,
/// without overflow), and single other characters, compared by Unicode scalar value; a digit run
/// sorts against a character as its first digit would. Names whose runs are all equal, such as
/// `"a01"` and `"a1"`, fall back to scalar-by-scalar order, so this is a strict total order.
public func numericAwareLess(_ a: String, _ b: String) -> Bool {
    let x = Array(a.unicodeScalars), y = Array(b.unicodeScalars)
    func isDigit(_ s: Unicode.Scalar) -> Bool { ("0" ... "9").contains(s) }
    func digitRun(_ s: [Unicode.Scalar], from start: Int) -> (significant: ArraySlice<Unicode.Scalar>, end: Int) {
        var end = start
        while end < s.count, isDigit(s[end]) { end += 1 }
        var first = start
        while first < end - 1, s[first] == "0" { first += 1 }
        return (s[first ..< end], end)
    }

    var i = 0, j = 0
    while i < x.count, j < y.count {
        if isDigit(x[i]), isDigit(y[j]) {
            let (m, iEnd) = digitRun(x, from: i)
            let (n, jEnd) = digitRun(y, from: j)
            if m.count != n.count { return m.count < n.count }
            if m != n { return m.lexicographicallyPrecedes(n) }
            i = iEnd
            j = jEnd
        } else {
            if x[i] != y[j] { return x[i] < y[j] }
            i += 1
            j += 1
        }
    }
    if i < x.count || j < y.count { return j < y.count }
    return x.lexicographicallyPrecedes(y)
}
