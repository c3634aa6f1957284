import Foundation

/// A JSON value as Wisp writes it.
public indirect enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    /// An integer of any Swift integer type, as its exact decimal digits.
    case integer(String)
    /// A finite double (non-finite ones are refused when encoding).
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
}

/// Deterministic JSON with exact numbers: every output and checkpoint file of Wisp.
///
/// - Keys are sorted by their UTF-8 bytes at every level, so equal values give equal bytes in
///   every process (Foundation's dictionaries hash with a per-process seed).
/// - A `Double` is written as Swift's `description`, the shortest decimal string that parses
///   back to the same double (Steele & White / Ryū-style shortest round trip: `0.1`, `-0.0`,
///   `5e-324`, `1.7976931348623157e+308`, `3.0`), so every number reads back bit for bit
///   through `Double(String)`, `JSONDecoder` or `JSONSerialization`. A `Float` is written as
///   the double it converts to exactly.
/// - A non-finite number is never written: encoding throws `WispError.nonFinite` naming the
///   field by its coding path (`moments.trace is inf`), so no JSON with `inf`/`nan` exists.
/// - Strings escape only `"`, `\` and control characters (`/` stays as is).
///
/// Cost: one tree of the value (a few times its encoded size) and one pass to print it.
public enum CanonicalJSON {
    /// The value as a tree (throws on a non-finite number, naming its field).
    public static func value<T: Encodable>(_ value: T) throws -> JSONValue {
        let root = Node()
        let encoder = TreeEncoder(node: root, codingPath: [])
        try value.encode(to: encoder)
        return root.resolved()
    }

    /// The canonical bytes: compact (no whitespace) or pretty (two-space indent, one member per line).
    public static func encode<T: Encodable>(_ value: T, pretty: Bool = false) throws -> Data {
        Data(text(try self.value(value), pretty: pretty).utf8)
    }

    /// `value` with every object key rewritten from camelCase to snake_case (`peakMemoryKB` →
    /// `peak_memory_kb`, like Foundation's `.convertToSnakeCase`).
    public static func snakeCased(_ value: JSONValue) -> JSONValue {
        switch value {
        case .array(let items): return .array(items.map(snakeCased))
        case .object(let members):
            return .object(Dictionary(members.map { (snakeCase($0.key), snakeCased($0.value)) }, uniquingKeysWith: { a, _ in a }))
        default: return value
        }
    }

    static func snakeCase(_ key: String) -> String {
        let c = Array(key)
        var out = ""
        for (i, ch) in c.enumerated() {
            if ch.isUppercase, i > 0, c[i - 1].isLowercase || c[i - 1].isNumber || (c[i - 1].isUppercase && i + 1 < c.count && c[i + 1].isLowercase) {
                out += "_"
            }
            out += ch.lowercased()
        }
        return out
    }

    /// The text of a tree.
    public static func text(_ value: JSONValue, pretty: Bool = false) -> String {
        var out = ""
        write(value, into: &out, pretty: pretty, indent: 0)
        if pretty { out += "\n" }
        return out
    }

    /// The shortest decimal string that reads back as `x` (finite `x` only).
    public static func number(_ x: Double) -> String { x.description }

    /// The dotted path of a field (`layers[2].stable_rank`), for messages.
    public static func fieldName(_ path: [any CodingKey]) -> String {
        var s = ""
        for key in path {
            if let i = key.intValue, key.stringValue == "Index \(i)" || key.stringValue == "\(i)" { s += "[\(i)]" } else {
                s += (s.isEmpty ? "" : ".") + key.stringValue
            }
        }
        return s.isEmpty ? "the value" : s
    }

    /// Every leaf of a tree as (dotted path, text), in key order: what fingerprints compare.
    public static func leaves(_ value: JSONValue, prefix: String = "") -> [(path: String, text: String)] {
        switch value {
        case .object(let members):
            if members.isEmpty { return [(prefix, "{}")] }
            return sortedKeys(members).flatMap { leaves(members[$0]!, prefix: prefix.isEmpty ? $0 : prefix + "." + $0) }
        case .array(let items):
            if items.isEmpty { return [(prefix, "[]")] }
            return items.enumerated().flatMap { leaves($1, prefix: prefix + "[\($0)]") }
        default:
            return [(prefix, text(value))]
        }
    }

    static func sortedKeys(_ members: [String: JSONValue]) -> [String] {
        members.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    private static func write(_ value: JSONValue, into out: inout String, pretty: Bool, indent: Int) {
        switch value {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .integer(let digits): out += digits
        case .number(let x): out += number(x)
        case .string(let s): quote(s, into: &out)
        case .array(let items):
            if items.isEmpty { out += "[]"; return }
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                if pretty { out += "\n" + String(repeating: " ", count: 2 * (indent + 1)) }
                write(item, into: &out, pretty: pretty, indent: indent + 1)
            }
            if pretty { out += "\n" + String(repeating: " ", count: 2 * indent) }
            out += "]"
        case .object(let members):
            if members.isEmpty { out += "{}"; return }
            out += "{"
            for (i, key) in sortedKeys(members).enumerated() {
                if i > 0 { out += "," }
                if pretty { out += "\n" + String(repeating: " ", count: 2 * (indent + 1)) }
                quote(key, into: &out)
                out += pretty ? ": " : ":"
                write(members[key]!, into: &out, pretty: pretty, indent: indent + 1)
            }
            if pretty { out += "\n" + String(repeating: " ", count: 2 * indent) }
            out += "}"
        }
    }

    private static func quote(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

// MARK: - The Encoder

/// A node of the tree under construction: a leaf, or a keyed or unkeyed container whose
/// children may still be filled in (nested containers and `super` encoders share nodes).
private final class Node {
    enum Content { case empty, leaf(JSONValue), object([String: Node]), array([Node]) }
    var content: Content = .empty

    func resolved() -> JSONValue {
        switch content {
        case .empty: return .object([:])
        case .leaf(let v): return v
        case .object(let members): return .object(members.mapValues { $0.resolved() })
        case .array(let items): return .array(items.map { $0.resolved() })
        }
    }

    func member(_ key: String) -> Node {
        if case .object(var members) = content {
            if let n = members[key] { return n }
            let n = Node()
            members[key] = n
            content = .object(members)
            return n
        }
        let n = Node()
        content = .object([key: n])
        return n
    }

    func makeObject() { if case .object = content { return }; content = .object([:]) }
    func makeArray() { if case .array = content { return }; content = .array([]) }

    func append() -> Node {
        let n = Node()
        if case .array(var items) = content { items.append(n); content = .array(items) } else { content = .array([n]) }
        return n
    }

    var arrayCount: Int { if case .array(let items) = content { return items.count }; return 0 }
}

private struct IndexKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(_ i: Int) { stringValue = "\(i)"; intValue = i }
    init?(stringValue: String) { self.stringValue = stringValue; intValue = nil }
    init?(intValue: Int) { self.init(intValue) }
}

private struct SuperKey: CodingKey {
    var stringValue = "super"
    var intValue: Int? { nil }
    init() {}
    init?(stringValue: String) {}
    init?(intValue: Int) { nil }
}

/// Turns one primitive into a leaf, refusing non-finite numbers.
private func leaf(_ x: Double, _ path: [any CodingKey]) throws -> JSONValue {
    guard x.isFinite else {
        throw WispError.nonFinite("\(CanonicalJSON.fieldName(path)) is \(x) (non-finite results are errors; nothing was written)")
    }
    return .number(x)
}

private struct TreeEncoder: Encoder {
    let node: Node
    var codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        node.makeObject()
        return KeyedEncodingContainer(KeyedContainer<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        node.makeArray()
        return UnkeyedContainer(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { SingleContainer(node: node, codingPath: codingPath) }
}

/// Encodes any value into `node`: primitives directly (so Double never goes through a
/// Foundation number), everything else through its own `encode(to:)`.
private func encodeValue<T: Encodable>(_ value: T, into node: Node, path: [any CodingKey]) throws {
    switch value {
    case let x as Double: node.content = .leaf(try leaf(x, path))
    case let x as Float: node.content = .leaf(try leaf(Double(x), path))
    case let x as String: node.content = .leaf(.string(x))
    case let x as Bool: node.content = .leaf(.bool(x))
    case let x as any BinaryInteger: node.content = .leaf(.integer("\(x)"))
    case let x as Date: node.content = .leaf(.string(ISO8601DateFormatter().string(from: x)))
    case let x as URL: node.content = .leaf(.string(x.absoluteString))
    default: try value.encode(to: TreeEncoder(node: node, codingPath: path))
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: Node
    var codingPath: [any CodingKey]

    mutating func encodeNil(forKey key: Key) throws { node.member(key.stringValue).content = .leaf(.null) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try encodeValue(value, into: node.member(key.stringValue), path: codingPath + [key])
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let child = node.member(key.stringValue)
        child.makeObject()
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(node: child, codingPath: codingPath + [key]))
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let child = node.member(key.stringValue)
        child.makeArray()
        return UnkeyedContainer(node: child, codingPath: codingPath + [key])
    }
    mutating func superEncoder() -> any Encoder { TreeEncoder(node: node.member("super"), codingPath: codingPath + [SuperKey()]) }
    mutating func superEncoder(forKey key: Key) -> any Encoder {
        TreeEncoder(node: node.member(key.stringValue), codingPath: codingPath + [key])
    }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let node: Node
    var codingPath: [any CodingKey]
    var count: Int { node.arrayCount }

    mutating func encodeNil() throws { node.append().content = .leaf(.null) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        let path = codingPath + [IndexKey(count)]
        try encodeValue(value, into: node.append(), path: path)
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let path = codingPath + [IndexKey(count)]
        let child = node.append()
        child.makeObject()
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(node: child, codingPath: path))
    }
    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let path = codingPath + [IndexKey(count)]
        let child = node.append()
        child.makeArray()
        return UnkeyedContainer(node: child, codingPath: path)
    }
    mutating func superEncoder() -> any Encoder {
        let path = codingPath + [IndexKey(count)]
        return TreeEncoder(node: node.append(), codingPath: path)
    }
}

private struct SingleContainer: SingleValueEncodingContainer {
    let node: Node
    var codingPath: [any CodingKey]

    mutating func encodeNil() throws { node.content = .leaf(.null) }
    mutating func encode<T: Encodable>(_ value: T) throws { try encodeValue(value, into: node, path: codingPath) }
}

extension JSONValue: Decodable {
    /// Reads any JSON value (through `JSONDecoder`, whose doubles are correctly rounded).
    public init(from decoder: any Decoder) throws {
        if let c = try? decoder.container(keyedBy: AnyKey.self) {
            var members = [String: JSONValue]()
            for key in c.allKeys { members[key.stringValue] = try c.decode(JSONValue.self, forKey: key) }
            self = .object(members)
        } else if var c = try? decoder.unkeyedContainer() {
            var items = [JSONValue]()
            while !c.isAtEnd { items.append(try c.decode(JSONValue.self)) }
            self = .array(items)
        } else {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .null } else if let b = try? c.decode(Bool.self) { self = .bool(b) }
            else if let i = try? c.decode(Int64.self) { self = .integer(String(i)) }
            else if let x = try? c.decode(Double.self) { self = .number(x) }
            else { self = .string(try c.decode(String.self)) }
        }
    }
}

extension JSONValue: Encodable {
    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .null: var c = encoder.singleValueContainer(); try c.encodeNil()
        case .bool(let b): var c = encoder.singleValueContainer(); try c.encode(b)
        case .integer(let digits):
            var c = encoder.singleValueContainer()
            if let i = Int64(digits) { try c.encode(i) } else if let u = UInt64(digits) { try c.encode(u) } else { try c.encode(digits) }
        case .number(let x): var c = encoder.singleValueContainer(); try c.encode(x)
        case .string(let s): var c = encoder.singleValueContainer(); try c.encode(s)
        case .array(let items): var c = encoder.unkeyedContainer(); for item in items { try c.encode(item) }
        case .object(let members):
            var c = encoder.container(keyedBy: AnyKey.self)
            for (k, v) in members { try c.encode(v, forKey: AnyKey(k)) }
        }
    }

    fileprivate struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
