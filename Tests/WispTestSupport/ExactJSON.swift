import Foundation

/// A JSON reader whose numbers are exact, for tests that compare written numbers bit for bit.
///
/// `JSONSerialization` on Linux returns many numbers (those with a fraction or exponent in
/// `Decimal`'s range) as `NSDecimalNumber`, whose `doubleValue` is not correctly rounded: about
/// one double in five reads back one or more ulps off (`0.30000000000000004` → `0.3000000000000001`).
/// This reader returns the same shapes (`[String: Any]`, `[Any]`, `String`, `Bool`, `NSNull`),
/// integers without fraction or exponent as `Int` (when they fit) and every other number as the
/// `Double` that `Double(String)` gives, the correctly rounded one.
public enum ExactJSON {
    public struct SyntaxError: Error, CustomStringConvertible {
        public var offset: Int
        public var description: String { "invalid JSON at byte \(offset)" }
    }

    public static func parse(_ data: Data) throws -> Any {
        var p = Parser(bytes: [UInt8](data))
        let value = try p.value()
        p.skipSpace()
        guard p.i == p.bytes.count else { throw SyntaxError(offset: p.i) }
        return value
    }

    /// The top-level object of a JSON file.
    public static func object(file: String) throws -> [String: Any] {
        guard let object = try parse(Data(contentsOf: URL(fileURLWithPath: file))) as? [String: Any] else {
            throw SyntaxError(offset: 0)
        }
        return object
    }

    private struct Parser {
        let bytes: [UInt8]
        var i = 0

        mutating func skipSpace() { while i < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[i]) { i += 1 } }

        mutating func expect(_ text: String) throws {
            for b in text.utf8 {
                guard i < bytes.count, bytes[i] == b else { throw SyntaxError(offset: i) }
                i += 1
            }
        }

        mutating func value() throws -> Any {
            skipSpace()
            guard i < bytes.count else { throw SyntaxError(offset: i) }
            switch bytes[i] {
            case UInt8(ascii: "{"):
                i += 1
                var object = [String: Any]()
                skipSpace()
                if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return object }
                while true {
                    skipSpace()
                    let key = try string()
                    skipSpace()
                    try expect(":")
                    object[key] = try value()
                    skipSpace()
                    guard i < bytes.count else { throw SyntaxError(offset: i) }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    try expect("}")
                    return object
                }
            case UInt8(ascii: "["):
                i += 1
                var array = [Any]()
                skipSpace()
                if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return array }
                while true {
                    array.append(try value())
                    skipSpace()
                    guard i < bytes.count else { throw SyntaxError(offset: i) }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    try expect("]")
                    return array
                }
            case UInt8(ascii: "\""): return try string()
            case UInt8(ascii: "t"): try expect("true"); return true
            case UInt8(ascii: "f"): try expect("false"); return false
            case UInt8(ascii: "n"): try expect("null"); return NSNull()
            default: return try number()
            }
        }

        mutating func number() throws -> Any {
            let start = i
            while i < bytes.count, "+-0123456789.eE".utf8.contains(bytes[i]) { i += 1 }
            let text = String(decoding: bytes[start..<i], as: UTF8.self)
            if !text.contains(where: { ".eE".contains($0) }), let n = Int(text) { return n }
            guard let x = Double(text) else { throw SyntaxError(offset: start) }
            return x
        }

        mutating func string() throws -> String {
            try expect("\"")
            var out = [UInt8]()
            while i < bytes.count, bytes[i] != UInt8(ascii: "\"") {
                if bytes[i] == UInt8(ascii: "\\") {
                    i += 1
                    guard i < bytes.count else { throw SyntaxError(offset: i) }
                    let c = bytes[i]
                    i += 1
                    switch c {
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "u"):
                        guard i + 4 <= bytes.count, var code = UInt32(String(decoding: bytes[i..<(i + 4)], as: UTF8.self), radix: 16) else {
                            throw SyntaxError(offset: i)
                        }
                        i += 4
                        if (0xD800..<0xDC00).contains(code), i + 6 <= bytes.count, bytes[i] == UInt8(ascii: "\\"),
                           let low = UInt32(String(decoding: bytes[(i + 2)..<(i + 6)], as: UTF8.self), radix: 16) {
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                            i += 6
                        }
                        out += Array(String(Unicode.Scalar(code).map(Character.init) ?? "\u{FFFD}").utf8)
                    default: out.append(c)
                    }
                } else {
                    out.append(bytes[i])
                    i += 1
                }
            }
            try expect("\"")
            return String(decoding: out, as: UTF8.self)
        }
    }
}
