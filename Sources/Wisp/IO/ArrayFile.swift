import Foundation

/// The file formats `--inputs`, `--targets` and `--labels` accept.
public enum ArrayFileFormat: String, Codable, Sendable {
    case npy, idx, csv
}

/// Which columns of a CSV file to take (other formats have no columns to choose).
public enum ColumnSelection: Equatable, Sendable {
    case all
    /// These columns, in this order (header names or 0-based numbers).
    case only([String])
    /// Every column but these.
    case excluding([String])
}

/// A T × (…) array in a `.npy`, IDX or CSV file, recognized by its content: the `.npy` magic
/// string `\x93NUMPY`, the IDX magic (two zero bytes first), else CSV when the name ends in
/// `.csv` or `.txt`. Opening reads and validates the header only (`.npy`, IDX: fixed-size
/// records, so ``read(rows:)`` converts just the requested rows of a memory-mapped file);
/// a CSV file is parsed whole on opening, and a gzip-compressed IDX file (magic 1f 8b, as
/// MNIST and Fashion-MNIST ship) is inflated whole on opening (``IDX/inflated(path:)``).
public struct ArrayFile: Sendable {
    public let path: String
    public let format: ArrayFileFormat
    /// The file's shape: rows (samples) first. CSV: [rows, selected columns].
    public let shape: [Int]
    private let table: CSVTable?
    private let columns: [Int]
    /// The inflated bytes of a gzip-compressed IDX file (inflated once, on opening).
    private let inflated: Data?

    /// The number of rows (samples).
    public var rows: Int { shape[0] }
    /// The number of values per row.
    public var rowLength: Int { shape.dropFirst().reduce(1, *) }

    public static func format(of path: String) throws -> ArrayFileFormat {
        // Only regular files (never a FIFO or a device that blocks or never ends: InputFile).
        let (fd, _) = try InputFile.openRegular(path, holdInMemory: false)
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 6)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 6) }
        guard count >= 0 else { throw WispError.badInput("\(printable(path)): cannot read: \(String(cString: strerror(errno)))") }
        let prefix = Array(buffer.prefix(count))
        if prefix.starts(with: [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]) { return .npy }
        if IDX.looksLikeIDX(prefix) || Gzip.isGzip(prefix) { return .idx }   // gzip: its content must be IDX (``IDX/inflated(path:)``)
        let lower = path.lowercased()
        if lower.hasSuffix(".csv") || lower.hasSuffix(".txt") { return .csv }
        if prefix.isEmpty { throw WispError.badInput("\(printable(path)): the file is empty") }
        throw WispError.badInput("\(printable(path)): not a .npy file (magic \\x93NUMPY), an IDX file (magic 0x0000…, or gzip-compressed IDX) or a .csv/.txt file")
    }

    /// Opens `path`; `columns` applies to CSV files only (for others anything but `.all` is an error).
    public init(path: String, columns selection: ColumnSelection = .all) throws {
        self.path = path
        format = try Self.format(of: path)
        if format != .csv, selection != .all {
            throw WispError.invalidConfiguration("\(Setting.targetColumns) chooses columns of a CSV file, but \(printable(path)) is a \(format == .npy ? ".npy" : "IDX") file")
        }
        switch format {
        case .npy:
            shape = try NPY.read(path: path, rows: 0..<0).shape
            table = nil
            columns = []
            inflated = nil
            guard !shape.isEmpty else { throw WispError.badInput("\(printable(path)): a 0-d array has no rows") }
        case .idx:
            inflated = Gzip.isGzip(path: path) ? try IDX.inflated(path: path) : nil
            shape = try inflated.map { try IDX.decode($0, name: path, rows: 0..<0) }?.header.shape
                ?? IDX.read(path: path, rows: 0..<0).header.shape
            table = nil
            columns = []
        case .csv:
            let t = try CSV.read(path: path)
            switch selection {
            case .all: columns = Array(0..<t.columns)
            case .only(let specs): columns = try specs.map { try t.columnIndex($0, name: path) }
            case .excluding(let specs):
                let dropped = Set(try specs.map { try t.columnIndex($0, name: path) })
                columns = (0..<t.columns).filter { !dropped.contains($0) }
            }
            guard !columns.isEmpty else { throw WispError.badInput("\(printable(path)): no columns left after removing the target columns") }
            table = t
            shape = [t.rows, columns.count]
            inflated = nil
        }
    }

    /// The rows `rows` (all rows when nil), row-major, widened to Double.
    public func read(rows: Range<Int>? = nil) throws -> [Double] {
        let selected = rows ?? 0..<self.rows
        guard selected.lowerBound >= 0, selected.upperBound <= self.rows else {
            throw WispError.badInput("\(printable(path)): rows \(selected) are outside its \(self.rows) rows")
        }
        switch format {
        case .npy: return try NPY.read(path: path, rows: selected).values
        case .idx: return try inflated.map { try IDX.decode($0, name: path, rows: selected).values }
            ?? IDX.read(path: path, rows: selected).values
        case .csv:
            let t = table!
            var out = [Double]()
            out.reserveCapacity(selected.count * columns.count)
            for r in selected { for j in columns { out.append(t.values[r * t.columns + j]) } }
            return out
        }
    }
}
