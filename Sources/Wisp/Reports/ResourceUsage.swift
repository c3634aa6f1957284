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

    /// The processes of this job that share this node's memory (set once at start-up by the
    /// CLI from the MPI launch; 1 without MPI). The node's available memory and its cgroup
    /// limit are split evenly between them: each rank may take its share, so several ranks on
    /// one node cannot together exceed what the node has.
    nonisolated(unsafe) public static var processesSharingMemory = 1

    private static func limits() -> [(bytes: Int, source: String)] {
        var result: [(Int, String)] = []
        let share = max(processesSharingMemory, 1)
        let shared = share > 1 ? ", shared by the \(share) processes of this job on this node" : ""
        if let info = read("/proc/meminfo") {
            for line in info.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
                if let kb = line.split(separator: " ").compactMap({ Int($0) }).first { result.append((kb * 1024 / share, "MemAvailable" + shared)) }
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
            result.append((max(cap - used, 0) / share, "cgroup memory limit" + shared))
            break
        }
        return result
    }

    /// Why this process cannot even start its BLAS under the address-space limit, or nil.
    ///
    /// OpenBLAS maps a 128 MB work buffer for each of its threads (the workers at load time,
    /// the main thread at its first call) and, when `mmap` fails, retries forever: under
    /// `ulimit -v 200000` a run spins without end, and exiting joins the spinning worker. The
    /// thresholds measured on x86-64 Linux (OpenBLAS 0.3, Swift 6) are ≈ 270 MB for one thread
    /// and ≈ 405 MB for two, i.e. ≈ 140 MB + 128 MB per thread; Wisp asks for 160 MB + 128 MB per
    /// thread (`openblas_get_num_threads`) before anything else, and a limit below it is one
    /// error line (the caller must leave with `_exit`, since the exit handlers would wait for the
    /// stuck thread).
    public static func addressSpaceShortfall() -> String? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_AS.rawValue), &limit) == 0, limit.rlim_cur < UInt64(Int.max) else { return nil }
        var threads = 1
        if let symbol = dlsym(nil, "openblas_get_num_threads") {
            let f = unsafeBitCast(symbol, to: (@convention(c) () -> Int32).self)
            threads = max(Int(f()), 1)
        }
        let needed = (160 + 128 * threads) << 20
        guard Int(limit.rlim_cur) < needed else { return nil }
        return "the address-space limit (ulimit -v) of \(Int(limit.rlim_cur) >> 10) kB is below the \(needed >> 10) kB that the BLAS needs to start its \(threads) thread\(threads == 1 ? "" : "s") (160 MB + 128 MB per thread); raise the limit or set OPENBLAS_NUM_THREADS=1"
    }

    /// A "kB" field of /proc/self/status, in bytes.
    private static func statusField(_ name: String) -> Int? {
        guard let status = read("/proc/self/status") else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix(name) {
            // "VmHWM:\t10274120 kB": a tab, and no space once the number has 8 digits (≥ 10 GB).
            return line.split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { Int($0) }.first.map { $0 * 1024 }
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
