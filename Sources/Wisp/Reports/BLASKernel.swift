import Foundation

/// The OpenBLAS kernel set this process runs on, and the fix for an OpenBLAS too old for its CPU.
///
/// OpenBLAS built with DYNAMIC_ARCH picks its kernels (GEMM micro-kernels and blockings) at load
/// time from the CPU model, or from `OPENBLAS_CORETYPE`. A release older than the CPU does not
/// know its model number and falls back to the oldest x86-64 kernels ("Prescott", SSE3): Debian
/// 12's OpenBLAS 0.3.21 does this on recent Xeons (family 6, model 207), where dgemm then runs at
/// 17 GFLOP/s instead of 109 (SkylakeX kernels, AVX-512; measured on 2 cores, bench/README).
/// Newer OpenBLAS releases fall back by CPU features instead; ``relaunchIfGeneric(arguments:)``
/// does the same for older ones: it restarts the program with `OPENBLAS_CORETYPE` set to the
/// best kernel set the CPU's flags allow. An `OPENBLAS_CORETYPE` the user set is never changed.
public enum BLASKernel {
    /// The environment variable that marks a relaunched process (and stops a second relaunch);
    /// its value is the kernel OpenBLAS chose by itself.
    public static let relaunchMarker = "WISP_OPENBLAS_FALLBACK"

    /// The kernel set OpenBLAS runs (`openblas_get_corename`), or nil without OpenBLAS.
    public static var current: String? {
        guard let symbol = dlsym(nil, "openblas_get_corename") else { return nil }
        let f = unsafeBitCast(symbol, to: (@convention(c) () -> UnsafePointer<CChar>?).self)
        return f().map { String(cString: $0) }
    }

    /// What the record says about the kernel: its name, and how it was chosen.
    public static var description: String {
        let name = current ?? "unknown (not OpenBLAS)"
        let env = ProcessInfo.processInfo.environment
        if let original = env[relaunchMarker], let chosen = env["OPENBLAS_CORETYPE"] {
            return "\(name) (OPENBLAS_CORETYPE=\(chosen) set by Wisp: OpenBLAS fell back to \(original) on this CPU)"
        }
        if let set = env["OPENBLAS_CORETYPE"] { return "\(name) (OPENBLAS_CORETYPE=\(set))" }
        return name
    }

    /// The vector instruction level of an OpenBLAS kernel set name (lower case): 0 SSE-era
    /// generic kernels, 1 AVX, 2 AVX2 + FMA, 3 AVX-512; nil for names this table does not rank.
    static func level(kernel: String) -> Int? {
        switch kernel.lowercased() {
        case "prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "katmai", "coppermine", "northwood",
             "banias", "opteron", "opteron_sse3", "barcelona", "bobcat": return 0
        case "sandybridge", "bulldozer", "piledriver", "steamroller", "excavator": return 1
        case "haswell", "zen", "skylake": return 2
        case "skylakex", "cooperlake", "sapphirerapids": return 3
        default: return nil
        }
    }

    /// The best kernel set for a CPU with these `/proc/cpuinfo` flags, and its level: SkylakeX
    /// needs AVX-512 F, CD, BW, DQ and VL; Haswell needs AVX2 and FMA.
    static func best(flags: Set<Substring>) -> (name: String, level: Int)? {
        if ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"].allSatisfy({ flags.contains($0) }) { return ("SkylakeX", 3) }
        if flags.contains("avx2") && flags.contains("fma") { return ("Haswell", 2) }
        return nil
    }

    /// If OpenBLAS runs kernels older than the CPU supports and neither `OPENBLAS_CORETYPE` nor
    /// the relaunch marker is set, re-executes this program (same arguments, same process id)
    /// with `OPENBLAS_CORETYPE` set; returns only if there is nothing to do or the exec failed.
    /// Must run first in `main`, before MPI or any thread starts.
    public static func relaunchIfGeneric(arguments: [String]) {
        let env = ProcessInfo.processInfo.environment
        guard env["OPENBLAS_CORETYPE"] == nil, env[relaunchMarker] == nil,
              let kernel = current, let have = level(kernel: kernel),
              let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let target = best(flags: Set(line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ":" }))),
              target.level > have else { return }
        setenv("OPENBLAS_CORETYPE", target.name, 1)
        setenv(relaunchMarker, kernel, 1)
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", &argv)
        // The exec failed (no /proc?): carry on with the kernels OpenBLAS chose.
        unsetenv("OPENBLAS_CORETYPE")
        unsetenv(relaunchMarker)
    }
}
