import Foundation

/// A numeric table read from a CSV file: `rows` × `columns` values, row-major, with the
/// column names when the file has a header row.
public struct CSVTable: Equatable, Sendable {
    /// Column names from the header row; nil when the first row is data.
    public var header: [String]?
    public var rows: Int
    public var columns: Int
    /// rows × columns, row-major.
    public var values: [Double]

    /// The index of the column `spec`: a header name (exact match, tried first) or a
    /// 0-based column number. `name` prefixes errors.
    public func columnIndex(_ spec: String, name: String) throws -> Int {
        if let header, let i = header.firstIndex(of: spec) { return i }
        if let i = Int(spec), (0..<columns).contains(i) { return i }
        let known = header.map { "columns " + $0.map { "'\(printable($0))'" }.joined(separator: ", ") + " or numbers 0…\(columns - 1)" }
            ?? "column numbers 0…\(columns - 1) (the file has no header row)"
        throw WispError.badInput("\(printable(name)): no column '\(printable(spec))' (\(known))")
    }
}

/// Comma-separated numbers (RFC 4180 without quoted numbers): one record per line, fields
/// separated by commas, surrounding spaces ignored, `\n` or `\r\n` line ends, empty lines and
/// lines starting with `#` skipped. The first record is a header row when any of its fields
/// is not a number (names may be double-quoted); every other field must be a finite decimal
/// number, and every record must have as many fields as the first. A UTF-8 byte-order mark
/// (EF BB BF, as spreadsheet programs write) at the start of the file is skipped, so it
/// neither turns a first data row into a header nor becomes part of a column name. Errors name the file,
/// line and column. The whole file is parsed (CSV rows have no fixed size, so a process cannot
/// seek to its block). Cost: one pass over the bytes.
public enum CSV {
    /// Reads and parses the CSV file at `path`.
    public static func read(path: String) throws -> CSVTable {
        try parse(AtomicFile.read(path: path), name: path)
    }

    /// Parses CSV bytes; `name` prefixes every error.
    public static func parse(_ data: Data, name: String) throws -> CSVTable {
        func fail(_ problem: String) -> WispError { .badInput("\(printable(name)): \(problem)") }
        let bytes = [UInt8](data)
        var header: [String]? = nil
        var columns = -1
        var values = [Double]()
        var rows = 0
        var lineNumber = 0
        // The UTF-8 byte-order mark is not part of the first field.
        var start = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        while start < bytes.count {
            var end = start
            while end < bytes.count, bytes[end] != 0x0A { end += 1 }
            lineNumber += 1
            var lineEnd = end
            if lineEnd > start, bytes[lineEnd - 1] == 0x0D { lineEnd -= 1 }
            defer { start = end + 1 }
            let line = bytes[start..<lineEnd]
            let trimmed = line.drop { $0 == 0x20 || $0 == 0x09 }
            if trimmed.isEmpty || trimmed.first == UInt8(ascii: "#") { continue }
            let fields = line.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false).map { field -> String in
                String(decoding: field, as: UTF8.self).trimmingCharacters(in: .whitespaces)
            }
            if columns < 0 {
                columns = fields.count
                let numbers = fields.map(Self.number)
                if numbers.contains(where: { $0 == nil }) {
                    header = fields.map { $0.count >= 2 && $0.hasPrefix("\"") && $0.hasSuffix("\"") ? String($0.dropFirst().dropLast()) : $0 }
                    continue
                }
            }
            guard fields.count == columns else {
                throw fail("line \(lineNumber) has \(fields.count) fields, expected \(columns) (as in the first line)")
            }
            for (j, field) in fields.enumerated() {
                guard let v = number(field) else {
                    let column = header.map { " ('\(printable($0[j]))')" } ?? ""
                    throw fail("line \(lineNumber), column \(j + 1)\(column): '\(printable(field))' is not a finite number")
                }
                values.append(v)
            }
            rows += 1
        }
        guard columns > 0 else { throw fail("no data (the file is empty)") }
        guard rows > 0 else { throw fail("no data rows after the header") }
        return CSVTable(header: header, rows: rows, columns: columns, values: values)
    }

    /// A finite decimal number (Swift's `Double(_:)` grammar, which accepts `1`, `-2.5e-3`),
    /// or nil for anything else, including `nan` and `inf`.
    private static func number(_ field: String) -> Double? {
        guard let v = Double(field), v.isFinite else { return nil }
        return v
    }
}
