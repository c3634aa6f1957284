// wisp-bench lean-ntk: the lean sample-space K·u (NTKGramOperator, path sample-space: backward
// signals kept, each layer's term through the forward Gram when T ≤ M_(l−1)) against the
// parameter-space product J (Jᵀ u) (VJP into a P-vector, then JVP), in one run on one network.
// Network: depth 3, width M, d = M, C = 1, ReLU, standard parametrization, T Gaussian samples.
// Flops (GEMMs, 2mnk each; the operators' flopsPerApplication), widths [M, M, M, 1]:
//   lean:             4T(M² + M) + 2T²(2M + 1)     (≈ 4TM² + 4T²M)
//   parameter space:  4T(3M² + 2M)                  (≈ 12TM²)
// Peak memory (VmHWM) is read after the lean products and before the parameter-space operator
// allocates its P-vectors, against weights (P scalars) + the forward cache.
//
//   wisp-bench lean-ntk [--width 4096] [--samples 512] [--repeats 3] [--precision float64|float32]

import Foundation
import Wisp

func runLeanNTKBench(_ args: [String]) {
    var width = 4096, samples = 512, repeats = 3, precision = "float64"
    var i = 0
    func value() -> String {
        i += 1
        guard i < args.count else { fail("\(args[i - 1]) needs a value") }
        return args[i]
    }
    while i < args.count {
        switch args[i] {
        case "--width": width = Int(value()) ?? 0
        case "--samples": samples = Int(value()) ?? 0
        case "--repeats": repeats = Int(value()) ?? 0
        case "--precision": precision = value()
        default: fail("unknown option \(args[i]) (lean-ntk takes --width, --samples, --repeats, --precision)")
        }
        i += 1
    }
    guard width >= 1, samples >= 1, repeats >= 1, ["float64", "float32"].contains(precision) else {
        fail("lean-ntk: --width, --samples and --repeats must be positive and --precision float64|float32")
    }
    if precision == "float64" { leanNTK(Double.self, width: width, samples: samples, repeats: repeats) }
    else { leanNTK(Float.self, width: width, samples: samples, repeats: repeats) }
}

private func leanNTK<S: BLASScalar>(_: S.Type, width M: Int, samples T: Int, repeats: Int) {
    func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }
    let arch = try! Architecture(depth: 3, width: M, inputDimension: M, outputs: 1)
    var stages: [(String, Int, Int)] = []  // (stage, VmRSS, VmHWM)
    func stage(_ name: String) { stages.append((name, procStatus("VmRSS") ?? 0, procStatus("VmHWM") ?? 0)) }
    stage("process start")
    let data = try! Dataset.gaussian(totalSamples: T, dimension: M, seed: 1)
    stage("inputs drawn")
    var t0 = now()
    let network = Network<S>(architecture: arch, seed: 1)
    stage("network drawn")
    let initSeconds = now() - t0
    t0 = now()
    let jacobian = try! BatchedJacobian(network: network, inputs: data)
    let forwardSeconds = now() - t0
    stage("forward pass")
    let weights = arch.parameterCount * MemoryLayout<S>.stride, activations = jacobian.forwardCacheBytes
    let u = (0..<T).map { CounterRandom(seed: 1, stream: .probe(0)).normal($0) }
    func time(_ op: NTKGramOperator<S>) -> (best: Double, median: Double, y: [Double]) {
        var y = op.apply(u)  // warm-up
        var times = [Double]()
        for _ in 0..<repeats {
            let s = now()
            y = op.apply(u)
            times.append(now() - s)
        }
        times.sort()
        return (times[0], times[times.count / 2], y)
    }
    say("lean-ntk: L = 3, d = M = \(M), T = \(T), C = 1, ReLU, \(S.self == Double.self ? "float64" : "float32"), P = \(arch.parameterCount), "
        + "BLAS threads \(ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"] ?? "default")")
    say(String(format: "init %.2f s, forward pass %.2f s", initSeconds, forwardSeconds))
    t0 = now()
    let lean = NTKGramOperator(jacobian: jacobian, samples: 0..<T, totalSamples: T)
    let setup = now() - t0
    stage("lean setup (forward Grams)")
    let l = time(lean)
    stage("lean products")
    let peakLean = procStatus("VmHWM") ?? 0
    let old = NTKGramOperator(jacobian: jacobian, samples: 0..<T, totalSamples: T, path: .parameterSpace)
    let o = time(old)
    let peakOld = procStatus("VmHWM") ?? 0
    let diff = zip(l.y, o.y).map { abs($0 - $1) }.max()!, scale = o.y.map { abs($0) }.max()!
    let gb = { (b: Int) in String(format: "%.3f GB", Double(b) / 1e9) }
    say("path             routes                                     GFLOP/apply   best s  median s  GFLOP/s")
    for (name, op, r) in [("sample-space", lean, l), ("parameter-space", old, o)] {
        let routes = op.layerRoutes.isEmpty ? "VJP → P-vector → JVP" : op.layerRoutes.map(\.rawValue).joined(separator: ",")
        say(String(format: "%-16@ %-42@ %10.2f %8.3f %9.3f %8.1f", name as NSString, routes as NSString,
                   op.flopsPerApplication / 1e9, r.best, r.median, op.flopsPerApplication / r.best / 1e9))
    }
    say(String(format: "lean setup (forward Grams) %.3f s; speed-up (best) %.2f×; flop ratio %.2f; max |Δ| / max |K u| = %.2e",
               setup, o.best / l.best, old.flopsPerApplication / lean.flopsPerApplication, diff / scale))
    say("memory: weights \(gb(weights)), forward cache \(gb(activations)); peak after the lean products \(gb(peakLean)) = "
        + String(format: "%.3f", Double(peakLean) / Double(weights + activations)) + " × (weights + activations); "
        + "after the parameter-space products \(gb(peakOld))")
    for (name, rss, hwm) in stages { say("  memory at \(name): RSS \(gb(rss)), peak \(gb(hwm))") }
    // The same peak against two other accountings: with the process's own baseline (runtime, libraries)
    // left out, and with the kept backward signals Δ_l (T × M_l each, which the design keeps "like the
    // forward cache") counted as activations.
    let baseline = stages[0].1, signals = T * arch.widths.dropFirst().reduce(0, +) * MemoryLayout<S>.stride
    say("  peak − process baseline (\(gb(baseline))) = " + String(format: "%.3f", Double(peakLean - baseline) / Double(weights + activations))
        + " × (weights + activations); peak = " + String(format: "%.3f", Double(peakLean) / Double(weights + activations + signals))
        + " × (weights + activations + kept signals \(gb(signals)))")
}
