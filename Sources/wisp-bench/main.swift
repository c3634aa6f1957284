// wisp-bench: Fisher-product (F·v) throughput against this machine's measured GEMM peak.
//
// One run measures, with the same BLAS library and thread count:
//   1. dgemm / sgemm peak: square GEMMs (n = 2048, 4096) and the exact shapes and transposes
//      of the big GEMMs one Fisher product issues; best and median of `--repeats` timings;
//   2. for each width M and output count C: a depth-3 ReLU network (d = M, standard
//      parametrization), its BatchedJacobian and FisherOperator (float64, and float32), one
//      warm-up F·v, then `--repeats` timed F·v products (best and median), separate JVP and VJP
//      timings, and a "BLAS model": the sum of the isolated timings of every BLAS call the
//      product makes (GEMMs, bias ger/gemv). Product time − model = everything that is not BLAS
//      (elementwise φ' loops, precision conversion, call overhead);
//   3. the machine: CPU model, BLAS threads, OpenBLAS build, peak memory (VmHWM).
// It prints tables to stdout and writes the same numbers as JSON (`--output`).
//
// Flop count of one F·v (BatchedJacobian.flopsPerProduct, GEMMs only, 2mnk each):
//     flops = 4 T (2 Σ_l M_l M_(l−1) − d M_1)
// and for widths [d, M, M, C] with d = M (the configuration benchmarked here):
//     flops = 4 T (3 M² + 2 M C) = 12 T M² + 8 T M C.

import Foundation
import Wisp
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Options

struct Options {
    var quick = false
    var widths = [1024, 2048, 4096]
    var samples = 512
    var outputs = [1, 10]
    var repeats = 5
    var precisions = ["float64", "float32"]
    var squareSizes = [2048, 4096]
    var output: String? = nil
    var depth = 3
    var seed: UInt64 = 1
    var waitQuiet = 0.0
    /// Re-runs of a contended measurement (only with --wait-quiet).
    var retries: Int { waitQuiet > 0 ? 2 : 0 }

    static func parse(_ args: [String]) -> Options {
        var o = Options()
        func ints(_ s: String, _ flag: String) -> [Int] {
            let v = s.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !v.isEmpty, v.allSatisfy({ $0 != nil && $0! >= 1 }) else { fail("\(flag) expects positive integers, got '\(s)'") }
            return v.map { $0! }
        }
        // --quick first, so that explicit flags override its defaults whatever their order.
        if args.contains("--quick") {
            o.quick = true
            o.widths = [256, 512]
            o.samples = 128
            o.outputs = [1, 10]
            o.repeats = 3
            o.squareSizes = [512, 1024]
        }
        var i = 0
        func value(_ flag: String) -> String {
            i += 1
            guard i < args.count else { fail("\(flag) needs a value") }
            return args[i]
        }
        while i < args.count {
            let a = args[i]
            switch a {
            case "--quick": break
            case "--widths": o.widths = ints(value(a), a)
            case "--samples": o.samples = ints(value(a), a)[0]
            case "--outputs": o.outputs = ints(value(a), a)
            case "--repeats": o.repeats = ints(value(a), a)[0]
            case "--square": o.squareSizes = ints(value(a), a)
            case "--depth": o.depth = ints(value(a), a)[0]
            case "--seed": o.seed = UInt64(ints(value(a), a)[0])
            case "--precisions":
                o.precisions = value(a).split(separator: ",").map(String.init)
                guard o.precisions.allSatisfy({ $0 == "float64" || $0 == "float32" }) else { fail("--precisions expects float64,float32") }
            case "--output": o.output = value(a)
            case "--wait-quiet":
                guard let w = Double(value(a)), w >= 0 else { fail("--wait-quiet expects seconds") }
                o.waitQuiet = w
            case "-h", "--help":
                print("""
                usage: wisp-bench [--quick] [--widths 1024,2048,4096] [--samples 512] [--outputs 1,10]
                                  [--repeats 5] [--precisions float64,float32] [--square 2048,4096]
                                  [--depth 3] [--seed 1] [--wait-quiet 0] [--output bench/results/fisher-gemm.json]
                --quick   smoke run: widths 256,512, 128 samples, 3 repeats, square GEMMs 512,1024
                          (explicit flags override these); default output ...-quick.json
                --wait-quiet S  before each measurement wait up to S seconds for a 1 s window in
                          which other processes use < 0.2 cores, and re-run (up to 2 times)
                          any measurement during which they used > 0.15 cores; the least
                          contended run is kept (shared machines)
                """)
                exit(0)
            default: fail("unknown argument '\(a)' (try --help)")
            }
            i += 1
        }
        return o
    }

    var outputPath: String {
        output ?? (quick ? "bench/results/fisher-gemm-quick.json" : "bench/results/fisher-gemm.json")
    }
}

/// Unbuffered line to stdout (progress stays visible through a pipe or `tee`).
func say(_ line: String = "") {
    FileHandle.standardOutput.write((line + "\n").data(using: .utf8)!)
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(("wisp-bench: " + message + "\n").data(using: .utf8)!)
    exit(2)
}

// MARK: - Machine

@inline(__always) func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// A field of /proc/self/status in bytes ("VmHWM", "VmRSS"), or nil.
func procStatus(_ field: String) -> Int? {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
    for line in s.split(separator: "\n") where line.hasPrefix(field + ":") {
        let parts = line.split(separator: " ", omittingEmptySubsequences: true)
        if parts.count >= 2, let kb = Int(parts[1]) { return kb * 1024 }
    }
    return nil
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0: "5" > /proc/self/clear_refs). Returns success.
func resetPeakMemory() -> Bool {
    let fd = open("/proc/self/clear_refs", O_WRONLY)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    return write(fd, "5", 1) == 1
}

func readCPUModel() -> String {
    guard let s = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
    for line in s.split(separator: "\n") where line.hasPrefix("model name") {
        if let colon = line.firstIndex(of: ":") {
            return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
    }
    return "unknown"
}

/// An OpenBLAS function looked up in the process (the library is linked through Wisp).
func openBLASSymbol<F>(_ name: String, as type: F.Type) -> F? {
    guard let p = dlsym(nil, name) else { return nil }   // nil == RTLD_DEFAULT on glibc
    return unsafeBitCast(p, to: type)
}

/// CPU used by *other* processes (in cores) over an interval: system busy time from /proc/stat
/// minus this process's own user+system time (getrusage). ~0 on a quiet machine; the
/// benchmark shares the CPUs with anything this shows (e.g. a concurrent compiler).
struct LoadProbe {
    var wall: Double
    var systemBusy: Double
    var selfCPU: Double

    static func sample() -> LoadProbe {
        var busy = 0.0
        if let s = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
           let line = s.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") }) {
            // user nice system idle iowait irq softirq steal guest guest_nice
            let v = line.split(separator: " ").dropFirst().compactMap { Double($0) }
            if v.count >= 8 { busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7] }
            busy /= Double(sysconf(Int32(_SC_CLK_TCK)))
        }
        var ru = rusage()
        getrusage(0 /* RUSAGE_SELF */, &ru)
        let cpu = Double(ru.ru_utime.tv_sec) + Double(ru.ru_utime.tv_usec) * 1e-6
            + Double(ru.ru_stime.tv_sec) + Double(ru.ru_stime.tv_usec) * 1e-6
        return LoadProbe(wall: now(), systemBusy: busy, selfCPU: cpu)
    }

    /// Average number of cores other processes kept busy since `self`; nil for windows shorter
    /// than 0.3 s (/proc/stat counts in 10 ms ticks).
    func otherCores(until end: LoadProbe = .sample()) -> Double? {
        let dt = end.wall - wall
        guard dt >= 0.3 else { return nil }
        return max(0, ((end.systemBusy - systemBusy) - (end.selfCPU - selfCPU)) / dt)
    }
}

/// Waits (up to `limit` seconds) for a 1-second window in which other processes use < 0.2 cores.
/// Returns the seconds waited.
func waitForQuiet(limit: Double) -> Double {
    guard limit > 0 else { return 0 }
    let t0 = now()
    while now() - t0 < limit {
        let p = LoadProbe.sample()
        usleep(1_000_000)
        if (p.otherCores() ?? 1) < 0.2 { break }
    }
    return now() - t0
}

struct MachineInfo: Codable {
    var cpuModel: String
    var logicalCPUs: Int
    var blasThreads: Int
    var blasThreadsSource: String
    var openblasConfig: String?
    var openblasCorename: String?
    var environment: [String: String]
    var hostname: String

    static func probe() -> MachineInfo {
        let nproc = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        var threads = nproc, source = "nproc"
        if let f = openBLASSymbol("openblas_get_num_threads", as: (@convention(c) () -> Int32).self) {
            threads = Int(f()); source = "openblas_get_num_threads()"
        } else if let e = ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"], let n = Int(e) {
            threads = n; source = "OPENBLAS_NUM_THREADS"
        }
        let str: (String) -> String? = { name in
            openBLASSymbol(name, as: (@convention(c) () -> UnsafePointer<CChar>?).self)
                .flatMap { $0() }.map { String(cString: $0).trimmingCharacters(in: .whitespaces) }
        }
        let env = ProcessInfo.processInfo.environment.filter {
            $0.key.hasPrefix("OPENBLAS_") || $0.key.hasPrefix("OMP_") || $0.key == "GOTO_NUM_THREADS"
        }
        return MachineInfo(cpuModel: readCPUModel(), logicalCPUs: nproc, blasThreads: threads, blasThreadsSource: source,
                           openblasConfig: str("openblas_get_config"), openblasCorename: str("openblas_get_corename"),
                           environment: env, hostname: ProcessInfo.processInfo.hostName)
    }
}

/// Runs `body`; while the best result so far was contended (other processes > 0.15 cores),
/// waits for quiet and runs it again, up to `retries` times. Keeps the least contended result.
func leastContended<R>(retries: Int, waitQuiet: Double, load: (R) -> Double?, _ body: () throws -> R) rethrows -> R {
    var best = try body()
    var tries = 0
    while tries < retries, let l = load(best), l > 0.15 {
        tries += 1
        _ = waitForQuiet(limit: waitQuiet)
        let r = try body()
        if (load(r) ?? 0) < l { best = r }
    }
    return best
}

// MARK: - Helpers

/// Deterministic uniform(−1, 1) fill (SplitMix64), cheap enough for 10⁸ entries.
func fillUniform<S: BLASScalar>(_ p: UnsafeMutablePointer<S>, count: Int, seed: UInt64) {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 &+ 1
    for i in 0..<count {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        p[i] = S(Double(z >> 11) * 0x1.0p-52 - 1)
    }
}

struct Timing: Codable {
    var best: Double
    var median: Double
    var all: [Double]
}

/// Warm-up calls, then `repeats` timed calls.
func time(repeats: Int, warmup: Int = 1, _ body: () -> Void) -> Timing {
    for _ in 0..<warmup { body() }
    var t = [Double]()
    for _ in 0..<max(repeats, 1) {
        let t0 = now()
        body()
        t.append(now() - t0)
    }
    let s = t.sorted()
    let median = s.count % 2 == 1 ? s[s.count / 2] : 0.5 * (s[s.count / 2 - 1] + s[s.count / 2])
    return Timing(best: s[0], median: median, all: t)
}

func typeName<S: BLASScalar>(_: S.Type) -> String { S.precisionName }

// MARK: - GEMM measurements

/// One row-major GEMM shape: C (m×n) ← α op(A) op(B) + β C, op(A) m×k, op(B) k×n.
struct GemmShape: Hashable, Codable {
    var transA: Bool
    var transB: Bool
    var m: Int
    var n: Int
    var k: Int
    var beta: Double
    var op: String { (transA ? "T" : "N") + (transB ? "T" : "N") }
    var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
}

struct GemmResult: Codable {
    var precision: String
    var label: String
    var op: String
    var m: Int
    var n: Int
    var k: Int
    var beta: Double
    var flops: Double
    var bestSeconds: Double
    var medianSeconds: Double
    var gflopsBest: Double
    var gflopsMedian: Double
    /// Cores used by other processes while this shape was measured (see LoadProbe).
    var otherLoadCores: Double?
}

func benchGEMM<S: BLASScalar>(_: S.Type, _ s: GemmShape, label: String, repeats: Int) -> GemmResult {
    let load = LoadProbe.sample()
    let aCount = s.m * s.k, bCount = s.k * s.n, cCount = s.m * s.n
    let a = UnsafeMutablePointer<S>.allocate(capacity: max(aCount, 1))
    let b = UnsafeMutablePointer<S>.allocate(capacity: max(bCount, 1))
    let c = UnsafeMutablePointer<S>.allocate(capacity: max(cCount, 1))
    defer { a.deallocate(); b.deallocate(); c.deallocate() }
    fillUniform(a, count: aCount, seed: 11)
    fillUniform(b, count: bCount, seed: 12)
    fillUniform(c, count: cCount, seed: 13)
    let lda = s.transA ? s.m : s.k, ldb = s.transB ? s.k : s.n
    let t = time(repeats: repeats) {
        S.gemm(transA: s.transA, transB: s.transB, m: s.m, n: s.n, k: s.k, alpha: 1, a: a, lda: lda,
               b: b, ldb: ldb, beta: S(s.beta), c: c, ldc: s.n)
    }
    return GemmResult(precision: S.precisionName, label: label, op: s.op, m: s.m, n: s.n, k: s.k, beta: s.beta,
                      flops: s.flops, bestSeconds: t.best, medianSeconds: t.median,
                      gflopsBest: s.flops / t.best / 1e9, gflopsMedian: s.flops / t.median / 1e9,
                      otherLoadCores: load.otherCores())
}

/// Every BLAS call of one Fisher product (JVP then VJP, BatchedJacobian.swift), by shape.
enum BLASCall: Hashable {
    case gemm(GemmShape, label: String)
    case ger(m: Int, n: Int)            // bias term of the JVP: dU += c_b 1 dbᵀ
    case gemvT(m: Int, n: Int)          // bias gradient of the VJP: ∇b = c_b Δᵀ 1
}

/// The calls in issue order (JVP layer 1…L, then VJP layer L…1), equal calls merged with a count.
func fisherCalls(widths w: [Int], samples T: Int, layerBias: [Bool]) -> [(call: BLASCall, count: Int)] {
    var calls = [(call: BLASCall, count: Int)]()
    func add(_ c: BLASCall) {
        if let i = calls.firstIndex(where: { $0.call == c }) { calls[i].count += 1 } else { calls.append((c, 1)) }
    }
    let L = w.count - 1
    for l in 1...L {   // JVP: dU^l = c (H^(l-1) dW^lᵀ [+ dH^(l-1) W^lᵀ]) + c_b 1 db^lᵀ
        let (fanIn, fanOut) = (w[l - 1], w[l])
        let last = l == L ? " (last layer)" : ""
        add(.gemm(GemmShape(transA: false, transB: true, m: T, n: fanOut, k: fanIn, beta: 0), label: "JVP H·dWᵀ" + last))
        if l > 1 { add(.gemm(GemmShape(transA: false, transB: true, m: T, n: fanOut, k: fanIn, beta: 1), label: "JVP dH·Wᵀ" + last)) }
        if layerBias[l - 1] { add(.ger(m: T, n: fanOut)) }
    }
    for l in stride(from: L, through: 1, by: -1) {   // VJP: ∇W^l = c Δ^lᵀ H^(l-1), ∇b^l = c_b Δ^lᵀ 1, Δ^(l-1) = φ' ⊙ (c Δ^l W^l)
        let (fanIn, fanOut) = (w[l - 1], w[l])
        let last = l == L ? " (last layer)" : ""
        add(.gemm(GemmShape(transA: true, transB: false, m: fanOut, n: fanIn, k: T, beta: 0), label: "VJP Δᵀ·H" + last))
        if layerBias[l - 1] { add(.gemvT(m: T, n: fanOut)) }
        if l > 1 { add(.gemm(GemmShape(transA: false, transB: false, m: T, n: fanIn, k: fanOut, beta: 0), label: "VJP Δ·W" + last)) }
    }
    return calls
}

struct CallResult: Codable {
    var precision: String
    var kind: String
    var label: String
    var op: String
    var m: Int
    var n: Int
    var k: Int
    var count: Int
    var flops: Double
    var bestSeconds: Double
    var gflopsBest: Double
}

final class CallCache {
    var results = [String: CallResult]()
}

func benchCall<S: BLASScalar>(_: S.Type, _ call: BLASCall, count: Int, repeats: Int, cache: CallCache) -> CallResult {
    let key: String
    switch call {
    case .gemm(let s, _): key = "\(S.precisionName) gemm \(s.op) \(s.m) \(s.n) \(s.k) \(s.beta)"
    case .ger(let m, let n): key = "\(S.precisionName) ger \(m) \(n)"
    case .gemvT(let m, let n): key = "\(S.precisionName) gemvT \(m) \(n)"
    }
    if var r = cache.results[key] { r.count = count; return r }
    var r: CallResult
    switch call {
    case .gemm(let s, let label):
        let g = benchGEMM(S.self, s, label: label, repeats: repeats)
        r = CallResult(precision: g.precision, kind: "gemm", label: label, op: s.op, m: s.m, n: s.n, k: s.k, count: count,
                       flops: s.flops, bestSeconds: g.bestSeconds, gflopsBest: g.gflopsBest)
    case .ger(let m, let n):
        var x = [S](repeating: 1, count: m), y = [S](repeating: 0.5, count: n), a = [S](repeating: 0, count: m * n)
        let t = time(repeats: repeats) { S.ger(m: m, n: n, alpha: 1, x: &x, y: &y, a: &a, lda: n) }
        r = CallResult(precision: S.precisionName, kind: "ger", label: "JVP bias 1·dbᵀ", op: "ger", m: m, n: n, k: 1,
                       count: count, flops: 2 * Double(m * n), bestSeconds: t.best, gflopsBest: 2 * Double(m * n) / t.best / 1e9)
    case .gemvT(let m, let n):
        var a = [S](repeating: 0.25, count: m * n), x = [S](repeating: 1, count: m), y = [S](repeating: 0, count: n)
        let t = time(repeats: repeats) { S.gemv(trans: true, m: m, n: n, alpha: 1, a: &a, lda: n, x: &x, beta: 0, y: &y) }
        r = CallResult(precision: S.precisionName, kind: "gemv", label: "VJP bias Δᵀ·1", op: "gemvT", m: m, n: n, k: 1,
                       count: count, flops: 2 * Double(m * n), bestSeconds: t.best, gflopsBest: 2 * Double(m * n) / t.best / 1e9)
    }
    cache.results[key] = r
    return r
}

// MARK: - Fisher product measurements

struct FisherResult: Codable {
    var precision: String
    var width: Int
    var inputDimension: Int
    var depth: Int
    var samples: Int
    var outputs: Int
    var parameters: Int
    var flopsPerProduct: Double
    var flopFormula: String
    var setupSeconds: Double
    var product: Timing
    var gflopsBest: Double
    var gflopsMedian: Double
    var peakGflops: Double
    var ratioToPeakBest: Double
    var ratioToPeakMedian: Double
    var jvp: Timing
    var vjp: Timing
    var blasModelSeconds: Double
    var gemmModelSeconds: Double
    var nonBLASSeconds: Double
    var modelCalls: [CallResult]
    var checkQuadraticFormRelError: Double
    var peakMemoryBytes: Int?
    /// Cores used by other processes during the timed F·v products / the whole configuration.
    var otherLoadCoresProduct: Double?
    var otherLoadCoresConfig: Double?
    var waitedForQuietSeconds: Double
}

func benchFisher<S: BLASScalar>(_: S.Type, width M: Int, outputs C: Int, options o: Options, peak: Double,
                                cache: CallCache) throws -> FisherResult {
    let T = o.samples
    let waited = waitForQuiet(limit: o.waitQuiet)
    let configLoad = LoadProbe.sample()
    let peakReset = resetPeakMemory()
    let t0 = now()
    let arch = try Architecture(depth: o.depth, width: M, inputDimension: M, outputs: C, activation: .relu,
                                hasBias: true, parametrization: .standard)
    let network = Network<S>(architecture: arch, seed: o.seed)
    let data = try Dataset.gaussian(totalSamples: T, dimension: M, seed: o.seed)
    let jacobian = try BatchedJacobian<S>(network: network, inputs: data)
    let fisher = FisherOperator<S>(jacobian: jacobian, totalSamples: T)
    let setup = now() - t0
    let P = arch.parameterCount

    var x = [Double](repeating: 0, count: P), y = [Double](repeating: 0, count: P)
    x.withUnsafeMutableBufferPointer { fillUniform($0.baseAddress!, count: P, seed: 7) }
    let productLoad = LoadProbe.sample()
    let product = x.withUnsafeBufferPointer { xp in
        y.withUnsafeMutableBufferPointer { yp in
            time(repeats: o.repeats) { fisher.apply(xp.baseAddress!, into: yp.baseAddress!) }
        }
    }

    let productOther = productLoad.otherCores()
    // Peak RSS of this configuration: network + jacobian caches + operator buffers + x, y
    // (read before the harness allocates its own JVP/VJP buffers below).
    let hwm = peakReset ? procStatus("VmHWM") : nil
    // JVP and VJP separately, in the pass precision (no Float64 <-> S conversion).
    var v = [S](repeating: 0, count: P), g = [S](repeating: 0, count: P), u = [S](repeating: 0, count: T * C)
    for i in 0..<P { v[i] = S(x[i]) }
    let jvpT = v.withUnsafeBufferPointer { vp in
        u.withUnsafeMutableBufferPointer { up in time(repeats: o.repeats) { jacobian.jvp(vp.baseAddress!, into: up.baseAddress!) } }
    }
    let vjpT = u.withUnsafeBufferPointer { up in
        g.withUnsafeMutableBufferPointer { gp in
            time(repeats: o.repeats) { jacobian.vjp(up.baseAddress!, alpha: S(1 / Double(T)), into: gp.baseAddress!) }
        }
    }
    // Check: ⟨v, F v⟩ = ‖J v‖² / T.
    let quad = zip(x, y).reduce(0.0) { $0 + $1.0 * $1.1 }
    let jvNorm2 = u.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(T)
    let check = abs(quad - jvNorm2) / max(abs(jvNorm2), .leastNormalMagnitude)

    // BLAS model: every call of the product timed in isolation (after the network is freed
    // the buffers are reused by malloc, so this does not raise the peak measured above).
    let calls = fisherCalls(widths: arch.widths, samples: T, layerBias: arch.layerBias)
    let modelCalls = calls.map { benchCall(S.self, $0.call, count: $0.count, repeats: o.repeats, cache: cache) }
    let blasModel = modelCalls.reduce(0.0) { $0 + Double($1.count) * $1.bestSeconds }
    let gemmModel = modelCalls.filter { $0.kind == "gemm" }.reduce(0.0) { $0 + Double($1.count) * $1.bestSeconds }

    let flops = jacobian.flopsPerProduct
    return FisherResult(
        precision: S.precisionName, width: M, inputDimension: M, depth: o.depth, samples: T, outputs: C, parameters: P,
        flopsPerProduct: flops,
        flopFormula: flopFormula(depth: o.depth),
        setupSeconds: setup, product: product,
        gflopsBest: flops / product.best / 1e9, gflopsMedian: flops / product.median / 1e9, peakGflops: peak,
        ratioToPeakBest: flops / product.best / 1e9 / peak, ratioToPeakMedian: flops / product.median / 1e9 / peak,
        jvp: jvpT, vjp: vjpT, blasModelSeconds: blasModel, gemmModelSeconds: gemmModel,
        nonBLASSeconds: product.best - blasModel, modelCalls: modelCalls,
        checkQuadraticFormRelError: check, peakMemoryBytes: hwm,
        otherLoadCoresProduct: productOther, otherLoadCoresConfig: configLoad.otherCores(), waitedForQuietSeconds: waited)
}

/// The flop count of one F·v in general and for the benchmarked widths [d = M, M, …, M, C].
func flopFormula(depth L: Int) -> String {
    let general = "4T(2·Σ_l M_l·M_(l-1) − d·M_1)"
    if L == 1 { return general + "; widths [d=M, C]: 4TMC" }
    let a = 2 * L - 3   // 2(L−1)M² + 2MC − M²
    let mid = Array(repeating: "M", count: L - 1).joined(separator: ", ")
    return general + "; widths [d=M, \(mid), C]: 4T(\(a == 1 ? "" : "\(a)")M² + 2MC) = \(4 * a)TM² + 8TMC"
}

// MARK: - Report

struct Report: Codable {
    var tool = "wisp-bench"
    var date: String
    var command: String
    var machine: MachineInfo
    var options: [String: String]
    var gemmPeakGflops: [String: Double]
    var gemmPeakDefinition: String
    var gemm: [GemmResult]
    var fisher: [FisherResult]
    var peakMemoryBytes: Int?
    var totalSeconds: Double
    var otherLoadCoresRun: Double?
}

func f(_ x: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", x) }
func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : String(repeating: " ", count: w - s.count) + s }
func padR(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }
func mb(_ b: Int?) -> String { b.map { f(Double($0) / 1_048_576, 0) } ?? "n/a" }

// MARK: - Main

// `wisp-bench hessian …`: Hessian-vector products against the Fisher product (HessianBench.swift).
if CommandLine.arguments.count > 1, CommandLine.arguments[1] == "hessian" {
    runHessianBench(Array(CommandLine.arguments.dropFirst(2)))
    exit(0)
}

// `wisp-bench lean-ntk …`: the lean sample-space K·u against the parameter-space product (LeanNTKBench.swift).
if CommandLine.arguments.count > 1, CommandLine.arguments[1] == "lean-ntk" {
    runLeanNTKBench(Array(CommandLine.arguments.dropFirst(2)))
    exit(0)
}

// `wisp-bench cnn …`: one F·v of a small CNN as layers vs. the GEMM peak (CNNBench.swift).
if CommandLine.arguments.count > 1, CommandLine.arguments[1] == "cnn" {
    runCNNBench(Array(CommandLine.arguments.dropFirst(2)))
    exit(0)
}

// `wisp-bench kpm-vs-slq …`: the SLQ/KPM comparison (KPMvsSLQ.swift).
if CommandLine.arguments.count > 1, CommandLine.arguments[1] == "kpm-vs-slq" {
    runKPMvsSLQ(Array(CommandLine.arguments.dropFirst(2)))
    exit(0)
}

let start = now()
let runLoad = LoadProbe.sample()
let options = Options.parse(Array(CommandLine.arguments.dropFirst()))
let machine = MachineInfo.probe()
say("wisp-bench: Fisher product F·v throughput vs. measured GEMM peak")
say("CPU: \(machine.cpuModel) (\(machine.logicalCPUs) logical CPUs); BLAS threads: \(machine.blasThreads) [\(machine.blasThreadsSource)]")
if let c = machine.openblasConfig { say("OpenBLAS: \(c)" + (machine.openblasCorename.map { "; core \($0)" } ?? "")) }
if !machine.environment.isEmpty {
    say("env: " + machine.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
}
say("widths \(options.widths), samples T=\(options.samples), outputs \(options.outputs), depth \(options.depth), repeats \(options.repeats), precisions \(options.precisions)")
say("'bg': cores used by other processes during that measurement (/proc/stat − own CPU); > 0.1 means contended numbers")
say("")

// 1. GEMM peak: square GEMMs plus the big Fisher shapes (M = width, T = samples).
var gemm = [GemmResult]()
say("GEMM peak (best of \(options.repeats) after 1 warm-up; GFLOP/s = 2mnk / time)")
say(padR("prec", 8) + padR("shape", 26) + pad("op", 4) + pad("m", 7) + pad("n", 7) + pad("k", 7) + pad("best s", 10) + pad("GF/s best", 11) + pad("GF/s med", 10) + pad("bg", 6))
for precision in options.precisions {
    var shapes: [(String, GemmShape)] = options.squareSizes.map {
        ("square", GemmShape(transA: false, transB: false, m: $0, n: $0, k: $0, beta: 0))
    }
    let T = options.samples
    for M in options.widths {
        shapes.append(("Fisher JVP H·Wᵀ", GemmShape(transA: false, transB: true, m: T, n: M, k: M, beta: 0)))
        shapes.append(("Fisher VJP Δᵀ·H", GemmShape(transA: true, transB: false, m: M, n: M, k: T, beta: 0)))
        shapes.append(("Fisher VJP Δ·W", GemmShape(transA: false, transB: false, m: T, n: M, k: M, beta: 0)))
    }
    for (label, s) in shapes {
        _ = waitForQuiet(limit: options.waitQuiet)
        let r = leastContended(retries: options.retries, waitQuiet: options.waitQuiet, load: \.otherLoadCores) {
            precision == "float64" ? benchGEMM(Double.self, s, label: label, repeats: options.repeats)
                                   : benchGEMM(Float.self, s, label: label, repeats: options.repeats)
        }
        gemm.append(r)
        say(padR(r.precision, 8) + padR(label, 26) + pad(r.op, 4) + pad("\(r.m)", 7) + pad("\(r.n)", 7) + pad("\(r.k)", 7)
              + pad(f(r.bestSeconds, 4), 10) + pad(f(r.gflopsBest, 1), 11) + pad(f(r.gflopsMedian, 1), 10)
              + pad(r.otherLoadCores.map { f($0, 2) } ?? "-", 6))
    }
}
var peaks = [String: Double]()
for p in options.precisions { peaks[p] = gemm.filter { $0.precision == p }.map(\.gflopsBest).max() ?? .nan }
say("peak: " + peaks.sorted { $0.key < $1.key }.map { "\($0.key == "float64" ? "dgemm" : "sgemm") \(f($0.value, 1)) GFLOP/s" }.joined(separator: ", ")
      + " (best single timing over all shapes above)")
say("")

// 2. Fisher products.
var fisher = [FisherResult]()
let cache = CallCache()
say("Fisher product F·v: depth \(options.depth), ReLU, standard parametrization, d = M, T = \(options.samples); 1 warm-up + \(options.repeats) timed")
say("flops/product: \(flopFormula(depth: options.depth)) (GEMMs only, BatchedJacobian.flopsPerProduct)")
let header = padR("prec", 8) + pad("M", 6) + pad("C", 4) + pad("P", 11) + pad("GFLOP", 8) + pad("best s", 9) + pad("med s", 9)
    + pad("GF/s", 8) + pad("%peak", 7) + pad("%pk med", 8) + pad("JVP s", 8) + pad("VJP s", 8) + pad("BLASmdl s", 10)
    + pad("nonBLAS s", 10) + pad("HWM MB", 8) + pad("bg", 6)
say(header)
for M in options.widths {
    for C in options.outputs {
        for precision in options.precisions {
            do {
                var attempt = 0
                let r = try leastContended(retries: options.retries, waitQuiet: options.waitQuiet, load: \.otherLoadCoresConfig) {
                    // A retry re-measures the BLAS model too (the cached timings may be contended).
                    let calls = attempt == 0 ? cache : CallCache()
                    attempt += 1
                    return precision == "float64"
                        ? try benchFisher(Double.self, width: M, outputs: C, options: options, peak: peaks["float64"]!, cache: calls)
                        : try benchFisher(Float.self, width: M, outputs: C, options: options, peak: peaks["float32"]!, cache: calls)
                }
                fisher.append(r)
                say(padR(r.precision, 8) + pad("\(M)", 6) + pad("\(C)", 4) + pad("\(r.parameters)", 11)
                      + pad(f(r.flopsPerProduct / 1e9, 1), 8) + pad(f(r.product.best, 3), 9) + pad(f(r.product.median, 3), 9)
                      + pad(f(r.gflopsBest, 1), 8) + pad(f(100 * r.ratioToPeakBest, 1), 7) + pad(f(100 * r.ratioToPeakMedian, 1), 8)
                      + pad(f(r.jvp.best, 3), 8) + pad(f(r.vjp.best, 3), 8) + pad(f(r.blasModelSeconds, 3), 10)
                      + pad(f(r.nonBLASSeconds, 3), 10) + pad(mb(r.peakMemoryBytes), 8)
                      + pad(r.otherLoadCoresConfig.map { f($0, 2) } ?? "-", 6))
                if r.checkQuadraticFormRelError > (precision == "float64" ? 1e-8 : 1e-3) {
                    say("  warning: ⟨v,Fv⟩ vs ‖Jv‖²/T relative error \(r.checkQuadraticFormRelError)")
                }
            } catch {
                say("\(precision) M=\(M) C=\(C): \(error)")
            }
        }
    }
}
say("")
say("BLAS model per product (each call timed in isolation, best; time × count):")
for r in fisher {
    say("  \(r.precision) M=\(r.width) C=\(r.outputs): product \(f(r.product.best, 4)) s, BLAS model \(f(r.blasModelSeconds, 4)) s (GEMMs \(f(r.gemmModelSeconds, 4)) s), rest \(f(r.nonBLASSeconds, 4)) s")
    for c in r.modelCalls {
        say("    " + padR(c.label, 28) + padR(c.op, 6) + pad("\(c.m)×\(c.n)×\(c.k)", 17) + " ×\(c.count)"
              + pad(f(c.bestSeconds * Double(c.count), 4), 9) + " s" + pad(f(c.gflopsBest, 1), 8) + " GF/s")
    }
}

let totalPeak = procStatus("VmHWM")
let total = now() - start
let runOther = runLoad.otherCores()
say("")
say("peak memory (VmHWM): per configuration in the table (reset before each; network + caches + operator + x, y); process total at exit \(mb(totalPeak)) MB")
say("total time \(f(total, 1)) s; other processes used \(runOther.map { f($0, 2) } ?? "-") cores on average during the run")

let formatter = ISO8601DateFormatter()
var opts: [String: String] = [
    "widths": options.widths.map(String.init).joined(separator: ","), "samples": "\(options.samples)",
    "outputs": options.outputs.map(String.init).joined(separator: ","), "repeats": "\(options.repeats)",
    "depth": "\(options.depth)", "precisions": options.precisions.joined(separator: ","),
    "square": options.squareSizes.map(String.init).joined(separator: ","), "seed": "\(options.seed)",
    "activation": "relu", "parametrization": "standard", "inputDimension": "M (= width)", "quick": "\(options.quick)",
]
opts["output"] = options.outputPath
let report = Report(
    date: formatter.string(from: Date()), command: CommandLine.arguments.joined(separator: " "), machine: machine,
    options: opts, gemmPeakGflops: peaks,
    gemmPeakDefinition: "best single timing (2mnk/seconds) over all GEMMs measured in this run for that precision: square n ∈ \(options.squareSizes) and the big Fisher shapes",
    gemm: gemm, fisher: fisher, peakMemoryBytes: totalPeak, totalSeconds: total,
    otherLoadCoresRun: runOther)
do {
    let url = URL(fileURLWithPath: options.outputPath)
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try AtomicFile.write(try CanonicalJSON.encode(report, pretty: true), to: url.path)
    say("wrote \(options.outputPath)")
} catch {
    fail("could not write \(options.outputPath): \(error)")
}
