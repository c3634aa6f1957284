import Foundation

/// The element types Wisp reads and writes in `.npy` files, named by their numpy `descr`:
/// little-endian IEEE 754 binary64 and binary32; little-endian signed and unsigned integers of
/// 1, 2, 4 and 8 bytes (numpy's default integer, int64, is what `np.save(labels)` writes); and
/// numpy's bool (one byte, 0 or 1). Integers are read as the `Double` of the same value, which
/// must be exact (|n| ≤ 2⁵³ always is; a larger n only if it is a multiple of the spacing).
public enum NPYDType: String, Sendable, CaseIterable {
    case float64 = "<f8"
    case float32 = "<f4"
    case int8 = "|i1"
    case int16 = "<i2"
    case int32 = "<i4"
    case int64 = "<i8"
    case uint8 = "|u1"
    case uint16 = "<u2"
    case uint32 = "<u4"
    case uint64 = "<u8"
    case bool = "|b1"

    /// Bytes per element.
    var itemSize: Int {
        switch self {
        case .float64, .int64, .uint64: return 8
        case .float32, .int32, .uint32: return 4
        case .int16, .uint16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }

    /// Whether the elements are integers (or booleans).
    public var isInteger: Bool { self != .float64 && self != .float32 }

    /// The dtype of a `descr`: its spelling, or for a one-byte type any byte-order character
    /// (`|i1`, `<i1`, `=u1`: the order of one byte does not matter).
    init?(descr: String) {
        if let exact = NPYDType(rawValue: descr) { self = exact; return }
        guard descr.count == 3, let order = descr.first, "<>=|".contains(order),
              let oneByte = NPYDType(rawValue: "|" + descr.dropFirst()) else { return nil }
        self = oneByte
    }
}

/// An array read from or written to a `.npy` file. `values` are in C (row-major) order,
/// widened to `Double` whatever `dtype` the file stores; `values.count` is the product of
/// `shape` (1 for the 0-d shape `()`).
public struct NPYArray: Equatable, Sendable {
    public var shape: [Int]
    public var dtype: NPYDType
    public var values: [Double]

    public init(shape: [Int], dtype: NPYDType, values: [Double]) {
        self.shape = shape
        self.dtype = dtype
        self.values = values
    }
}

/// The NumPy `.npy` format, versions 1.0, 2.0 and 3.0 (NEP 1, "A simple file format for NumPy
/// arrays", and the `numpy.lib.format` documentation):
///
///     magic      6 bytes   "\x93NUMPY"
///     version    2 bytes   major, minor: 1.0, 2.0 or 3.0
///     HEADER_LEN u16 LE (1.0) or u32 LE (2.0, 3.0)
///     header     HEADER_LEN bytes: a Python dict literal, ASCII/latin-1 (1.0, 2.0) or UTF-8 (3.0),
///                padded with spaces and ended by "\n" so the data starts at a multiple of 64
///     data       product(shape) × itemsize bytes, nothing after
///
/// The dict has exactly the keys `'descr'` (dtype string), `'fortran_order'` (`True`/`False`)
/// and `'shape'` (a tuple of non-negative ints; a 1-tuple is written `(5,)`), in any order.
///
/// Wisp accepts the ``NPYDType``s in C order: `'<f8'`, `'<f4'`, little-endian integers and
/// bool. `'=f8'` (native order of whichever machine
/// wrote the file) and `'|f8'` (byte order "not applicable", which numpy uses only for 1-byte
/// types) are rejected: numpy itself always writes `'<'` or `'>'` for floats, so either spelling
/// means a non-numpy writer whose byte order the file does not record; the same holds for
/// integers wider than one byte. Like numpy, reading
/// accepts any whitespace padding and does not require the 64-byte alignment. NaN and infinity
/// are returned as stored; checking finiteness is the caller's job.
public enum NPY {
    /// Reads and decodes the `.npy` file at `path`.
    public static func read(path: String) throws -> NPYArray {
        try decode(AtomicFile.read(path: path), name: path)
    }

    /// Reads only the rows `rows` of the first dimension (all of them when nil) of the `.npy`
    /// file at `path`, validating the whole file's header and size. The file is memory-mapped,
    /// so a process that holds a block of samples pages in only that block.
    /// Returns the file's full shape with the selected rows' values.
    public static func read(path: String, rows: Range<Int>?) throws -> (shape: [Int], values: [Double]) {
        let data: Data
        do {
            try InputFile.requireRegular(path)
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            _ = try AtomicFile.read(path: path)   // throws the descriptive read error
            throw WispError.badInput("\(printable(path)): cannot read")
        }
        let array = try decode(data, name: path, rows: rows)
        return (array.shape, array.values)
    }

    /// Decodes the bytes of a `.npy` file. `name` prefixes every error message. With `rows`,
    /// only those rows of the first dimension are converted (the header and the total size
    /// are still checked); the returned shape is the file's.
    public static func decode(_ data: Data, name: String, rows: Range<Int>? = nil) throws -> NPYArray {
        func fail(_ problem: String) -> WispError { .badInput("\(printable(name)): \(problem)") }

        return try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws -> NPYArray in
            guard raw.count >= 8, raw.prefix(6).elementsEqual(magic) else {
                throw fail("not a .npy file (it does not start with the magic string \\x93NUMPY)")
            }
            let major = raw[6], minor = raw[7]
            let lengthSize: Int
            switch (major, minor) {
            case (1, 0): lengthSize = 2
            case (2, 0), (3, 0): lengthSize = 4
            default: throw fail("unsupported .npy format version \(major).\(minor) (Wisp reads 1.0, 2.0 and 3.0)")
            }
            let headerStart = 8 + lengthSize
            guard raw.count >= headerStart else {
                throw fail("truncated: the file ends inside the header length field")
            }
            let headerLength = lengthSize == 2
                ? Int(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt16.self)))
                : Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
            guard headerLength <= raw.count - headerStart else {
                throw fail("header length \(headerLength) exceeds file size \(raw.count)")
            }
            let headerEnd = headerStart + headerLength

            let header = try Header.parse(
                Array(raw[headerStart ..< headerEnd]), utf8: major == 3, fail: fail)

            guard let count = elementCount(header.shape),
                  case let (byteCount, overflow) = count.multipliedReportingOverflow(by: header.dtype.itemSize),
                  !overflow
            else { throw fail("shape \(describe(header.shape)) has too many elements") }
            let available = raw.count - headerEnd
            guard available >= byteCount else {
                throw fail("truncated: expected \(byteCount) bytes of data, found \(available)")
            }
            guard available == byteCount else {
                throw fail("extra bytes after the array: expected \(byteCount) bytes of data for shape "
                    + "\(describe(header.shape)) of '\(header.dtype.rawValue)', found \(available)")
            }
            var first = 0, selected = count
            if let rows {
                guard let rowCount = header.shape.first, rows.lowerBound >= 0, rows.upperBound <= rowCount else {
                    throw fail("rows \(rows) are outside the array's shape \(describe(header.shape))")
                }
                let rowLength = rowCount == 0 ? 0 : count / rowCount
                first = rows.lowerBound * rowLength
                selected = rows.count * rowLength
            }
            let offset = headerEnd + first * header.dtype.itemSize
            let values = header.dtype.isInteger
                ? try decodeIntegers(raw, from: offset, count: selected, dtype: header.dtype, firstIndex: first, fail: fail)
                : LittleEndianFloats.decode(raw, from: offset, count: selected, float32: header.dtype == .float32)
            return NPYArray(shape: header.shape, dtype: header.dtype, values: values)
        }
    }

    /// Integer or bool elements as the `Double`s of the same values; a value no `Double` equals
    /// (an int64 or uint64 beyond 2⁵³ that is not a multiple of the spacing there), or a bool
    /// byte other than 0 and 1, is an error naming the element's flat index.
    private static func decodeIntegers(_ raw: UnsafeRawBufferPointer, from offset: Int, count: Int, dtype: NPYDType,
                                       firstIndex: Int, fail: (String) -> WispError) throws -> [Double] {
        precondition(offset >= 0 && count >= 0 && count <= (raw.count - offset) / dtype.itemSize, "element range outside buffer")
        var values = [Double]()
        values.reserveCapacity(count)
        func load<T: FixedWidthInteger>(_: T.Type, _ i: Int) -> T {
            T(littleEndian: raw.loadUnaligned(fromByteOffset: offset + i * MemoryLayout<T>.size, as: T.self))
        }
        func exact<T: FixedWidthInteger>(_ v: T, _ i: Int) throws -> Double {
            guard let d = Double(exactly: v) else {
                throw fail("element \(firstIndex + i) is \(v), which a float64 cannot represent exactly (integers up to 2^53 always can); Wisp computes in float64")
            }
            return d
        }
        for i in 0 ..< count {
            switch dtype {
            case .int8: values.append(Double(load(Int8.self, i)))
            case .int16: values.append(Double(load(Int16.self, i)))
            case .int32: values.append(Double(load(Int32.self, i)))
            case .int64: values.append(try exact(load(Int64.self, i), i))
            case .uint8: values.append(Double(load(UInt8.self, i)))
            case .uint16: values.append(Double(load(UInt16.self, i)))
            case .uint32: values.append(Double(load(UInt32.self, i)))
            case .uint64: values.append(try exact(load(UInt64.self, i), i))
            case .bool:
                let b = load(UInt8.self, i)
                guard b <= 1 else { throw fail("element \(firstIndex + i) of the bool array is the byte \(b), not 0 or 1") }
                values.append(Double(b))
            case .float64, .float32: preconditionFailure("decodeIntegers: \(dtype) is not an integer dtype")
            }
        }
        return values
    }

    /// Encodes an array the way `numpy.save` does: version 1.0 (2.0 only if the header outgrows
    /// 65535 bytes), keys in sorted order, spare spaces for the first dimension to grow, padded
    /// with spaces and a final "\n" so the data starts at a multiple of 64 bytes.
    ///
    /// - Precondition: every dimension is non-negative and `values.count` is their product;
    ///   for an integer dtype, every value is an integer the dtype holds.
    public static func encode(values: [Double], shape: [Int], dtype: NPYDType) -> Data {
        precondition(shape.allSatisfy { $0 >= 0 }, "NPY.encode: negative dimension in \(shape)")
        precondition(elementCount(shape) == values.count,
                     "NPY.encode: shape \(shape) does not hold \(values.count) values")

        var dict = "{'descr': '\(dtype.rawValue)', 'fortran_order': False, 'shape': \(describe(shape)), }"
        if let first = shape.first {
            dict += String(repeating: " ", count: max(growthAxisDigits - String(first).count, 0))
        }
        let body = Array(dict.utf8)
        var lengthSize = 2
        var padded = paddedLength(body.count, lengthSize: lengthSize)
        if padded > Int(UInt16.max) {
            lengthSize = 4
            padded = paddedLength(body.count, lengthSize: lengthSize)
        }

        var data = Data(capacity: 8 + lengthSize + padded + values.count * dtype.itemSize)
        data.append(contentsOf: magic)
        data.append(contentsOf: [lengthSize == 2 ? 1 : 2, 0])
        if lengthSize == 2 {
            withUnsafeBytes(of: UInt16(padded).littleEndian) { data.append(contentsOf: $0) }
        } else {
            withUnsafeBytes(of: UInt32(padded).littleEndian) { data.append(contentsOf: $0) }
        }
        data.append(contentsOf: body)
        data.append(contentsOf: [UInt8](repeating: UInt8(ascii: " "), count: padded - body.count - 1))
        data.append(UInt8(ascii: "\n"))
        if dtype.isInteger {
            precondition(integerProblem(values, dtype) == nil, "NPY.encode: \(integerProblem(values, dtype) ?? "")")
            for v in values {
                switch dtype {
                case .int8: data.append(UInt8(bitPattern: Int8(v)))
                case .int16: withUnsafeBytes(of: Int16(v).littleEndian) { data.append(contentsOf: $0) }
                case .int32: withUnsafeBytes(of: Int32(v).littleEndian) { data.append(contentsOf: $0) }
                case .int64: withUnsafeBytes(of: Int64(v).littleEndian) { data.append(contentsOf: $0) }
                case .uint8, .bool: data.append(UInt8(v))
                case .uint16: withUnsafeBytes(of: UInt16(v).littleEndian) { data.append(contentsOf: $0) }
                case .uint32: withUnsafeBytes(of: UInt32(v).littleEndian) { data.append(contentsOf: $0) }
                case .uint64: withUnsafeBytes(of: UInt64(v).littleEndian) { data.append(contentsOf: $0) }
                case .float64, .float32: break
                }
            }
        } else {
            LittleEndianFloats.append(values, float32: dtype == .float32, to: &data)
        }
        return data
    }

    /// Encodes the array and writes it to `path` atomically (see ``AtomicFile``).
    public static func write(values: [Double], shape: [Int], dtype: NPYDType, to path: String) throws {
        if let negative = shape.first(where: { $0 < 0 }) {
            throw WispError.output("cannot write \(printable(path)): negative dimension \(negative) in shape \(describe(shape))")
        }
        guard let count = elementCount(shape), count == values.count else {
            throw WispError.output(
                "cannot write \(printable(path)): shape \(describe(shape)) does not hold the \(values.count) values given")
        }
        if let problem = integerProblem(values, dtype) { throw WispError.output("cannot write \(printable(path)): \(problem)") }
        try AtomicFile.write(encode(values: values, shape: shape, dtype: dtype), to: path)
    }

    /// Why `values` do not fit the integer `dtype` (nil if they do, or for a float dtype).
    private static func integerProblem(_ values: [Double], _ dtype: NPYDType) -> String? {
        let range: ClosedRange<Double>
        switch dtype {
        case .float64, .float32: return nil
        case .int8: range = -128 ... 127
        case .int16: range = -32768 ... 32767
        case .int32: range = -2147483648 ... 2147483647
        case .int64: range = -0x1p63 ... 0x1p63.nextDown
        case .uint8: range = 0 ... 255
        case .uint16: range = 0 ... 65535
        case .uint32: range = 0 ... 4294967295
        case .uint64: range = 0 ... 0x1p64.nextDown
        case .bool: range = 0 ... 1
        }
        guard let i = values.firstIndex(where: { !(range.contains($0) && $0.rounded() == $0) }) else { return nil }
        return "element \(i) is \(values[i]), not an integer \(dtype.rawValue) holds"
    }

    // MARK: - Format constants and helpers

    private static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // "\x93NUMPY"

    /// numpy reserves room in the header for the growth axis to reach this many digits.
    private static let growthAxisDigits = 21

    /// The header length, newline included, that makes magic + version + length + header a
    /// multiple of 64. Like numpy, an already aligned header still gets 64 bytes of padding.
    private static func paddedLength(_ bodyLength: Int, lengthSize: Int) -> Int {
        let unpadded = 8 + lengthSize + bodyLength + 1
        return bodyLength + 1 + (64 - unpadded % 64)
    }

    /// The product of the dimensions, or nil on overflow — also when the product of the
    /// non-zero dimensions overflows (0 rows of rows too long to count or address).
    private static func elementCount(_ shape: [Int]) -> Int? {
        var count = 1, nonZero = 8   // the widest item size
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            let (product2, overflow2) = nonZero.multipliedReportingOverflow(by: max(dimension, 1))
            if overflow || overflow2 { return nil }
            count = product
            nonZero = product2
        }
        return count
    }

    /// A shape as Python writes a tuple: `()`, `(5,)`, `(2, 3)`.
    private static func describe(_ shape: [Int]) -> String {
        shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    }

    // MARK: - Header dict

    /// The validated contents of the header dict.
    private struct Header {
        var dtype: NPYDType
        var shape: [Int]

        /// A literal value of the header dict.
        private enum Literal {
            case string(String)
            case bool(Bool)
            case int(Int)
            case tuple([Int])

            var python: String {
                switch self {
                case .string(let s): return "'\(printable(s))'"
                case .bool(let b): return b ? "True" : "False"
                case .int(let i): return String(i)
                case .tuple(let t): return NPY.describe(t)
                }
            }
        }

        /// Parses the header's dict literal: `{`, `'key': value` pairs separated by commas with an
        /// optional trailing comma, `}`, then only whitespace. Values are strings in single or
        /// double quotes, `True`/`False`, ints and tuples of ints; a Python 2 `L` suffix on ints
        /// is tolerated, as numpy does for 1.0 and 2.0 files.
        static func parse(_ bytes: [UInt8], utf8: Bool, fail: (String) -> WispError) throws -> Header {
            var position = 0

            func text(_ slice: ArraySlice<UInt8>) throws -> String {
                if utf8 {
                    guard let s = String(validating: slice, as: UTF8.self) else {
                        throw fail("header of a version 3.0 file is not valid UTF-8")
                    }
                    return s
                }
                return String(String.UnicodeScalarView(slice.map { Unicode.Scalar($0) }))
            }
            func syntax(_ expected: String) -> WispError {
                let found: String
                if position >= bytes.count {
                    found = "the end of the header"
                } else if (0x21 ... 0x7E).contains(bytes[position]) {
                    found = "\"\(Character(Unicode.Scalar(bytes[position])))\""
                } else {
                    found = "byte 0x" + String(bytes[position], radix: 16)
                }
                return fail("header is not a valid dict literal: expected \(expected) at byte \(position), found \(found)")
            }
            func skipSpace() {
                while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
            }
            func consume(_ byte: UInt8) -> Bool {
                skipSpace()
                guard position < bytes.count, bytes[position] == byte else { return false }
                position += 1
                return true
            }
            func parseString() throws -> String {
                skipSpace()
                guard position < bytes.count, bytes[position] == 0x27 || bytes[position] == 0x22 else {
                    throw syntax("a quoted string")
                }
                let quote = bytes[position]
                let start = position + 1
                guard let end = bytes[start...].firstIndex(of: quote) else {
                    position = bytes.count
                    throw syntax("a closing quote")
                }
                position = end + 1
                return try text(bytes[start ..< end])
            }
            func parseInt() throws -> Int {
                skipSpace()
                let negative = position < bytes.count && bytes[position] == UInt8(ascii: "-")
                if negative { position += 1 }
                let start = position
                var value = 0
                while position < bytes.count, (0x30 ... 0x39).contains(bytes[position]) {
                    let (times10, o1) = value.multipliedReportingOverflow(by: 10)
                    let (sum, o2) = times10.addingReportingOverflow(Int(bytes[position] - 0x30))
                    guard !o1, !o2 else { throw fail("shape dimension in the header is too large") }
                    value = sum
                    position += 1
                }
                guard position > start else { throw syntax("an integer") }
                if position < bytes.count, bytes[position] == UInt8(ascii: "L") || bytes[position] == UInt8(ascii: "l") {
                    position += 1
                }
                return negative ? -value : value
            }
            func parseValue(key: String) throws -> Literal {
                skipSpace()
                guard position < bytes.count else { throw syntax("a value") }
                switch bytes[position] {
                case 0x27, 0x22:
                    return .string(try parseString())
                case UInt8(ascii: "T") where bytes[position...].starts(with: Array("True".utf8)):
                    position += 4
                    return .bool(true)
                case UInt8(ascii: "F") where bytes[position...].starts(with: Array("False".utf8)):
                    position += 5
                    return .bool(false)
                case UInt8(ascii: "-"), 0x30 ... 0x39:
                    return .int(try parseInt())
                case UInt8(ascii: "("):
                    position += 1
                    var elements: [Int] = []
                    var sawComma = false
                    while !consume(UInt8(ascii: ")")) {
                        elements.append(try parseInt())
                        if consume(UInt8(ascii: ",")) {
                            sawComma = true
                        } else if !consume(UInt8(ascii: ")")) {
                            throw syntax("',' or ')'")
                        } else {
                            break
                        }
                    }
                    return elements.count == 1 && !sawComma ? .int(elements[0]) : .tuple(elements)
                case UInt8(ascii: "[") where key == "descr":
                    throw fail("structured dtypes (a list 'descr') are not supported; Wisp reads '<f8' and '<f4'")
                default:
                    throw syntax("a string, True, False, an integer or a tuple")
                }
            }

            guard consume(UInt8(ascii: "{")) else { throw syntax("'{'") }
            var entries: [String: Literal] = [:]
            while !consume(UInt8(ascii: "}")) {
                let key = try parseString()
                guard ["descr", "fortran_order", "shape"].contains(key) else {
                    throw fail("header has unexpected key '\(printable(key))' (expected 'descr', 'fortran_order' and 'shape')")
                }
                guard entries[key] == nil else {
                    throw fail("header has key '\(printable(key))' more than once")
                }
                guard consume(UInt8(ascii: ":")) else { throw syntax("':'") }
                entries[key] = try parseValue(key: key)
                if !consume(UInt8(ascii: ",")) {
                    guard consume(UInt8(ascii: "}")) else { throw syntax("',' or '}'") }
                    break
                }
            }
            skipSpace()
            guard position == bytes.count else { throw syntax("only whitespace after the dict") }

            for key in ["descr", "fortran_order", "shape"] where entries[key] == nil {
                throw fail("header is missing the key '\(printable(key))'")
            }

            guard case .string(let descr)? = entries["descr"] else {
                throw fail("header 'descr' is \(entries["descr"]?.python ?? "missing"), not a dtype string")
            }
            let dtype = try classify(descr, fail: fail)

            guard case .bool(let fortranOrder)? = entries["fortran_order"] else {
                throw fail("header 'fortran_order' is \(entries["fortran_order"]?.python ?? "missing"), not True or False")
            }
            guard !fortranOrder else {
                throw fail("fortran_order is True (column-major data); Wisp reads only C-order arrays")
            }

            let shape: [Int]
            switch entries["shape"] {
            case .tuple(let t)?: shape = t
            case .int(let i)?:
                throw fail("header 'shape' is \(i), not a tuple (a 1-tuple is written (\(i),))")
            case let other:
                throw fail("header 'shape' is \(other?.python ?? "missing"), not a tuple of integers")
            }
            if let negative = shape.first(where: { $0 < 0 }) {
                throw fail("shape \(NPY.describe(shape)) has a negative dimension \(negative)")
            }
            return Header(dtype: dtype, shape: shape)
        }

        /// Maps a `descr` to a supported dtype, or explains why it is not one.
        private static func classify(_ descr: String, fail: (String) -> WispError) throws -> NPYDType {
            if let dtype = NPYDType(descr: descr) { return dtype }
            let accepted = "Wisp reads little-endian floats '<f8', '<f4', little-endian integers '<i8', '<i4', '<i2', '|i1', '<u8', '<u4', '<u2', '|u1' and bool '|b1'"
            let order = descr.first
            let kind = descr.dropFirst().first
            let what: String
            switch (order, kind) {
            case (">", "f"?): what = "big-endian floats"
            case ("=", "f"?): what = "floats in the writing machine's native byte order, which the file does not record"
            case ("|", "f"?): what = "floats with no byte order"
            case (_, "f"?): what = "floats of an unsupported size"
            case (">", "i"?), (">", "u"?): what = "big-endian integers"
            case ("=", "i"?), ("=", "u"?): what = "integers in the writing machine's native byte order, which the file does not record"
            case (_, "i"?), (_, "u"?): what = "integers of an unsupported size or byte order"
            case (_, "b"?): what = "booleans of an unsupported size"
            case (_, "c"?): what = "complex numbers"
            case (_, "O"?): what = "Python objects"
            case (_, "U"?), (_, "S"?), (_, "a"?): what = "strings"
            case (_, "M"?), (_, "m"?): what = "dates or times"
            case (_, "V"?): what = "raw bytes"
            default: what = "an unrecognized type"
            }
            throw fail("unsupported dtype '\(printable(descr))' (\(what)); \(accepted)")
        }
    }
}

/// Conversion between `Double` and little-endian IEEE 754 binary64/binary32 bytes, shared by
/// the `.npy` and safetensors codecs.
///
/// Both formats store little-endian data. On a little-endian host (`hostIsLittleEndian`, true
/// on x86-64 and arm64) binary64 data is copied with one `memcpy`; otherwise, and for binary32,
/// which must be widened anyway, each element is an unaligned load with `littleEndian`
/// conversion, a no-op on little-endian hosts.
enum LittleEndianFloats {
    static let hostIsLittleEndian = UInt16(1).littleEndian == 1

    /// Reads `count` elements of 8 (or 4, if `float32`) bytes each starting at byte `offset`.
    ///
    /// - Precondition: the elements lie within `raw`.
    static func decode(_ raw: UnsafeRawBufferPointer, from offset: Int, count: Int, float32: Bool) -> [Double] {
        let size = float32 ? 4 : 8
        precondition(offset >= 0 && count >= 0 && count <= (raw.count - offset) / size, "element range outside buffer")
        guard count > 0 else { return [] }
        return [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
            if float32 {
                for i in 0 ..< count {
                    let bits = raw.loadUnaligned(fromByteOffset: offset + 4 * i, as: UInt32.self)
                    buffer[i] = Double(Float(bitPattern: UInt32(littleEndian: bits)))
                }
            } else if hostIsLittleEndian {
                UnsafeMutableRawBufferPointer(buffer).copyMemory(
                    from: UnsafeRawBufferPointer(rebasing: raw[offset ..< offset + 8 * count]))
            } else {
                for i in 0 ..< count {
                    let bits = raw.loadUnaligned(fromByteOffset: offset + 8 * i, as: UInt64.self)
                    buffer[i] = Double(bitPattern: UInt64(littleEndian: bits))
                }
            }
            initialized = count
        }
    }

    /// Appends `values` as little-endian binary64, or binary32 (rounded to nearest) if `float32`.
    static func append(_ values: [Double], float32: Bool, to data: inout Data) {
        if float32 {
            let bits = values.map { Float($0).bitPattern.littleEndian }
            bits.withUnsafeBytes { data.append(contentsOf: $0) }
        } else if hostIsLittleEndian {
            values.withUnsafeBytes { data.append(contentsOf: $0) }
        } else {
            let bits = values.map { $0.bitPattern.littleEndian }
            bits.withUnsafeBytes { data.append(contentsOf: $0) }
        }
    }
}

/// Text taken from a file or a path, made safe to embed in a one-line message: line breaks,
/// tabs and other control and format characters are escaped (`\n`, `\u{7}`), and anything
/// beyond 1000 scalars is cut to `…`.
func printable(_ text: String) -> String {
    var out = ""
    for (index, scalar) in text.unicodeScalars.enumerated() {
        if index == 1000 {
            out += "…"
            break
        }
        switch scalar {
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            switch scalar.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator:
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            default:
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out
}
