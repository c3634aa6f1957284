import CZlib
import Foundation

/// Gzip-compressed files (RFC 1952), inflated with zlib: the MNIST and Fashion-MNIST
/// distributions ship their IDX files as `train-images-idx3-ubyte.gz` etc. The only Swift file
/// that calls zlib.
///
/// A file is gzip when it starts with the magic bytes 1f 8b (the name does not matter).
/// ``inflate(path:declaredLength:)`` streams the compressed bytes (memory-mapped) through
/// `inflate` and writes the output into one buffer whose size the caller's format header
/// declares, read from the first inflated bytes; that size is checked against the memory the
/// process may still allocate (``MemoryBudget``) before the buffer is made. So a file never
/// takes more memory than its header allows, and a stream that inflates to more than the
/// header declares (a "gzip bomb" whose header lies) is stopped one byte past the declared size.
///
/// Members: gzip allows several members one after another (`cat a.gz b.gz`); their outputs are
/// concatenated, as `gunzip` does. zlib checks each member's CRC-32 and length (ISIZE).
/// Anything after the last member that is not another member is an error, as is a truncated
/// or corrupt stream: one line naming the file.
///
/// Cost: one pass over the compressed and the inflated bytes (zlib inflates at a few hundred
/// MB/s); memory: the inflated size, plus zlib's 32 KiB window.
public enum Gzip {
    /// Whether `prefix` starts with the gzip magic 1f 8b.
    public static func isGzip(_ prefix: some Collection<UInt8>) -> Bool {
        prefix.count >= 2 && prefix.first == 0x1F && prefix.dropFirst().first == 0x8B
    }

    /// Whether the file at `path` starts with the gzip magic (false when it cannot be read:
    /// the format's own reader reports that).
    public static func isGzip(path: String) -> Bool {
        guard let (fd, _) = try? InputFile.openRegular(path, holdInMemory: false) else { return false }
        defer { close(fd) }
        var magic: [UInt8] = [0, 0]
        let count = magic.withUnsafeMutableBytes { read(fd, $0.baseAddress, 2) }
        return count == 2 && isGzip(magic)
    }

    /// The largest header the inflated prefix may need before its declared length is known.
    public static let maximumHeaderBytes = 4096

    /// Inflates the gzip file at `path` into a buffer of exactly the length the inflated
    /// content declares.
    ///
    /// - Parameter declaredLength: given the first inflated bytes (more with each call) and
    ///   whether they are all there is, returns the total inflated length the content's header
    ///   declares, or nil while it needs more bytes (at most ``maximumHeaderBytes``); throws
    ///   when the header is invalid (with the whole, short content it must throw or answer).
    /// - Throws: `WispError.badInput("<path>: …")` for a corrupt, truncated, too-long or
    ///   trailing-garbage stream; `WispError.invalidConfiguration` when the declared length
    ///   does not fit in memory.
    public static func inflate(path: String, declaredLength: (_ prefix: [UInt8], _ complete: Bool) throws -> Int?) throws -> Data {
        try InputFile.requireRegular(path)
        let compressed: Data
        do { compressed = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
            throw WispError.badInput("\(printable(path)): cannot read: \(error.localizedDescription)")
        }
        return try compressed.withUnsafeBytes { try inflate($0, name: path, declaredLength: declaredLength) }
    }

    /// ``inflate(path:declaredLength:)`` on bytes in memory; `name` prefixes errors.
    public static func inflate(_ input: UnsafeRawBufferPointer, name: String,
                               declaredLength: (_ prefix: [UInt8], _ complete: Bool) throws -> Int?) throws -> Data {
        func fail(_ problem: String) -> WispError { .badInput("\(printable(name)): \(problem)") }
        guard isGzip(input) else { throw fail("not a gzip file (no magic bytes 1f 8b)") }
        var stream = z_stream()
        guard wisp_inflate_init_gzip(&stream) == Z_OK else { throw fail("cannot inflate: zlib failed to initialize") }
        defer { inflateEnd(&stream) }

        var consumed = 0          // compressed bytes handed to zlib and used
        var members = 1
        /// One `inflate` call writing at most `capacity` bytes to `out`; returns (written, ended).
        func step(_ out: UnsafeMutableRawPointer, capacity: Int) throws -> (written: Int, ended: Bool) {
            let chunk = min(input.count - consumed, Int(UInt32.max))
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress!.assumingMemoryBound(to: UInt8.self) + consumed)
            stream.avail_in = UInt32(chunk)
            stream.next_out = out.assumingMemoryBound(to: UInt8.self)
            stream.avail_out = UInt32(min(capacity, Int(UInt32.max)))
            let before = stream.avail_out
            let status = CZlib.inflate(&stream, Z_NO_FLUSH)
            consumed += chunk - Int(stream.avail_in)
            let written = Int(before - stream.avail_out)
            switch status {
            case Z_OK: return (written, false)
            case Z_STREAM_END:
                let rest = input.count - consumed
                if rest == 0 { return (written, true) }
                // Another member follows (multi-member gzip is legal: concatenate), or garbage.
                guard rest >= 2, input[consumed] == 0x1F, input[consumed + 1] == 0x8B else {
                    throw fail("\(rest) bytes after the end of gzip member \(members) are not another gzip member (trailing garbage)")
                }
                guard inflateReset(&stream) == Z_OK else { throw fail("cannot inflate gzip member \(members + 1)") }
                members += 1
                return (written, false)
            case Z_BUF_ERROR:
                // No progress possible: either the output is full (the caller's business) or the input ran out.
                if consumed == input.count, written == 0, capacity > 0 {
                    throw fail("truncated: the gzip stream ends inside member \(members) (after \(stream.total_out) bytes of its output)")
                }
                return (written, false)
            case Z_DATA_ERROR:
                let reason = stream.msg.map { String(cString: $0) } ?? "invalid data"
                throw fail("corrupt gzip data in member \(members): \(reason)")
            case Z_MEM_ERROR: throw WispError.invalidConfiguration("\(printable(name)): zlib ran out of memory inflating it")
            default: throw fail("cannot inflate: zlib error \(status)")
            }
        }

        // 1. The header: inflate into a small buffer until the declared length is known.
        var prefix = [UInt8]()
        var scratch = [UInt8](repeating: 0, count: 512)
        var ended = false
        var total: Int? = nil
        while total == nil {
            if !ended {
                let room = min(scratch.count, maximumHeaderBytes - prefix.count)
                let (written, end) = try scratch.withUnsafeMutableBytes { try step($0.baseAddress!, capacity: room) }
                prefix += scratch.prefix(written)
                ended = end
                if written == 0, !end, consumed == input.count {
                    throw fail("truncated: the gzip stream ends inside member \(members)")
                }
            }
            total = try declaredLength(prefix, ended)
            if total == nil, ended || prefix.count >= maximumHeaderBytes {
                throw fail("its inflated content has no complete header in its first \(prefix.count) bytes")
            }
        }
        let length = total!
        guard prefix.count <= length else {
            throw fail("inflates to more than the \(length) bytes its header declares (at least \(prefix.count))")
        }
        try MemoryBudget.require(length, for: "inflating \(printable(name)) (its header declares \(length) bytes)")

        // 2. The rest, straight into a buffer of the declared length.
        var data = Data(count: length)
        try data.withUnsafeMutableBytes { out in
            if !prefix.isEmpty { out.copyBytes(from: prefix) }
            var filled = prefix.count
            while !ended, filled < length {
                let (written, end) = try step(out.baseAddress! + filled, capacity: length - filled)
                filled += written
                ended = end
                if written == 0, !end, consumed == input.count {
                    throw fail("truncated: the gzip stream ends inside member \(members) after \(filled) of the \(length) bytes its header declares")
                }
            }
            if filled < length {
                throw fail("truncated: it inflates to \(filled) bytes but its header declares \(length)")
            }
            // Full: the stream must end here (trying one byte more tells a lying header).
            var probe: UInt8 = 0
            while !ended {
                let (written, end) = try step(&probe, capacity: 1)
                ended = end
                if written > 0 { throw fail("inflates to more than the \(length) bytes its header declares") }
                if !end, consumed == input.count {
                    throw fail("truncated: the gzip stream ends inside member \(members) (its CRC-32 and length trailer are missing)")
                }
            }
        }
        return data
    }
}
