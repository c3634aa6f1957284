import XCTest
@testable import Wisp
import WispTestSupport

/// The R-operator (forward-over-reverse) of every layer against central differences of its
/// VJP, and the Hessian-vector products of small networks given as layers
/// (``LayerHessianOperator``) against central differences of the loss gradient, a dense
/// finite-difference Hessian, the MLP path's ``HessianOperator``, symmetry, and 1–4 ranks.
final class LayerHessianTests: XCTestCase {
    typealias L = LayerTests

    /// (x̄, R{x̄}, R{θ̄}) of one layer at (x, θ) along (ẋ, θ̇) (nil: not passed) with ȳ, Rȳ.
    static func rOperator(_ layer: any Layer<Double>, _ x: [Double], _ theta: [Double], batch n: Int,
                          dx: [Double]?, dtheta: [Double]?, dy: [Double], rdy: [Double]?, alpha: Double = 1)
        -> (input: [Double], inputTangent: [Double], parameters: [Double]) {
        _ = L.forward(layer, x, theta, batch: n)
        var xbar = [Double](repeating: .nan, count: n * layer.inputShape.count + 1)
        var rxbar = xbar
        var rtheta = [Double](repeating: .nan, count: layer.parameterCount + 1)
        L.withPointers(x, theta) { xp, tp in
            L.withPointers(dx ?? [], dtheta ?? []) { dxp, dtp in
                L.withPointers(dy, rdy ?? []) { dyp, rdyp in
                    xbar.withUnsafeMutableBufferPointer { a in
                        rxbar.withUnsafeMutableBufferPointer { b in
                            rtheta.withUnsafeMutableBufferPointer { c in
                                layer.rOperator(xp, parameters: tp, inputTangent: dx == nil ? nil : dxp,
                                                parameterTangent: dtheta == nil ? nil : dtp, cotangent: dyp,
                                                cotangentTangent: rdy == nil ? nil : rdyp, inputCotangent: a.baseAddress!,
                                                inputCotangentTangent: b.baseAddress!, parameterCotangentTangent: c.baseAddress!,
                                                alpha: alpha)
                            }
                        }
                    }
                }
            }
        }
        return (Array(xbar.dropLast()), Array(rxbar.dropLast()), Array(rtheta.dropLast()))
    }

    /// The whole R-op check of one layer at a seeded random point: R{x̄} and R{θ̄} against central
    /// differences of the VJP along (ẋ, θ̇, Rȳ), x̄ against the VJP, α, and nil tangents as zeros.
    static func check(_ layer: any Layer<Double>, batch n: Int = 2, seed: UInt64 = 7, inputs: [Double]? = nil,
                      label: String, file: StaticString = #filePath, line: UInt = #line) {
        let nx = n * layer.inputShape.count, P = layer.parameterCount, rows = n * layer.outputShape.count
        let x = inputs ?? L.normals(nx, seed: seed, stream: 0)
        let theta = L.normals(P, seed: seed, stream: 1, scale: 0.5)
        let dx = L.normals(nx, seed: seed, stream: 2), dt = L.normals(P, seed: seed, stream: 3)
        let dy = L.normals(rows, seed: seed, stream: 4), rdy = L.normals(rows, seed: seed, stream: 5)
        let r = rOperator(layer, x, theta, batch: n, dx: dx, dtheta: dt, dy: dy, rdy: rdy)
        // Central differences of the VJP with h = 2e-5: truncation h²·|∂³|/6 with third
        // derivatives along (ẋ, θ̇, Rȳ) up to ~1000 for the composed blocks (measured: h = 1e-4
        // leaves 4e-7, falling as h²) gives ≲ 1e-8, rounding ε·|x̄|/h ≈ 1e-11; exact up to
        // rounding for the bilinear and piecewise linear layers. A missing term is O(1).
        let h = 2e-5
        func vjpAt(_ s: Double) -> (input: [Double], parameters: [Double]) {
            let xs = zip(x, dx).map { $0 + s * $1 }, ts = zip(theta, dt).map { $0 + s * $1 }
            _ = L.forward(layer, xs, ts, batch: n)
            return L.vjp(layer, xs, ts, batch: n, dy: zip(dy, rdy).map { $0 + s * $1 })
        }
        let (plus, minus) = (vjpAt(h), vjpAt(-h))
        let fdx = zip(plus.input, minus.input).map { ($0 - $1) / (2 * h) }
        let fdt = zip(plus.parameters, minus.parameters).map { ($0 - $1) / (2 * h) }
        XCTAssertLessThan(L.error(r.inputTangent, fdx), 1e-7, "\(label): R{x̄} against central differences of the VJP", file: file, line: line)
        XCTAssertLessThan(L.error(r.parameters, fdt), 1e-7, "\(label): R{θ̄} against central differences of the VJP", file: file, line: line)
        // x̄ is the VJP of ȳ (the same operations: equal to a few ulps).
        _ = L.forward(layer, x, theta, batch: n)
        XCTAssertLessThan(L.error(r.input, L.vjp(layer, x, theta, batch: n, dy: dy).input), 1e-14, "\(label): x̄", file: file, line: line)
        // α scales R{θ̄} only; nil tangents act as zeros.
        let scaled = rOperator(layer, x, theta, batch: n, dx: dx, dtheta: dt, dy: dy, rdy: rdy, alpha: 0.25)
        XCTAssertLessThan(L.error(scaled.parameters, r.parameters.map { 0.25 * $0 }), 1e-15, "\(label): α", file: file, line: line)
        XCTAssertLessThan(L.error(scaled.inputTangent, r.inputTangent), 1e-15, "\(label): α must not scale R{x̄}", file: file, line: line)
        let zx = [Double](repeating: 0, count: nx), zt = [Double](repeating: 0, count: P), zy = [Double](repeating: 0, count: rows)
        for (a, b, c) in [(true, false, false), (false, true, false), (false, false, true), (true, true, true)] {
            let withNil = rOperator(layer, x, theta, batch: n, dx: a ? nil : dx, dtheta: b ? nil : dt, dy: dy, rdy: c ? nil : rdy)
            let withZero = rOperator(layer, x, theta, batch: n, dx: a ? zx : dx, dtheta: b ? zt : dt, dy: dy, rdy: c ? zy : rdy)
            XCTAssertLessThan(L.error(withNil.inputTangent, withZero.inputTangent), 1e-15, "\(label): nil tangents (\(a), \(b), \(c)), R{x̄}", file: file, line: line)
            XCTAssertLessThan(L.error(withNil.parameters, withZero.parameters), 1e-15, "\(label): nil tangents (\(a), \(b), \(c)), R{θ̄}", file: file, line: line)
        }
    }

    // MARK: Layers

    func testDenseAndConvolution() throws {
        for bias in [true, false] {
            Self.check(try Dense<Double>(input: .features(5), outFeatures: 4, bias: bias), batch: 3, label: "dense bias=\(bias)")
        }
        let input = TensorShape.image(channels: 2, height: 5, width: 4)
        for (kernel, stride, padding) in [((3, 3), (1, 1), (1, 1)), ((2, 3), (2, 1), (0, 2)), ((1, 1), (2, 2), (0, 0))] {
            for bias in [true, false] {
                let conv = try Conv2D<Double>(input: input, outChannels: 3, kernel: kernel, stride: stride, padding: padding, bias: bias)
                Self.check(conv, label: "conv2d k=\(kernel) s=\(stride) p=\(padding) bias=\(bias)")
            }
        }
    }

    func testPoolingFlattenAndActivations() throws {
        let input = TensorShape.image(channels: 2, height: 4, width: 4)
        Self.check(try AveragePool2D<Double>(input: input, kernel: (2, 2), stride: (1, 1), padding: (1, 1)), label: "avgpool2d")
        // Distinct random inputs: no ties within h, so the argmax is fixed and the map linear.
        Self.check(try MaxPool2D<Double>(input: input, kernel: (3, 2), stride: (1, 2), padding: (1, 0)), label: "maxpool2d")
        Self.check(try Flatten<Double>(input: input), label: "flatten")
        for activation in Activation.allCases {
            // Inputs away from ReLU's kink at 0 by more than h·|ẋ|.
            let x = L.normals(2 * 12, seed: 8, stream: 0).map { $0 + ($0 >= 0 ? 0.1 : -0.1) }
            Self.check(try ActivationLayer<Double>(input: .image(channels: 3, height: 2, width: 2), activation: activation),
                       inputs: x, label: "activation \(activation.rawValue)")
        }
    }

    func testResidualBlocks() throws {
        let image = TensorShape.image(channels: 2, height: 4, width: 4)
        let c1 = try Conv2D<Double>(input: image, outChannels: 2, kernel: (3, 3), padding: (1, 1))
        let a1 = try ActivationLayer<Double>(input: c1.outputShape, activation: .tanh)
        let c2 = try Conv2D<Double>(input: a1.outputShape, outChannels: 2, kernel: (3, 3), padding: (1, 1), bias: false)
        Self.check(try Residual(body: [c1, a1, c2]), label: "residual identity")
        let d1 = try Conv2D<Double>(input: image, outChannels: 3, kernel: (3, 3), stride: (2, 2), padding: (1, 1))
        let da = try ActivationLayer<Double>(input: d1.outputShape, activation: .softplus)
        let d2 = try Conv2D<Double>(input: da.outputShape, outChannels: 3, kernel: (3, 3), padding: (1, 1))
        let projection = try Conv2D<Double>(input: image, outChannels: 3, kernel: (1, 1), stride: (2, 2), bias: false)
        Self.check(try Residual(body: [d1, da, d2], projection: projection), label: "residual conv projection")
        let e1 = try Dense<Double>(input: .features(6), outFeatures: 5)
        let ea = try ActivationLayer<Double>(input: e1.outputShape, activation: .sigmoid)
        let e2 = try Dense<Double>(input: ea.outputShape, outFeatures: 4)
        Self.check(try Residual(body: [e1, ea, e2], projection: try Dense<Double>(input: .features(6), outFeatures: 4)),
                   batch: 3, label: "residual dense projection")
    }

    func testLayerChain() throws {
        let chain = try LayerChain(layers: try LayerSpec.makeChain(Self.specs, input: Self.input, as: Double.self))
        Self.check(chain, batch: 2, label: "small CNN chain")
    }

    // MARK: Networks

    static let input = TensorShape.image(channels: 1, height: 5, width: 5)
    static let samples = 4
    static let outputs = 3

    /// conv 3×3 → tanh → maxpool 2 (stride 1) → layernorm → residual(conv, softplus, conv) →
    /// avgpool 2 → flatten → dense 3.
    static let specs: [LayerSpec] = [
        .conv2D(inChannels: 1, outChannels: 2, kernel: [3], stride: [1], padding: [1], bias: true),
        .activation(.tanh),
        .maxPool2D(kernel: [2], stride: [1], padding: [0]),
        .layerNorm(normalizedShape: nil, epsilon: 1e-5, elementwiseAffine: true, bias: true),
        .residual(body: [.conv2D(inChannels: 2, outChannels: 2, kernel: [3], stride: [1], padding: [1], bias: true),
                         .activation(.softplus),
                         .conv2D(inChannels: 2, outChannels: 2, kernel: [3], stride: [1], padding: [1], bias: false)],
                  projection: nil),
        .averagePool2D(kernel: [2], stride: nil, padding: [0]),
        .flatten,
        .dense(inFeatures: 8, outFeatures: outputs, bias: true),
    ]

    static func parameterCount(_ specs: [LayerSpec] = specs, input: TensorShape = input) throws -> Int {
        try LayerSpec.makeChain(specs, input: input, as: Double.self).reduce(0) { $0 + $1.parameterCount }
    }

    static func network(_ specs: [LayerSpec] = specs, input: TensorShape = input, parameters theta: [Double]? = nil,
                        block: Range<Int>? = nil, reduction: (any SampleReduction)? = nil) throws -> LayerSequence<Double> {
        let layers = try LayerSpec.makeChain(specs, input: input, as: Double.self)
        let P = layers.reduce(0) { $0 + $1.parameterCount }
        let seq = try LayerSequence(layers: layers, parameters: theta ?? L.normals(P, seed: 31, stream: 0, scale: 0.6))
        if let reduction { seq.setSampleReduction(reduction) }
        try seq.forward(try Dataset.gaussian(totalSamples: samples, dimension: input.count, seed: 31, samples: block))
        return seq
    }

    /// Targets: one-hot rows for cross-entropy, normals otherwise.
    static func targets(_ loss: Loss, rows: Range<Int> = 0..<samples) -> [Double] {
        rows.flatMap { t -> [Double] in
            loss == .crossEntropy ? (0..<outputs).map { $0 == t % outputs ? 1 : 0 }
                : (0..<outputs).map { CounterRandom(seed: 32, stream: .probe(0)).normal(t * outputs + $0) }
        }
    }

    /// ∇L(θ) = (1/T) Jᵀ r (the VJP of the loss gradient).
    static func gradient(_ specs: [LayerSpec], input: TensorShape, parameters theta: [Double], loss: Loss) throws -> [Double] {
        let seq = try network(specs, input: input, parameters: theta)
        let r = loss.evaluate(outputs: seq.outputs, targets: targets(loss), columns: outputs).gradient
        var g = [Double](repeating: 0, count: theta.count)
        seq.vjp(r, alpha: 1 / Double(samples), into: &g)
        return g
    }

    /// H v against central differences of ∇L along v, for mse and cross-entropy and bce;
    /// S v + G v = H v (mse: G = F).
    func testHessianVectorProductAgainstCentralDifferencesOfTheGradient() throws {
        for loss in Loss.allCases {
            let seq = try Self.network()
            let P = seq.parameterCount
            let H = try LayerHessianOperator(network: seq, targets: Self.targets(loss), loss: loss, totalSamples: Self.samples)
            let v = L.normals(P, seed: 33, stream: 0)
            let hv = H.apply(v)
            // h = 1e-5: truncation h²·|∇⁴L·v³|/6 ≈ 1e-10, rounding ε·|∇L|/h ≈ 1e-11.
            let h = 1e-5
            let gp = try Self.gradient(Self.specs, input: Self.input, parameters: zip(seq.parameters, v).map { $0 + h * $1 }, loss: loss)
            let gm = try Self.gradient(Self.specs, input: Self.input, parameters: zip(seq.parameters, v).map { $0 - h * $1 }, loss: loss)
            let fd = zip(gp, gm).map { ($0 - $1) / (2 * h) }
            XCTAssertLessThan(DenseReference.relativeError(hv, fd), 1e-7, "H v, \(loss)")
            if loss == .mse {
                let S = try LayerHessianOperator(network: seq, targets: Self.targets(loss), loss: loss, part: .residual, totalSamples: Self.samples)
                let G = LayerFisherOperator(network: seq, totalSamples: Self.samples)
                let sum = zip(S.apply(v), G.apply(v)).map { $0 + $1 }
                XCTAssertLessThan(DenseReference.relativeError(sum, hv), 1e-13, "S v + G v = H v")
            }
        }
    }

    /// The dense H (P columns H e_j) against the Hessian by central differences of the gradient,
    /// column by column, and its symmetry; vᵀ H w = wᵀ H v.
    func testDenseHessianAgainstFiniteDifferencesAndSymmetry() throws {
        let seq = try Self.network()
        let P = seq.parameterCount
        XCTAssertEqual(P, 185)
        let H = try LayerHessianOperator(network: seq, targets: Self.targets(.mse), totalSamples: Self.samples)
        let dense = DenseReference.dense(H)
        let h = 1e-5
        var fd = [Double](repeating: 0, count: P * P)
        for j in 0..<P {
            var plus = seq.parameters, minus = seq.parameters
            plus[j] += h
            minus[j] -= h
            let (gp, gm) = (try Self.gradient(Self.specs, input: Self.input, parameters: plus, loss: .mse),
                            try Self.gradient(Self.specs, input: Self.input, parameters: minus, loss: .mse))
            for i in 0..<P { fd[i * P + j] = (gp[i] - gm[i]) / (2 * h) }
        }
        XCTAssertLessThan(DenseReference.relativeError(dense, fd), 1e-7, "H against central differences of ∇L (P = \(P))")
        // The R-op's H is symmetric up to the rounding of its sums (a few hundred terms).
        let transposed = DenseReference.transpose(dense, rows: P, cols: P)
        XCTAssertLessThan(DenseReference.relativeError(dense, transposed), 1e-12, "H = Hᵀ")
        let v = L.normals(P, seed: 34, stream: 0), w = L.normals(P, seed: 34, stream: 1)
        let vHw = zip(v, H.apply(w)).reduce(0) { $0 + $1.0 * $1.1 }, wHv = zip(w, H.apply(v)).reduce(0) { $0 + $1.0 * $1.1 }
        XCTAssertEqual(vHw, wHv, accuracy: 1e-12 * dense.map(abs).max()! * Double(P), "vᵀ H w = wᵀ H v")
    }

    /// The ends of the indefinite H and S of the CNN by Lanczos (largest, smallest, largest
    /// magnitude) against LAPACK dsyevd of the dense operator: pairs converged to 1e-10, so the
    /// eigenvalues agree to ~1e-10·‖H‖ (1e-9·‖H‖ allowed for the reference's own ε‖H‖·P).
    func testIndefiniteLanczosAgainstLAPACK() throws {
        let seq = try Self.network()
        for part in [HessianOperator<Double>.Part.full, .residual] {
            let op = try LayerHessianOperator(network: seq, targets: Self.targets(.crossEntropy), loss: .crossEntropy, part: part,
                                              totalSamples: Self.samples)
            let exact = try LAPACK.symmetricEigen(DenseReference.dense(op), n: op.dimension).values.sorted()
            let norm = max(abs(exact.first!), abs(exact.last!))
            XCTAssertLessThan(exact.first!, -1e-6 * norm, "\(part) should be indefinite")
            for which in SpectrumEnd.allCases {
                let pairs = try Lanczos.solve(op, settings: LanczosSettings(count: 3, which: which, tolerance: 1e-10, seed: 1))
                let want: [Double]
                switch which {
                case .largest: want = Array(exact.reversed().prefix(3))
                case .smallest: want = Array(exact.prefix(3))
                case .largestMagnitude: want = Array(exact.sorted { abs($0) > abs($1) }.prefix(3))
                }
                XCTAssertTrue(pairs.converged.allSatisfy { $0 }, "\(part) \(which)")
                for (got, w) in zip(pairs.values, want) {
                    XCTAssertEqual(got, w, accuracy: 1e-9 * norm, "\(part) \(which)")
                }
            }
        }
    }

    /// A dense + activation sequence on the MLP's θ: H v and S v equal the MLP path's
    /// hand-written R-operator (``HessianOperator``) to rounding (the same GEMMs in another order).
    func testDenseSequenceEqualsTheMLPHessian() throws {
        let arch = try Architecture(widths: [4, 6, 5, 2], activation: .tanh, layerBias: [true, false, true], sigmaB2: 0.1)
        let net = Network<Double>(architecture: arch, seed: 5)
        let T = 7
        let data = try Dataset.gaussian(totalSamples: T, dimension: 4, seed: 5)
        let mlp = try BatchedJacobian(network: net, inputs: data)
        let specs: [LayerSpec] = [
            .dense(inFeatures: 4, outFeatures: 6, bias: true), .activation(.tanh),
            .dense(inFeatures: 6, outFeatures: 5, bias: false), .activation(.tanh),
            .dense(inFeatures: 5, outFeatures: 2, bias: true),
        ]
        let seq = try LayerSequence(input: .features(4), layers: specs, parameters: net.parameters)
        try seq.forward(data)
        let y = L.normals(T * 2, seed: 5, stream: 9)
        let v = L.normals(arch.parameterCount, seed: 5, stream: 10)
        for part in [HessianOperator<Double>.Part.full, .residual] {
            let reference = try HessianOperator(jacobian: mlp, loss: Loss.mse.evaluate(outputs: mlp.outputs, targets: y, columns: 2),
                                                part: part, totalSamples: T)
            let layered = try LayerHessianOperator(network: seq, targets: y, part: part, totalSamples: T)
            XCTAssertLessThan(DenseReference.relativeError(layered.apply(v), reference.apply(v)), 1e-12, "\(part)")
        }
    }

    /// The samples sharded over 1–4 ranks (threads; T = 4 gives blocks of 1 each on four): H v
    /// equals one rank's to rounding (partial sums in another order).
    func testShardedOverRanksEqualsOneRank() throws {
        let serial = try Self.network()
        let P = serial.parameterCount
        let v = L.normals(P, seed: 35, stream: 0)
        let hv = try LayerHessianOperator(network: serial, targets: Self.targets(.crossEntropy), loss: .crossEntropy,
                                          totalSamples: Self.samples).apply(v)
        for size in 1...4 {
            let results = try ThreadGroup.run(size: size) { comm -> [Double] in
                let block = comm.block(of: Self.samples)
                let seq = try Self.network(block: block)
                return try LayerHessianOperator(network: seq, targets: Self.targets(.crossEntropy, rows: block), loss: .crossEntropy,
                                                totalSamples: Self.samples, communicator: comm).apply(v)
            }
            for (r, result) in results.enumerated() {
                XCTAssertLessThan(DenseReference.relativeError(result, hv), 1e-13, "H v on rank \(r) of \(size)")
            }
        }
    }

    /// Float32 passes agree with Float64 to Float32 rounding (1e-4 relative, ~1000 ε₃₂).
    func testFloat32AgreesWithFloat64() throws {
        let double = try Self.network()
        let layers = try LayerSpec.makeChain(Self.specs, input: Self.input, as: Float.self)
        let single = try LayerSequence(layers: layers, parameters: double.parameters.map { Float($0) })
        try single.forward(try Dataset.gaussian(totalSamples: Self.samples, dimension: Self.input.count, seed: 31))
        let v = L.normals(double.parameterCount, seed: 36, stream: 0).map { Double(Float($0)) }
        let y = Self.targets(.mse)
        let h64 = try LayerHessianOperator(network: double, targets: y, totalSamples: Self.samples).apply(v)
        let h32 = try LayerHessianOperator(network: single, targets: y, totalSamples: Self.samples).apply(v)
        XCTAssertLessThan(DenseReference.relativeError(h32, h64), 1e-4)
    }

    /// A network with batch normalization (statistics over all samples: J couples them):
    /// conv → batchnorm2d → tanh → residual(conv, batchnorm2d, sigmoid) → flatten →
    /// batchnorm1d → dense.
    static let batchNormSpecs: [LayerSpec] = [
        .conv2D(inChannels: 1, outChannels: 2, kernel: [3], stride: [1], padding: [0], bias: false),
        .batchNorm(dimensions: 2, features: 2, epsilon: 1e-5, affine: true),
        .activation(.tanh),
        .residual(body: [.conv2D(inChannels: 2, outChannels: 2, kernel: [3], stride: [1], padding: [1], bias: true),
                         .batchNorm(dimensions: 2, features: nil, epsilon: 1e-5, affine: true),
                         .activation(.sigmoid)], projection: nil),
        .flatten,
        .batchNorm(dimensions: 1, features: 18, epsilon: 1e-5, affine: false),
        .dense(inFeatures: 18, outFeatures: outputs, bias: true),
    ]

    /// H v of the batch-normalized network against central differences of its gradient (the
    /// statistics move with θ), S v + G v = H v, and 1–4 ranks (the statistics summed through
    /// the communicator) equal to one for J v, F v, K u and H v.
    func testBatchNormNetwork() throws {
        let serial = try Self.network(Self.batchNormSpecs)
        XCTAssertTrue(serial.couplesSamples)
        let P = serial.parameterCount
        let v = L.normals(P, seed: 37, stream: 0)
        let y = Self.targets(.mse)
        let H = try LayerHessianOperator(network: serial, targets: y, totalSamples: Self.samples)
        let hv = H.apply(v)
        let h = 1e-5
        let gp = try Self.gradient(Self.batchNormSpecs, input: Self.input, parameters: zip(serial.parameters, v).map { $0 + h * $1 }, loss: .mse)
        let gm = try Self.gradient(Self.batchNormSpecs, input: Self.input, parameters: zip(serial.parameters, v).map { $0 - h * $1 }, loss: .mse)
        XCTAssertLessThan(DenseReference.relativeError(hv, zip(gp, gm).map { ($0 - $1) / (2 * h) }), 1e-7, "H v against ∇L")
        let S = try LayerHessianOperator(network: serial, targets: y, part: .residual, totalSamples: Self.samples)
        let sum = zip(S.apply(v), LayerFisherOperator(network: serial, totalSamples: Self.samples).apply(v)).map { $0 + $1 }
        XCTAssertLessThan(DenseReference.relativeError(sum, hv), 1e-13, "S v + G v = H v")
        var jv = [Double](repeating: 0, count: Self.samples * Self.outputs)
        serial.jvp(v, into: &jv)
        let fv = LayerFisherOperator(network: serial, totalSamples: Self.samples).apply(v)
        let u = L.normals(Self.samples * Self.outputs, seed: 37, stream: 1)
        let ku = LayerGramOperator(network: serial, samples: 0..<Self.samples, totalSamples: Self.samples).apply(u)
        for size in 2...4 {
            let results = try ThreadGroup.run(size: size) { comm -> ([Double], [Double], [Double], [Double]) in
                let block = comm.block(of: Self.samples)
                let seq = try Self.network(Self.batchNormSpecs, block: block, reduction: comm)
                var local = [Double](repeating: 0, count: block.count * Self.outputs)
                seq.jvp(v, into: &local)
                let F = LayerFisherOperator(network: seq, totalSamples: Self.samples, communicator: comm)
                let H = try LayerHessianOperator(network: seq, targets: Self.targets(.mse, rows: block), totalSamples: Self.samples,
                                                 communicator: comm)
                let K = LayerGramOperator(network: seq, samples: block, totalSamples: Self.samples, communicator: comm)
                return (local, F.apply(v), H.apply(v), K.apply(Array(u[(block.lowerBound * Self.outputs)..<(block.upperBound * Self.outputs)])))
            }
            XCTAssertLessThan(DenseReference.relativeError(results.flatMap { $0.0 }, jv), 1e-13, "J v over \(size) ranks")
            XCTAssertLessThan(DenseReference.relativeError(results.flatMap { $0.3 }, ku), 1e-13, "K u over \(size) ranks")
            for (r, result) in results.enumerated() {
                XCTAssertLessThan(DenseReference.relativeError(result.1, fv), 1e-13, "F v on rank \(r) of \(size)")
                XCTAssertLessThan(DenseReference.relativeError(result.2, hv), 1e-13, "H v on rank \(r) of \(size)")
            }
        }
        // Sharded without the communicator as the reduction: refused, not wrong statistics.
        XCTAssertThrowsError(try Self.network(Self.batchNormSpecs, block: 0..<2)) { e in
            XCTAssertTrue("\(e)".hasPrefix("batchnorm2d normalizes with batch statistics but this process holds 2 of the 4 samples"), "\(e)")
        }
    }

    /// Targets of the wrong count or not finite are refused with one line.
    func testBadTargetsAreRefused() throws {
        let seq = try Self.network()
        XCTAssertThrowsError(try LayerHessianOperator(network: seq, targets: [1, 2], totalSamples: Self.samples)) { e in
            XCTAssertEqual("\(e)", "the Hessian needs 4 × 3 targets for the network's 4 samples and 3 outputs, got 2 values")
        }
        var y = Self.targets(.mse)
        y[5] = .nan
        XCTAssertThrowsError(try LayerHessianOperator(network: seq, targets: y, totalSamples: Self.samples)) { e in
            XCTAssertTrue("\(e)".contains("target 5 (sample 1, output 2) is nan"), "\(e)")
        }
    }
}
