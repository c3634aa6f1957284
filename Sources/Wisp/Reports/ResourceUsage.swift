import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Process resource readings from /proc, getrlimit and the cgroup files (Linux).
public enum ResourceUsage {
    /// Peak resident set size (VmHWM), in bytes; 0 where /proc is unavailable.
    public static func peakResidentBytes() -> Int {
        statusField("VmHWM:") ?? 0
    }

    /// Bytes this process can still allocate: the least of the kernel's MemAvailable, the
    /// address-space limit (`ulimit -v`, RLIMIT_AS) less the current virtual size (VmSize), and
    /// the cgroup memory limit (v2 `memory.max`, v1 `memory.limit_in_bytes`) less its usage;
    /// nil when none is known.
    public static func availableBytes() -> Int? {
        limits().map(\.bytes).min()
    }

    /// Which limit ``availableBytes()`` is (for error messages).
    public static func availableSource() -> String {
        limits().min { $0.bytes < $1.bytes }?.source ?? "unknown"
    }

    private static func limits() -> [(bytes: Int, source: String)] {
        var result: [(Int, String)] = []
        if let info = read("/proc/meminfo") {
            for line in info.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
                if let kb = line.split(separator: " ").compactMap({ Int($0) }).first { result.append((kb * 1024, "MemAvailable")) }
            }
        }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_AS.rawValue), &limit) == 0, limit.rlim_cur < UInt64(Int.max) {
            let used = statusField("VmSize:") ?? 0
            result.append((max(Int(limit.rlim_cur) - used, 0), "address-space limit (ulimit -v) less the \(format(bytes: used)) already mapped"))
        }
        for (maxFile, usageFile) in [("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                     ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")] {
            guard let text = read(maxFile)?.trimmingCharacters(in: .whitespacesAndNewlines), let cap = Int(text),
                  cap < 1 << 60 else { continue }
            let used = read(usageFile).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
            result.append((max(cap - used, 0), "cgroup memory limit"))
            break
        }
        return result
    }

    /// A "kB" field of /proc/self/status, in bytes.
    private static func statusField(_ name: String) -> Int? {
        guard let status = read("/proc/self/status") else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix(name) {
            return line.split(separator: " ").compactMap { Int($0) }.first.map { $0 * 1024 }
        }
        return nil
    }

    private static func read(_ path: String) -> String? {
        try? String(contentsOfFile: path, encoding: .utf8)
    }

    /// "1.23 GB"-style text.
    public static func format(bytes: Int) -> String {
        let b = Double(bytes)
        if b >= 1e9 { return String(format: "%.2f GB", b / 1e9) }
        return String(format: "%.0f MB", b / 1e6)
    }
}
