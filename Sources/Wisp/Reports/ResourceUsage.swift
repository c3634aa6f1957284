import Foundation

/// Process resource readings from /proc (Linux).
public enum ResourceUsage {
    /// Peak resident set size (VmHWM), in bytes; 0 where /proc is unavailable.
    public static func peakResidentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kb = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
            return kb * 1024
        }
        return 0
    }

    /// Bytes the kernel says can still be allocated (MemAvailable); nil if unknown.
    public static func availableBytes() -> Int? {
        guard let info = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        for line in info.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            return line.split(separator: " ").compactMap { Int($0) }.first.map { $0 * 1024 }
        }
        return nil
    }

    /// "1.23 GB"-style text.
    public static func format(bytes: Int) -> String {
        let b = Double(bytes)
        if b >= 1e9 { return String(format: "%.2f GB", b / 1e9) }
        return String(format: "%.0f MB", b / 1e6)
    }
}
