import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The one way Wisp opens a file it reads (data, models, checkpoints): only regular files.
///
/// `open(2)` with `O_NONBLOCK`, so that a FIFO without a writer cannot block the open, then
/// `fstat(2)` on the descriptor (no race between the check and the read): anything but a
/// regular file (`/dev/zero`, `/dev/urandom`, a FIFO, a socket, a directory) is refused
/// before a single byte is read, so no read can run forever or block. The size comes from the
/// same `fstat` and is checked against the memory the process may still allocate
/// (``MemoryBudget``) before a buffer of that size is made.
public enum InputFile {
    /// Opens `path` read-only if it is a regular file; returns the descriptor (the caller
    /// closes it; `O_NONBLOCK` is cleared again) and the size in bytes.
    ///
    /// Throws `WispError.badInput("<path>: cannot read: <reason>")`.
    public static func openRegular(_ path: String, holdInMemory: Bool = true) throws -> (fd: Int32, size: Int) {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw failure(path, String(cString: strerror(errno))) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let code = errno
            close(fd)
            throw failure(path, String(cString: strerror(code)))
        }
        let kind = info.st_mode & S_IFMT
        guard kind == S_IFREG else {
            close(fd)
            throw failure(path, kindDescription(kind) + "; Wisp reads only regular files")
        }
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0 { _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) }
        let size = max(Int(exactly: info.st_size) ?? Int.max, 0)
        if holdInMemory {
            do { try MemoryBudget.require(size, for: "reading \(printable(path))") } catch {
                close(fd)
                throw error
            }
        }
        return (fd, size)
    }

    /// Checks that `path` is a regular file (see ``openRegular(_:holdInMemory:)``) without
    /// keeping it open; for readers that memory-map the file and page in only what they use.
    /// Returns its size.
    @discardableResult
    public static func requireRegular(_ path: String) throws -> Int {
        let (fd, size) = try openRegular(path, holdInMemory: false)
        close(fd)
        return size
    }

    static func kindDescription(_ kind: mode_t) -> String {
        switch kind {
        case S_IFDIR: return "it is a directory"
        case S_IFCHR: return "it is a character device"
        case S_IFBLK: return "it is a block device"
        case S_IFIFO: return "it is a FIFO (named pipe)"
        case S_IFSOCK: return "it is a socket"
        default: return "it is not a regular file"
        }
    }

    private static func failure(_ path: String, _ reason: String) -> WispError {
        .badInput("\(printable(path)): cannot read: \(reason)")
    }
}
