// wisp-bench hessian: the cost of the loss-Hessian products against the Fisher product, and
// their GEMM efficiency, in one run on the same network:
//   F·v  (FisherOperator),  G·v  (Gauss–Newton of softmax cross-entropy: F·v + O(TC)),
//   S·v and H·v  (HessianOperator: the R-operator pass, HessianVectorProduct).
// Network: depth 3, width M, d = M, C outputs, softplus, standard parametrization, T samples,
// teacher targets (cross-entropy labels). Flops (GEMMs, 2mnk each), widths [d, M, M, C]:
//   F·v:  4T(2 Σ_l M_l M_(l−1) − d M_1)        (JVP 2 GEMMs per layer but 1 in layer 1; VJP alike)
//   H·v:  2T(7 Σ_(l>1) M_l M_(l−1) + 2 d M_1)  (JVP as above; backward 2 gradient GEMMs per layer
//          (1 in layer 1) and 3 propagation GEMMs per layer above the first)
// The dgemm peak is measured in the same run (square n = 2048).
//
//   wisp-bench hessian [--widths 1024,2048] [--samples 512] [--outputs 10] [--repeats 5] [--output FILE]

import Foundation
import Wisp

func runHessianBench(_ args: [String]) {
    var widths = [1024, 2048], samples = 512, outputs = 10, repeats = 5
    var output: String? = nil
    var i = 0
    func value() -> String {
        i += 1
        guard i < args.count else { fail("\(args[i - 1]) needs a value") }
        return args[i]
    }
    while i < args.count {
        switch args[i] {
        case "--widths": widths = value().split(separator: ",").compactMap { Int($0) }
        case "--samples": samples = Int(value()) ?? 0
        case "--outputs": outputs = Int(value()) ?? 0
        case "--repeats": repeats = Int(value()) ?? 0
        case "--output": output = value()
        default: fail("unknown option \(args[i]) (wisp-bench hessian [--widths a,b] [--samples T] [--outputs C] [--repeats n] [--output FILE])")
        }
        i += 1
    }
    guard !widths.isEmpty, widths.allSatisfy({ $0 >= 1 }), samples >= 1, outputs >= 2, repeats >= 1 else {
        fail("widths, samples and repeats must be positive and outputs at least 2")
    }

    // dgemm peak on this machine, now.
    let n = 2048
    let a = [Double](repeating: 1.0 / Double(n), count: n * n)
    var c = [Double](repeating: 0, count: n * n)
    var peak = 0.0
    for _ in 0..<3 {
        let t0 = now()
        Double.gemm(transA: false, transB: false, m: n, n: n, k: n, alpha: 1, a: a, lda: n, b: a, ldb: n, beta: 0, c: &c, ldc: n)
        peak = max(peak, 2 * Double(n * n * n) / (now() - t0) / 1e9)
    }
    say(String(format: "dgemm peak (n = %d): %.1f GFLOP/s", n, peak))
    say("M      P          product  best s     GFLOP   GFLOP/s  of peak  time/F·v  flops/F·v")

    struct Row: Encodable {
        var width: Int, parameters: Int, product: String, bestSeconds: Double, medianSeconds: Double
        var gflop: Double, gflops: Double, fractionOfPeak: Double, timeOverFisher: Double, flopsOverFisher: Double
    }
    var rows = [Row]()
    for m in widths {
        var cfg = ProblemConfiguration()
        cfg.width = m
        cfg.inputDimension = m
        cfg.outputs = outputs
        cfg.samples = samples
        cfg.activation = .softplus
        cfg.loss = .crossEntropy
        cfg.seed = 1
        let problem: Problem
        do { problem = try Problem(cfg) } catch { fail("\(error)") }
        let T = Double(samples), M = Double(m), C = Double(outputs)
        let fisherFlops = 4 * T * (2 * (M * M + M * M + M * C) - M * M)
        let hessianFlops = 2 * T * (7 * (M * M + M * C) + 2 * M * M)
        var fisherBest = 0.0
        for (name, matrix, flops) in [("F·v", CurvatureMatrix.fisher, fisherFlops), ("G·v", .ggn, fisherFlops),
                                      ("S·v", .residual, hessianFlops), ("H·v", .hessian, hessianFlops)] {
            let op: any LinearOperator
            do { op = try problem.makeOperator(matrix) } catch { fail("\(error)") }
            let x = (0..<op.dimension).map { CounterRandom(seed: 3, stream: .probe(0)).normal($0) }
            var y = [Double](repeating: 0, count: op.dimension)
            x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { op.apply(xp.baseAddress!, into: $0.baseAddress!) } }
            var times = [Double]()
            for _ in 0..<repeats {
                let t0 = now()
                x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { op.apply(xp.baseAddress!, into: $0.baseAddress!) } }
                times.append(now() - t0)
            }
            times.sort()
            let best = times[0]
            if matrix == .fisher { fisherBest = best }
            let row = Row(width: m, parameters: problem.parameterCount, product: name, bestSeconds: best,
                          medianSeconds: times[times.count / 2], gflop: flops / 1e9, gflops: flops / best / 1e9,
                          fractionOfPeak: flops / best / 1e9 / peak, timeOverFisher: best / fisherBest,
                          flopsOverFisher: flops / fisherFlops)
            rows.append(row)
            say(String(format: "%-6d %-10d ", m, problem.parameterCount) + name.padding(toLength: 8, withPad: " ", startingAt: 0)
                + String(format: " %-10.4f %-7.2f %-8.1f %-8.2f %-9.2f %.2f", best, row.gflop, row.gflops, row.fractionOfPeak,
                         row.timeOverFisher, row.flopsOverFisher))
        }
    }
    struct Report: Encodable {
        var command: String, date: String, dgemmPeakGflops: Double, samples: Int, outputs: Int, repeats: Int
        var peakMemoryKB: Int?, rows: [Row]
    }
    let report = Report(command: CommandLine.arguments.joined(separator: " "), date: ISO8601DateFormatter().string(from: Date()),
                        dgemmPeakGflops: peak, samples: samples, outputs: outputs, repeats: repeats,
                        peakMemoryKB: procStatus("VmHWM"), rows: rows)
    if let output {
        do {
            let tree = CanonicalJSON.snakeCased(try CanonicalJSON.value(report))
            try AtomicFile.write(Data(CanonicalJSON.text(tree, pretty: true).utf8), to: output)
        } catch { fail("\(error)") }
        say("wrote \(output)")
    }
}
