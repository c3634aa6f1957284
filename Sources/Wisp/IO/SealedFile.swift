import Foundation

/// Checkpoint files that cannot be trusted by mistake: each carries the SHA-256 of its own
/// bytes and the full ``RunFingerprint`` of the run that wrote it, both verified before any
/// of its numbers is used, and each is written atomically (``AtomicFile``).
///
/// The checksum is stored in the file as `sha256:<64 hex digits>`, the first such text in the
/// file (within its first 4096 bytes): the digest is that of the whole file with those 64
/// digits replaced by zeros. Two layouts:
///
/// - JSON: `{"checksum":"sha256:…","content":<value>,"fingerprint":"<text>"}`, canonical
///   (``CanonicalJSON``: sorted keys, exact doubles).
/// - safetensors: the metadata keys `_checksum` (first in the header) and `fingerprint`.
///
/// A file whose checksum does not match (a changed digit, a truncation), that lacks one, or
/// whose fingerprint differs from the run's (a file copied from another configuration) is
/// refused with one error naming it: Wisp never recomputes silently over it, and never uses it.
/// Cost: one SHA-256 pass over the file on each write and read.
public enum SealedFile {
    static let tag = "sha256:"
    static let placeholder = String(repeating: "0", count: 64)
    /// The metadata key of the checksum in a safetensors file.
    static let checksumKey = "_checksum"
    static let fingerprintKey = "fingerprint"

    private struct Envelope<Content: Encodable>: Encodable {
        var checksum: String
        var content: Content
        var fingerprint: String
    }

    private struct ReadEnvelope<Content: Decodable>: Decodable {
        var checksum: String
        var content: Content
        var fingerprint: String
    }

    // MARK: JSON

    /// Writes `content` with its checksum and `fingerprint` to `path`, atomically.
    public static func writeJSON<Content: Encodable>(_ content: Content, fingerprint: RunFingerprint, to path: String) throws {
        let data = try CanonicalJSON.encode(Envelope(checksum: tag + placeholder, content: content, fingerprint: fingerprint.text))
        try AtomicFile.write(seal(data, name: path), to: path)
    }

    /// Reads and verifies a file written by ``writeJSON(_:fingerprint:to:)``: the checksum,
    /// then the fingerprint, then decodes the content.
    public static func readJSON<Content: Decodable>(_ type: Content.Type, from path: String, fingerprint: RunFingerprint) throws -> Content {
        let data = try AtomicFile.read(path: path)
        try verify(data, name: path)
        let envelope: ReadEnvelope<Content>
        do { envelope = try JSONDecoder().decode(ReadEnvelope<Content>.self, from: data) } catch {
            throw corrupt(path, "its content is not what this file holds")
        }
        try check(envelope.fingerprint, against: fingerprint, name: path)
        return envelope.content
    }

    // MARK: safetensors

    /// Writes `file` with its checksum and `fingerprint` in the metadata, atomically.
    public static func writeSafeTensors(_ file: SafeTensorsFile, fingerprint: RunFingerprint, to path: String) throws {
        var file = file
        file.metadata[checksumKey] = tag + placeholder
        file.metadata[fingerprintKey] = fingerprint.text
        try AtomicFile.write(seal(file.encoded(), name: path), to: path)
    }

    /// Reads and verifies a file written by ``writeSafeTensors(_:fingerprint:to:)``.
    public static func readSafeTensors(from path: String, fingerprint: RunFingerprint) throws -> SafeTensorsFile {
        let data = try AtomicFile.read(path: path)
        try verify(data, name: path)
        let file = try SafeTensorsFile.decode(data, name: path)
        guard file.metadata[checksumKey] != nil, let stored = file.metadata[fingerprintKey] else {
            throw corrupt(path, "it lacks its checksum or fingerprint")
        }
        try check(stored, against: fingerprint, name: path)
        return file
    }

    // MARK: Checksums

    /// `data` (holding `sha256:` + 64 zeros) with the zeros replaced by the digest of `data`.
    static func seal(_ data: Data, name: String) throws -> Data {
        guard let range = checksumRange(data) else { throw WispError.output("cannot write \(printable(name)): no checksum field") }
        var bytes = [UInt8](data)
        let digest = Array(SHA256.hex(bytes).utf8)
        bytes.replaceSubrange(range, with: digest)
        return Data(bytes)
    }

    /// Throws unless `data` holds a checksum equal to the digest of `data` with it zeroed.
    static func verify(_ data: Data, name: String) throws {
        guard let range = checksumRange(data) else { throw corrupt(name, "it has no checksum (not a Wisp checkpoint, or truncated)") }
        var bytes = [UInt8](data)
        let stored = Array(bytes[range])
        guard stored.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            throw corrupt(name, "its checksum is not 64 hexadecimal digits")
        }
        bytes.replaceSubrange(range, with: Array(placeholder.utf8))
        guard Array(SHA256.hex(bytes).utf8) == stored else { throw corrupt(name, "its SHA-256 does not match its content") }
    }

    /// Where the 64 digits after the first `sha256:` in the first 4096 bytes are.
    private static func checksumRange(_ data: Data) -> Range<Int>? {
        let bytes = [UInt8](data.prefix(4096 + 64))
        let t = Array(tag.utf8)
        guard bytes.count >= t.count + 64 else { return nil }
        for i in 0...min(4096, bytes.count - t.count - 64) where bytes[i] == t[0] && Array(bytes[i..<(i + t.count)]) == t {
            return (i + t.count)..<(i + t.count + 64)
        }
        return nil
    }

    private static func check(_ stored: String, against fingerprint: RunFingerprint, name: String) throws {
        if let difference = fingerprint.difference(from: stored) {
            throw WispError.invalidConfiguration(
                "checkpoint file \(printable(name)) belongs to a different run: \(difference) (use another \(Setting.checkpoint) directory)")
        }
    }

    private static func corrupt(_ name: String, _ why: String) -> WispError {
        .badInput("checkpoint file \(printable(name)) is corrupt: \(why); it was not used (delete it or the directory to start over)")
    }
}
