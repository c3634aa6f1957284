// wisp-bench cnn: one Fisher product F·v of a small CNN given as layers (LayerFisherOperator on
// a LayerSequence: im2col + one GEMM per convolution term over the whole batch), as a fraction
// of this machine's measured dgemm/sgemm peak, next to the MLP path's F·v (FisherOperator on
// BatchedJacobian) on the same number of samples.
//
// CNN (CIFAR-sized input [3, 32, 32], width c = --channels):
//   conv 3→c 3×3 p1, relu, conv c→c 3×3 p1, relu, maxpool 2, conv c→2c 3×3 p1, relu, maxpool 2,
//   flatten, dense 2c·8·8 → 10
// Flops of one F·v: LayerSequence.flopsPerProduct (2mnk per GEMM, loops one per element), with
// the JVP and VJP counted with input terms at every layer (an upper bound for the first).
// Peak: the best of square GEMMs (n = 1024, 2048) and of the CNN's own largest GEMM shape.
//
// With --exact, also the exact sample-space path on the same CNN: forming K = (1/T) J Jᵀ (TC × TC)
// from the per-layer factors (LayerTangentKernel, each layer's cheaper LayerKernelForm; timed
// once) and LAPACK dsyevd for all TC eigenvalues, against the time of one matrix-free product.
//
//   wisp-bench cnn [--samples 128] [--channels 32] [--repeats 3] [--precision float64|float32] [--mlp-width 1024] [--exact]

import Foundation
import Wisp

func runCNNBench(_ args: [String]) {
    var samples = 128, channels = 32, repeats = 3, precision = "float64", mlpWidth = 1024, exact = false
    var i = 0
    func value() -> Int {
        i += 1
        guard i < args.count, let v = Int(args[i]), v >= 1 else { fail("\(args[i - 1]) needs a positive integer") }
        return v
    }
    while i < args.count {
        switch args[i] {
        case "--samples": samples = value()
        case "--channels": channels = value()
        case "--repeats": repeats = value()
        case "--mlp-width": mlpWidth = value()
        case "--exact": exact = true
        case "--precision":
            i += 1
            guard i < args.count, ["float64", "float32"].contains(args[i]) else { fail("--precision needs float64 or float32") }
            precision = args[i]
        default: fail("unknown option \(args[i]) (cnn takes --samples, --channels, --repeats, --precision, --mlp-width, --exact)")
        }
        i += 1
    }
    if precision == "float64" { cnnBench(Double.self, samples: samples, channels: channels, repeats: repeats, mlpWidth: mlpWidth, exact: exact) }
    else { cnnBench(Float.self, samples: samples, channels: channels, repeats: repeats, mlpWidth: mlpWidth, exact: exact) }
}


/// Best and median of `repeats` timings after one warm-up.
private func timed(_ repeats: Int, _ body: () -> Void) -> (best: Double, median: Double) {
    body()
    var t = [Double]()
    for _ in 0..<repeats {
        let s = now()
        body()
        t.append(now() - s)
    }
    t.sort()
    return (t[0], t[t.count / 2])
}

/// GFLOP/s of C = A Bᵀ with A: m×k, B: n×k (the forward shape of a convolution), best of repeats.
private func gemmRate<S: BLASScalar>(_: S.Type, m: Int, n: Int, k: Int, repeats: Int) -> Double {
    let a = [S](repeating: 1, count: m * k), b = [S](repeating: 0.5, count: n * k)
    var c = [S](repeating: 0, count: m * n)
    let t = timed(repeats) {
        a.withUnsafeBufferPointer { a in b.withUnsafeBufferPointer { b in c.withUnsafeMutableBufferPointer { c in
            S.gemm(transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: a.baseAddress!, lda: k, b: b.baseAddress!, ldb: k,
                   beta: 0, c: c.baseAddress!, ldc: n)
        } } }
    }
    return 2 * Double(m) * Double(n) * Double(k) / t.best / 1e9
}

private func cnnBench<S: BLASScalar>(_: S.Type, samples T: Int, channels c: Int, repeats: Int, mlpWidth M: Int, exact: Bool) {
    let f = { (x: Double, d: Int) in String(format: "%.\(d)f", x) }
    print("wisp-bench cnn: one F·v of a small CNN as layers vs. the measured GEMM peak (\(S.precisionName), BLAS threads \(ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"] ?? "default"))")
    let specs: [LayerSpec] = [
        .conv2D(inChannels: 3, outChannels: c, kernel: [3], stride: [1], padding: [1], bias: true), .activation(.relu),
        .conv2D(inChannels: c, outChannels: c, kernel: [3], stride: [1], padding: [1], bias: true), .activation(.relu),
        .maxPool2D(kernel: [2], stride: nil, padding: [0]),
        .conv2D(inChannels: c, outChannels: 2 * c, kernel: [3], stride: [1], padding: [1], bias: true), .activation(.relu),
        .maxPool2D(kernel: [2], stride: nil, padding: [0]),
        .flatten, .dense(inFeatures: 2 * c * 64, outFeatures: 10, bias: true),
    ]
    let architecture = LayerArchitecture(input: .image(channels: 3, height: 32, width: 32), layers: specs)
    let layers = try! architecture.makeLayers(as: S.self)
    let network = try! LayerSequence(layers: layers, parameters: architecture.initialParameters(for: layers, seed: 1))
    let data = try! Dataset.gaussian(totalSamples: T, dimension: architecture.input.count, seed: 1)
    let forwardStart = now()
    try! network.forward(data)
    let forward = (best: now() - forwardStart, median: now() - forwardStart)
    let op = LayerFisherOperator(network: network, totalSamples: T)
    let P = network.parameterCount
    let v = (0..<P).map { CounterRandom(seed: 1, stream: .probe(0)).normal($0) }
    var y = [Double](repeating: 0, count: P)
    let product = timed(repeats) { y = op.apply(v) }
    let flops = network.flopsPerProduct
    // Peak: square GEMMs and the CNN's largest GEMM shape (the c→c conv: T·1024 rows, K = 9c, O = c).
    let shapes = [(1024, 1024, 1024), (2048, 2048, 2048), (T * 1024, c, 9 * c), (T * 256, 2 * c, 9 * c)]
    var rates: [String] = []
    var peak = 0.0
    for (m, n, k) in shapes {
        let r = gemmRate(S.self, m: m, n: n, k: k, repeats: repeats)
        rates.append("\(m)×\(n)×\(k): \(f(r, 1))")
        peak = max(peak, r)
    }
    print("GEMM GFLOP/s (best of \(repeats)): " + rates.joined(separator: ", ") + "; peak \(f(peak, 1))")
    let cnnRate = flops / product.best / 1e9
    print("CNN  P = \(P), T = \(T), channels \(c): forward \(f(forward.best, 3)) s; F·v best \(f(product.best, 4)) s, median \(f(product.median, 4)) s, \(f(flops / 1e9, 2)) GFLOP → \(f(cnnRate, 1)) GFLOP/s = \(f(100 * cnnRate / peak, 1)) % of peak")
    // The GEMM share: each conv term's GEMM timed alone at its shape (a model of the product's BLAS time).
    var gemmModel = 0.0
    var shape = architecture.input
    for layer in layers {
        if let conv = layer as? Conv2D<S> {
            let rows = T * conv.outputShape.height * conv.outputShape.width, K = conv.inChannels * conv.kernel.height * conv.kernel.width
            let seconds = 2 * Double(rows) * Double(K) * Double(conv.outChannels) / (gemmRate(S.self, m: rows, n: conv.outChannels, k: K, repeats: 1) * 1e9)
            gemmModel += (shape == architecture.input ? 3 : 5) * seconds   // fwd-free: JVP 2 (1 on the input layer) + VJP 2 (1 there)
        }
        shape = layer.outputShape
    }
    print("     the convolutions' GEMMs alone at their shapes: \(f(gemmModel, 4)) s of the \(f(product.best, 4)) s (the rest: im2col/col2im, layout transposes, pooling and activation loops)")
    if exact {
        // The exact path: K's rows (all of them on one process), then every eigenvalue.
        let kernel = try! LayerTangentKernel(network: network)
        let C = network.outputCount, n = T * C
        let forms = kernel.cheaperForms(totalSamples: T)
        let modelled = zip(kernel.sites, forms).reduce(0.0) { $0 + $1.0.cost($1.1, localSamples: T, totalSamples: T, outputs: C).flops }
        let formStart = now()
        var K = kernel.rows { local, _, _ in local }
        let formSeconds = now() - formStart
        for i in K.indices { K[i] /= Double(T) }
        let solveStart = now()
        let values = try! LAPACK.symmetricEigen(&K, n: n, selection: .all, vectors: false).values
        let solveSeconds = now() - solveStart
        let described = zip(kernel.sites, forms).map { "\($0.name) \($0.kind): \($1.rawValue)" }.joined(separator: ", ")
        print("EXACT TC = \(n): K formed in \(f(formSeconds, 3)) s (= \(f(formSeconds / product.best, 1)) F·v; C = \(C) backward passes + the forms' \(f(modelled / 1e9, 2)) GFLOP: \(described)); all \(n) eigenvalues by dsyevd in \(f(solveSeconds, 3)) s; λ_max = \(String(format: "%.6e", values.max() ?? 0))")
    }
    // The MLP path next to it: depth 3, width M, d = M, C = 10, ReLU, the same T.
    let arch = try! Architecture(depth: 3, width: M, inputDimension: M, outputs: 10)
    let jac = try! BatchedJacobian(network: Network<S>(architecture: arch, seed: 1),
                                   inputs: try! Dataset.gaussian(totalSamples: T, dimension: M, seed: 1))
    let fisher = FisherOperator(jacobian: jac, totalSamples: T)
    let w = (0..<arch.parameterCount).map { CounterRandom(seed: 1, stream: .probe(0)).normal($0) }
    var z = [Double](repeating: 0, count: arch.parameterCount)
    let mlp = timed(repeats) { z = fisher.apply(w) }
    let mlpRate = jac.flopsPerProduct / mlp.best / 1e9
    print("MLP  P = \(arch.parameterCount), T = \(T), width \(M): F·v best \(f(mlp.best, 4)) s, \(f(jac.flopsPerProduct / 1e9, 2)) GFLOP → \(f(mlpRate, 1)) GFLOP/s = \(f(100 * mlpRate / peak, 1)) % of peak")
    _ = (y, z)
}
