import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole-file writes that readers can never observe half done.
///
/// ``write(_:to:)`` writes the bytes to a temporary file `.<basename>.tmp-<pid>-<random>` in the
/// destination's own directory, `fsync`s and closes it, then `rename(2)`s it over the
/// destination. POSIX guarantees `rename` within one file system replaces the destination
/// atomically: every reader opens either the complete old file or the complete new one. The
/// temporary file must live in the same directory because `rename` cannot cross file systems.
///
/// If the destination is a symbolic link, the link itself is replaced, not its target. The new
/// file gets the default mode (0666 less the umask), not the mode of the file it replaces.
/// An existing destination that is not a regular file (a device node, a FIFO, a directory) is
/// never replaced. The path `-` (``OutputPath/standardOutput``) writes the bytes to stdout.
public enum AtomicFile {
    /// Replaces the file at `path` with `data`, atomically.
    ///
    /// On failure the temporary file is removed, the destination is left as it was, and the
    /// error is `WispError.output("cannot write <path>: <reason>")`.
    public static func write(_ data: Data, to path: String) throws {
        if OutputPath.isStandardOutput(path) {
            let code = writeAll(STDOUT_FILENO, data)
            guard code == 0 else { throw WispError.output("cannot write the JSON to standard output: \(reason(code))") }
            return
        }
        let (directory, basename) = split(path)
        guard !basename.isEmpty else {
            throw WispError.output("cannot write \(printable(path)): path names a directory, not a file")
        }
        var existing = stat()
        if stat(path, &existing) == 0, (existing.st_mode & S_IFMT) != S_IFREG {
            throw WispError.output("cannot write \(printable(path)): it exists and is not a regular file; Wisp replaces only regular files")
        }
        let temporary = temporaryPath(for: path, suffix: String(UInt64.random(in: 0 ... UInt64.max), radix: 16))

        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
        guard fd >= 0 else { throw failure(path, errno) }

        var code = writeAll(fd, data)
        if code == 0, fsync(fd) != 0 { code = errno }
        if close(fd) != 0, code == 0 { code = errno }
        if code == 0, rename(temporary, path) != 0 { code = errno }
        guard code == 0 else {
            unlink(temporary)
            throw failure(path, code)
        }
        syncDirectory(directory)
    }

    /// The temporary name ``write(_:to:)`` uses for `path`: `<dir>/.<basename, at most 128
    /// bytes>.tmp-<pid>-<suffix>` (the suffix is 16 random hex digits at most).
    static func temporaryPath(for path: String, suffix: String) -> String {
        let (directory, basename) = split(path)
        return directory + "/.\(shortened(basename)).tmp-\(getpid())-\(suffix)"
    }

    /// Creates the directory that will hold `path`, with any missing intermediate directories,
    /// like `mkdir -p "$(dirname path)"`. Existing directories are left alone.
    ///
    /// Throws `WispError.output("cannot create directory <dir>: <reason>")`.
    public static func createDirectory(forFile path: String) throws {
        let (directory, _) = split(path)
        var prefix = directory.hasPrefix("/") ? "/" : ""
        for component in directory.split(separator: "/") {
            prefix += component
            if mkdir(prefix, 0o777) != 0 {
                let code = errno
                guard code == EEXIST, isDirectory(prefix) else {
                    let reason = code == EEXIST ? "\(printable(prefix)) exists and is not a directory" : reason(code)
                    throw WispError.output("cannot create directory \(printable(directory)): \(reason)")
                }
            }
            prefix += "/"
        }
    }

    /// Reads the whole file at `path`, a regular file (``InputFile/openRegular(_:)``: never a
    /// device or a FIFO, and only if its size fits in memory). Paired with ``write(_:to:)``, the bytes are always one
    /// complete version of the file.
    ///
    /// Throws `WispError.badInput("<path>: cannot read: <reason>")`.
    static func read(path: String) throws -> Data {
        let (fd, size) = try InputFile.openRegular(path)
        defer { close(fd) }

        var data = Data(count: size + 1)
        var filled = 0
        while true {
            if filled == data.count { data.count += 1 << 16 }
            let count = data.withUnsafeMutableBytes { (raw: UnsafeMutableRawBufferPointer) -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return posixRead(fd, base + filled, raw.count - filled)
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw readFailure(path, errno)
            }
            if count == 0 { break }
            filled += count
        }
        data.count = filled
        return data
    }

    // MARK: - Helpers

    /// Splits a path into its directory ("." for a bare file name) and its last component.
    private static func split(_ path: String) -> (directory: String, basename: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let directory = String(path[..<slash])
        return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
    }

    /// The basename cut to at most 128 UTF-8 bytes, on a scalar boundary, so the temporary name
    /// stays under the 255-byte `NAME_MAX` even when the destination's own name is close to it.
    private static func shortened(_ basename: String) -> String {
        var result = String.UnicodeScalarView()
        var bytes = 0
        for scalar in basename.unicodeScalars {
            bytes += UTF8.width(scalar)
            if bytes > 128 { break }
            result.append(scalar)
        }
        return String(result)
    }

    /// Writes every byte of `data`, retrying short writes and `EINTR`. Returns 0 or an errno.
    private static func writeAll(_ fd: Int32, _ data: Data) -> Int32 {
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Int32 in
            guard let base = raw.baseAddress else { return 0 }
            var offset = 0
            while offset < raw.count {
                let written = posixWrite(fd, base + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                if written == 0 { return EIO }
                offset += written
            }
            return 0
        }
    }

    /// Makes the rename durable across a crash. Best effort: some file systems refuse
    /// `fsync` on directories, and the rename has already succeeded.
    private static func syncDirectory(_ directory: String) {
        let fd = open(directory, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    private static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    private static func reason(_ code: Int32) -> String {
        String(cString: strerror(code))
    }

    private static func failure(_ path: String, _ code: Int32) -> WispError {
        .output("cannot write \(printable(path)): \(reason(code))")
    }

    private static func readFailure(_ path: String, _ code: Int32) -> WispError {
        .badInput("\(printable(path)): cannot read: \(reason(code))")
    }
}

/// The C `read` and `write`, reachable by name inside ``AtomicFile``, whose own `read` and
/// `write` shadow them.
private func posixRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(fd, buffer, count)
}

private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}
