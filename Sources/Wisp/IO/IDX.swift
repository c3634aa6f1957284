import Foundation

/// The element types of the IDX format, named by their type code (the third magic byte).
public enum IDXDType: UInt8, Sendable, CaseIterable {
    case uint8 = 0x08
    case int8 = 0x09
    case int16 = 0x0B
    case int32 = 0x0C
    case float32 = 0x0D
    case float64 = 0x0E

    /// Bytes per element.
    public var itemSize: Int {
        switch self {
        case .uint8, .int8: return 1
        case .int16: return 2
        case .int32, .float32: return 4
        case .float64: return 8
        }
    }

    /// A readable name, for messages.
    public var name: String {
        switch self {
        case .uint8: return "unsigned byte"
        case .int8: return "signed byte"
        case .int16: return "16-bit integer"
        case .int32: return "32-bit integer"
        case .float32: return "32-bit float"
        case .float64: return "64-bit float"
        }
    }
}

/// The IDX format of the MNIST distribution (LeCun et al., http://yann.lecun.com/exdb/mnist/,
/// also Fashion-MNIST, KMNIST and `../shared/data/digits/`):
///
///     magic   4 bytes   0x00, 0x00, type code (``IDXDType``), number of dimensions n ≥ 1
///     dims    n × u32 big-endian
///     data    product(dims) elements, big-endian, C (row-major) order, nothing after
///
/// The first dimension indexes the samples (images or labels). Every reader validates the
/// magic, the dimensions and the exact file length before converting anything, and converts
/// only the requested rows (the file is memory-mapped, so a process pages in its block only).
/// Cost: O(rows × row length) conversions.
public enum IDX {
    /// The decoded header of an IDX file.
    public struct Header: Equatable, Sendable {
        public var dtype: IDXDType
        public var shape: [Int]
        /// Byte offset of the first element.
        public var dataOffset: Int
    }

    /// Whether `prefix` starts like an IDX file: two zero bytes, then a type code and a
    /// non-zero dimension count (the type code is checked, with a message, by ``header(_:name:)``).
    static func looksLikeIDX(_ prefix: [UInt8]) -> Bool {
        prefix.count >= 4 && prefix[0] == 0 && prefix[1] == 0
    }

    /// Parses and validates the header of the bytes `raw` (the whole file): magic, type code,
    /// dimensions and the file's exact length.
    public static func header(_ raw: UnsafeRawBufferPointer, name: String) throws -> Header {
        try parse(raw, name: name, exactLength: true).header
    }

    /// The total length (header and data) that the IDX header at the start of `prefix`
    /// declares, or nil while `prefix` is shorter than the header and more may come
    /// (`complete` false); invalid headers throw as ``header(_:name:)`` does. For streams
    /// (``Gzip``) whose length is known only from their content.
    public static func declaredLength(_ prefix: [UInt8], complete: Bool, name: String) throws -> Int? {
        if !complete, prefix.count < 4 || prefix.count < 4 + 4 * Int(prefix[3]) { return nil }
        return try prefix.withUnsafeBytes { raw in
            let (h, bytes) = try parse(raw, name: name, exactLength: complete)
            return h.dataOffset + bytes
        }
    }

    /// The header and the data's byte count; with `exactLength`, `raw` must be the whole file.
    private static func parse(_ raw: UnsafeRawBufferPointer, name: String, exactLength: Bool) throws -> (header: Header, dataBytes: Int) {
        func fail(_ problem: String) -> WispError { .badInput("\(printable(name)): \(problem)") }
        guard raw.count >= 4 else { throw fail("truncated: an IDX file needs a 4-byte magic number, the file has \(raw.count) bytes") }
        guard raw[0] == 0, raw[1] == 0 else {
            throw fail(String(format: "not an IDX file (magic number 0x%02X%02X%02X%02X does not start with two zero bytes)",
                              raw[0], raw[1], raw[2], raw[3]))
        }
        guard let dtype = IDXDType(rawValue: raw[2]) else {
            throw fail(String(format: "IDX type code 0x%02X is not one of 0x08 (ubyte), 0x09 (sbyte), 0x0B (short), 0x0C (int), 0x0D (float), 0x0E (double)", raw[2]))
        }
        let n = Int(raw[3])
        guard n >= 1 else { throw fail("IDX magic number declares 0 dimensions") }
        let offset = 4 + 4 * n
        guard raw.count >= offset else {
            throw fail("truncated: the header declares \(n) dimensions (\(offset) header bytes) but the file has \(raw.count) bytes")
        }
        var shape = [Int]()
        var count = 1, nonZero = 1   // the non-zero dimensions' product must fit too (0 rows of huge records)
        for i in 0..<n {
            let dim = Int(UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: 4 + 4 * i, as: UInt32.self)))
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            let (product2, overflow2) = nonZero.multipliedReportingOverflow(by: max(dim, 1))
            guard !overflow, !overflow2, product2.multipliedReportingOverflow(by: dtype.itemSize).overflow == false else {
                throw fail("dimensions \(shape + [dim]) have too many elements")
            }
            count = product
            nonZero = product2
            shape.append(dim)
        }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.itemSize)
        guard !overflow else { throw fail("dimensions \(shape) have too many elements") }
        let (total, overflow3) = bytes.addingReportingOverflow(offset)
        guard !overflow3, total >= 0 else { throw fail("dimensions \(shape) have too many elements") }
        let header = Header(dtype: dtype, shape: shape, dataOffset: offset)
        guard exactLength else { return (header, bytes) }
        let available = raw.count - offset
        guard available >= bytes else {
            throw fail("truncated: dimensions \(shape) of \(dtype.name)s need \(bytes) bytes of data, found \(available)")
        }
        guard available == bytes else {
            throw fail("\(available - bytes) extra bytes after the data of dimensions \(shape) of \(dtype.name)s")
        }
        return (header, bytes)
    }

    /// Reads the header and the rows `rows` of the first dimension (all rows when nil) of the
    /// IDX file at `path`, widened to Double, row-major. The file is memory-mapped.
    /// A gzip-compressed file (magic 1f 8b, e.g. MNIST's `train-images-idx3-ubyte.gz`) is
    /// inflated whole first (``inflated(path:)``).
    public static func read(path: String, rows: Range<Int>? = nil) throws -> (header: Header, values: [Double]) {
        try decode(Gzip.isGzip(path: path) ? try inflated(path: path) : try mapped(path), name: path, rows: rows)
    }

    /// The inflated bytes of the gzip-compressed IDX file at `path`, exactly as long as its IDX
    /// header declares (``Gzip/inflate(path:declaredLength:)``: the declared length is checked
    /// against the memory available before the buffer is made, and a stream that inflates to
    /// more or less than it is refused). Cost: one pass of zlib over the file.
    public static func inflated(path: String) throws -> Data {
        try Gzip.inflate(path: path) { prefix, complete in
            if prefix.count >= 2, prefix[0] != 0 || prefix[1] != 0 {
                throw WispError.badInput("\(printable(path)): gzip-compressed, but its content is not an IDX file (Wisp reads gzip only around IDX, as MNIST ships it)")
            }
            return try declaredLength(prefix, complete: complete, name: path + " (inflated)")
        }
    }

    /// Decodes the bytes of an IDX file (see ``read(path:rows:)``); `name` prefixes errors.
    public static func decode(_ data: Data, name: String, rows: Range<Int>? = nil) throws -> (header: Header, values: [Double]) {
        try data.withUnsafeBytes { raw in
            let h = try header(raw, name: name)
            let total = h.shape[0]
            let selected = rows ?? 0..<total
            guard selected.lowerBound >= 0, selected.upperBound <= total else {
                throw WispError.badInput("\(printable(name)): rows \(selected) are outside the \(total) rows of the IDX file")
            }
            let rowLength = h.shape.dropFirst().reduce(1, *)
            let first = selected.lowerBound * rowLength, count = selected.count * rowLength
            return (h, convert(raw, from: h.dataOffset + first * h.dtype.itemSize, count: count, dtype: h.dtype))
        }
    }

    /// Big-endian elements to Double. Cost: one pass over `count` elements.
    private static func convert(_ raw: UnsafeRawBufferPointer, from offset: Int, count: Int, dtype: IDXDType) -> [Double] {
        guard count > 0 else { return [] }
        return [Double](unsafeUninitializedCapacity: count) { out, initialized in
            let base = raw.baseAddress! + offset
            switch dtype {
            case .uint8:
                let p = base.assumingMemoryBound(to: UInt8.self)
                for i in 0..<count { out[i] = Double(p[i]) }
            case .int8:
                let p = base.assumingMemoryBound(to: Int8.self)
                for i in 0..<count { out[i] = Double(p[i]) }
            case .int16:
                for i in 0..<count { out[i] = Double(Int16(bigEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self))) }
            case .int32:
                for i in 0..<count { out[i] = Double(Int32(bigEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) }
            case .float32:
                for i in 0..<count {
                    out[i] = Double(Float(bitPattern: UInt32(bigEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))))
                }
            case .float64:
                for i in 0..<count {
                    out[i] = Double(bitPattern: UInt64(bigEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))
                }
            }
            initialized = count
        }
    }

    /// Encodes `values` (row-major, `shape`) as an IDX file of `dtype`. Integer types store
    /// the values rounded toward zero; the caller keeps them in range.
    ///
    /// - Precondition: `shape` has 1…255 dimensions, each < 2³², whose product is `values.count`.
    public static func encode(values: [Double], shape: [Int], dtype: IDXDType) -> Data {
        precondition((1...255).contains(shape.count) && shape.allSatisfy { (0...Int(UInt32.max)).contains($0) })
        precondition(shape.reduce(1, *) == values.count, "IDX.encode: shape \(shape) does not hold \(values.count) values")
        var data = Data([0, 0, dtype.rawValue, UInt8(shape.count)])
        for dim in shape { withUnsafeBytes(of: UInt32(dim).bigEndian) { data.append(contentsOf: $0) } }
        data.reserveCapacity(data.count + values.count * dtype.itemSize)
        for v in values {
            switch dtype {
            case .uint8: data.append(UInt8(v))
            case .int8: data.append(UInt8(bitPattern: Int8(v)))
            case .int16: withUnsafeBytes(of: Int16(v).bigEndian) { data.append(contentsOf: $0) }
            case .int32: withUnsafeBytes(of: Int32(v).bigEndian) { data.append(contentsOf: $0) }
            case .float32: withUnsafeBytes(of: Float(v).bitPattern.bigEndian) { data.append(contentsOf: $0) }
            case .float64: withUnsafeBytes(of: v.bitPattern.bigEndian) { data.append(contentsOf: $0) }
            }
        }
        return data
    }

    /// Encodes and writes atomically (see ``AtomicFile``).
    public static func write(values: [Double], shape: [Int], dtype: IDXDType, to path: String) throws {
        guard (1...255).contains(shape.count), shape.allSatisfy({ (0...Int(UInt32.max)).contains($0) }),
              shape.reduce(1, *) == values.count else {
            throw WispError.output("cannot write \(printable(path)): shape \(shape) does not hold the \(values.count) values given")
        }
        try AtomicFile.write(encode(values: values, shape: shape, dtype: dtype), to: path)
    }

    /// The file at `path`, memory-mapped (descriptive error when it cannot be read).
    static func mapped(_ path: String) throws -> Data {
        do {
            try InputFile.requireRegular(path)
            return try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            _ = try AtomicFile.read(path: path)
            throw WispError.badInput("\(printable(path)): cannot read")
        }
    }
}
