#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes of summary and progress lines that can fail without stopping the run.
///
/// Foundation's `FileHandle.write` traps when the write fails (stdout redirected to
/// `/dev/full`, a closed descriptor `>&-`, a pipe whose reader has gone, `| head -1`); a run
/// must not die for a lost progress line, nor lose its result files. This writes with
/// `write(2)`, retries short writes and `EINTR`, and returns the reason of a failure instead.
/// With SIGPIPE ignored (the executable does that first), a closed pipe is the error `EPIPE`.
public enum StandardStream {
    /// Writes all of `text` to `fd`; nil on success, else the reason (strerror).
    @discardableResult
    public static func write(_ text: String, to fd: Int32) -> String? {
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBytes { raw -> String? in
            guard let base = raw.baseAddress else { return nil }
            var offset = 0
            while offset < raw.count {
                let n = posixWrite(fd, base + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return String(cString: strerror(errno))
                }
                if n == 0 { return "nothing written" }
                offset += n
            }
            return nil
        }
    }

    /// Ignores SIGPIPE, so a write to a closed pipe fails with `EPIPE` instead of killing the
    /// process (the executable calls this before anything else).
    public static func ignoreBrokenPipes() {
        signal(SIGPIPE, SIG_IGN)
    }
}

private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}
