import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Checks made before any computation, so a run never spends an hour and then fails to write,
/// and never replaces something that is not its own output.
///
/// ``check(_:standardOutput:inputs:)`` refuses, before anything is computed, every output path
/// that ``AtomicFile/write(_:to:)`` would later fail on or should not touch:
/// - an empty path, or one ending in `/` (a directory, not a file);
/// - a path longer than `PATH_MAX − 1` = 4095 bytes, or with a component longer than
///   `NAME_MAX` = 255 bytes (also for the temporary name the atomic write uses);
/// - an existing target that is not a regular file (a directory, a device node such as
///   `/dev/null`, a FIFO, a socket): the rename would replace it;
/// - a target that is the same file (same device and inode, whatever the spelling or links)
///   as one of the run's input files;
/// - a parent directory that is not a directory or cannot be written (proved with a probe
///   file of the temporary name's length, removed at once; missing parents are proved through
///   their deepest existing ancestor and created only when the file is written).
///
/// `-` names standard output: allowed for a command's JSON record only (`standardOutput:
/// true`); the JSON is then written to stdout and the summary to stderr.
///
/// All path handling is on bytes (`/`-separated), not Foundation's `NSString` path methods,
/// which trap on one-character names on Linux.
public enum OutputPath {
    /// The path that means "the JSON on standard output".
    public static let standardOutput = "-"

    /// `NAME_MAX` and `PATH_MAX − 1` of Linux (and of every POSIX system Wisp runs on).
    public static let nameMax = 255, pathMax = 4095

    /// Whether `path` names standard output.
    public static func isStandardOutput(_ path: String) -> Bool { path == standardOutput }

    /// Refuses `path` (see the type's documentation) unless it can be written as a new regular
    /// file that is none of `inputs`. Creates nothing. Cost: a few system calls.
    public static func check(_ path: String, standardOutput: Bool = false, inputs: [String] = []) throws {
        if isStandardOutput(path) {
            guard standardOutput else {
                throw WispError.output("cannot write -: standard output takes only a command's JSON record (\(Setting.output) -); give a file name")
            }
            return
        }
        try checkName(path)
        let shown = printable(path)
        var info = stat()
        if stat(path, &info) == 0 {
            let kind = info.st_mode & S_IFMT
            if kind == S_IFDIR { throw WispError.output("cannot write \(shown): it is a directory") }
            guard kind == S_IFREG else {
                throw WispError.output("cannot write \(shown): it is \(describe(kind)), not a regular file; Wisp replaces only regular files")
            }
            for input in inputs {
                var other = stat()
                if stat(input, &other) == 0, other.st_dev == info.st_dev, other.st_ino == info.st_ino {
                    throw WispError.output("cannot write \(shown): it is the same file as the input \(printable(input))")
                }
            }
        }
        // The deepest existing ancestor must be a writable directory; the missing ones are
        // created when the file is written, not here (a refused run leaves nothing behind).
        var directory = self.directory(of: path)
        var existing = true
        while true {
            var d = stat()
            if stat(directory, &d) == 0 {
                guard (d.st_mode & S_IFMT) == S_IFDIR else {
                    throw WispError.output("cannot write \(shown): \(printable(directory)) exists and is not a directory")
                }
                break
            }
            let code = errno
            guard code == ENOENT, directory != "/", directory != "." else {
                throw WispError.output("cannot write \(shown): \(printable(directory)): \(String(cString: strerror(code)))")
            }
            existing = false
            directory = self.directory(of: directory)
        }
        let probe = existing ? AtomicFile.temporaryPath(for: path, suffix: "check") : directory + "/.wisp-write-check-\(getpid())"
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let code = errno
            throw WispError.output("cannot write \(shown): directory \(printable(directory)) is not writable (\(String(cString: strerror(code))))")
        }
        close(fd)
        unlink(probe)
    }

    /// Refuses a directory path the run will create and fill (`--output-dir`, `--checkpoint`):
    /// too long, a component over `NAME_MAX`, an existing non-directory, not creatable or not
    /// writable. Creates nothing.
    public static func checkDirectory(_ path: String) throws {
        let trimmed = path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path
        guard !trimmed.isEmpty else { throw WispError.output("the output directory path is empty") }
        guard !isStandardOutput(trimmed) else { throw WispError.output("cannot use - as a directory: standard output takes only \(Setting.output)'s JSON") }
        // Files inside it have names of at most ~40 bytes (models/step-N.safetensors, a temporary name).
        try checkName(trimmed + "/" + String(repeating: "x", count: 64))
        var info = stat()
        if stat(trimmed, &info) == 0, (info.st_mode & S_IFMT) != S_IFDIR {
            throw WispError.output("cannot use \(printable(trimmed)) as a directory: it exists and is not a directory")
        }
        try check(trimmed + "/.wisp-directory-check")
    }

    /// The lengths: the path, each component, and the temporary name of the atomic write.
    private static func checkName(_ path: String) throws {
        guard !path.isEmpty else { throw WispError.output("the output path is empty") }
        let shown = printable(path.utf8.count > 200 ? String(path.prefix(80)) + "…" : path)
        guard !path.hasSuffix("/") else {
            throw WispError.output("cannot write \(shown): the name ends in / (a directory); give a file name")
        }
        guard !path.utf8.contains(0) else { throw WispError.output("cannot write \(shown): the name contains a NUL byte") }
        for component in path.split(separator: "/") where component.utf8.count > nameMax {
            throw WispError.output("cannot write \(shown): the name component of \(component.utf8.count) bytes exceeds NAME_MAX = \(nameMax) bytes")
        }
        let longest = max(path.utf8.count, AtomicFile.temporaryPath(for: path, suffix: String(repeating: "f", count: 16)).utf8.count)
        guard longest <= pathMax else {
            throw WispError.output("cannot write \(shown): the path (with the temporary name of its atomic write, \(longest) bytes) exceeds PATH_MAX = \(pathMax + 1) bytes")
        }
    }

    /// The directory part of `path` ("." for a bare name, "/" for a file at the root).
    public static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let directory = String(path[..<slash])
        return directory.isEmpty ? "/" : directory
    }

    /// `path` with its extension replaced (density.json → density.csv; a name without an
    /// extension gets one: out → out.csv). Pure string work on the last component.
    public static func sibling(of path: String, extension ext: String) -> String {
        let nameStart = path.lastIndex(of: "/").map { path.index(after: $0) } ?? path.startIndex
        let name = path[nameStart...]
        if let dot = name.lastIndex(of: "."), dot != name.startIndex {
            return String(path[..<dot]) + "." + ext
        }
        return path + "." + ext
    }

    private static func describe(_ kind: mode_t) -> String {
        switch kind {
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFIFO: return "a FIFO (named pipe)"
        case S_IFSOCK: return "a socket"
        default: return "a special file"
        }
    }
}
