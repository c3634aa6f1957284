import XCTest
@testable import Wisp
import WispTestSupport

/// Every layer's forward, JVP and VJP on tiny shapes: the JVP's explicit Jacobian (built column
/// by column from unit tangents) against central differences of the forward pass, the VJP's
/// rows against that Jacobian, and the adjoint identity ⟨J v, u⟩ = ⟨v, Jᵀ u⟩.
final class LayerTests: XCTestCase {
    /// A layer's Jacobians at one point: with respect to the batch's inputs (n·out × n·in) and
    /// to θ (n·out × P), both row-major.
    struct Jacobians {
        var input: [Double]
        var parameters: [Double]
    }

    /// Runs `body` with pointers to x and θ (padded by one so an empty θ has an address).
    static func withPointers<R>(_ x: [Double], _ theta: [Double],
                                _ body: (UnsafePointer<Double>, UnsafePointer<Double>) -> R) -> R {
        (x + [0]).withUnsafeBufferPointer { xp in (theta + [0]).withUnsafeBufferPointer { tp in body(xp.baseAddress!, tp.baseAddress!) } }
    }

    static func forward(_ layer: any Layer<Double>, _ x: [Double], _ theta: [Double], batch n: Int) -> [Double] {
        var y = [Double](repeating: .nan, count: n * layer.outputShape.count + 1)
        withPointers(x, theta) { xp, tp in
            y.withUnsafeMutableBufferPointer { layer.forward(xp, parameters: tp, batch: n, into: $0.baseAddress!) }
        }
        return Array(y.dropLast())
    }

    /// ẏ for the tangents (nil: zero), at the batch the layer last ran forward on.
    static func jvp(_ layer: any Layer<Double>, _ x: [Double], _ theta: [Double], batch n: Int,
                    dx: [Double]?, dtheta: [Double]?) -> [Double] {
        var dy = [Double](repeating: .nan, count: n * layer.outputShape.count + 1)
        withPointers(x, theta) { xp, tp in
            withPointers(dx ?? [], dtheta ?? []) { dxp, dtp in
                dy.withUnsafeMutableBufferPointer {
                    layer.jvp(xp, parameters: tp, inputTangent: dx == nil ? nil : dxp, parameterTangent: dtheta == nil ? nil : dtp,
                              into: $0.baseAddress!)
                }
            }
        }
        return Array(dy.dropLast())
    }

    /// (x̄, θ̄) for the cotangent ȳ.
    static func vjp(_ layer: any Layer<Double>, _ x: [Double], _ theta: [Double], batch n: Int,
                    dy: [Double], alpha: Double = 1) -> (input: [Double], parameters: [Double]) {
        var dx = [Double](repeating: .nan, count: n * layer.inputShape.count + 1)
        var dtheta = [Double](repeating: .nan, count: layer.parameterCount + 1)
        withPointers(x, theta) { xp, tp in
            dy.withUnsafeBufferPointer { dyp in
                dx.withUnsafeMutableBufferPointer { dxp in
                    dtheta.withUnsafeMutableBufferPointer { dtp in
                        layer.vjp(xp, parameters: tp, cotangent: dyp.baseAddress!, inputCotangent: dxp.baseAddress!,
                                  parameterCotangent: dtp.baseAddress!, alpha: alpha)
                    }
                }
            }
        }
        return (Array(dx.dropLast()), Array(dtheta.dropLast()))
    }

    static func normals(_ n: Int, seed: UInt64, stream: Int, scale: Double = 1) -> [Double] {
        (0..<n).map { scale * CounterRandom(seed: seed, stream: .probe(stream)).normal($0) }
    }

    /// The explicit Jacobians from unit tangents through the JVP (column by column).
    static func explicitJacobians(_ layer: any Layer<Double>, _ x: [Double], _ theta: [Double], batch n: Int) -> Jacobians {
        _ = forward(layer, x, theta, batch: n)
        let rows = n * layer.outputShape.count, nx = x.count, P = layer.parameterCount
        var jx = [Double](repeating: 0, count: rows * nx), jt = [Double](repeating: 0, count: rows * P)
        for j in 0..<nx {
            var e = [Double](repeating: 0, count: nx)
            e[j] = 1
            let col = jvp(layer, x, theta, batch: n, dx: e, dtheta: nil)
            for r in 0..<rows { jx[r * nx + j] = col[r] }
        }
        for j in 0..<P {
            var e = [Double](repeating: 0, count: P)
            e[j] = 1
            let col = jvp(layer, x, theta, batch: n, dx: nil, dtheta: e)
            for r in 0..<rows { jt[r * P + j] = col[r] }
        }
        return Jacobians(input: jx, parameters: jt)
    }

    /// Central differences of the forward pass, column by column (step h).
    static func finiteDifferenceJacobians(_ layer: any Layer<Double>, _ x: [Double], _ theta: [Double], batch n: Int,
                                          step h: Double = 1e-5) -> Jacobians {
        let rows = n * layer.outputShape.count, nx = x.count, P = layer.parameterCount
        var jx = [Double](repeating: 0, count: rows * nx), jt = [Double](repeating: 0, count: rows * P)
        for j in 0..<nx {
            var xp = x, xm = x
            xp[j] += h
            xm[j] -= h
            let (fp, fm) = (forward(layer, xp, theta, batch: n), forward(layer, xm, theta, batch: n))
            for r in 0..<rows { jx[r * nx + j] = (fp[r] - fm[r]) / (2 * h) }
        }
        for j in 0..<P {
            var tp = theta, tm = theta
            tp[j] += h
            tm[j] -= h
            let (fp, fm) = (forward(layer, x, tp, batch: n), forward(layer, x, tm, batch: n))
            for r in 0..<rows { jt[r * P + j] = (fp[r] - fm[r]) / (2 * h) }
        }
        return Jacobians(input: jx, parameters: jt)
    }

    /// max |a − b| / max(max |b|, 1).
    static func error(_ a: [Double], _ b: [Double]) -> Double {
        precondition(a.count == b.count)
        let scale = max(b.map(abs).max() ?? 0, 1)
        return (zip(a, b).map { abs($0 - $1) }.max() ?? 0) / scale
    }

    /// The whole check for one layer at a random point (inputs and θ from seeded normals, or
    /// the given inputs).
    static func check(_ layer: any Layer<Double>, batch n: Int = 2, seed: UInt64 = 1, inputs: [Double]? = nil,
                      label: String, file: StaticString = #filePath, line: UInt = #line) {
        let nx = n * layer.inputShape.count, P = layer.parameterCount, rows = n * layer.outputShape.count
        let x = inputs ?? normals(nx, seed: seed, stream: 0)
        let theta = normals(P, seed: seed, stream: 1, scale: 0.5)
        let fd = finiteDifferenceJacobians(layer, x, theta, batch: n)
        let J = explicitJacobians(layer, x, theta, batch: n)
        // Central differences with h = 1e-5: truncation h²·|f'''|/6 ≲ 1e-10 for these O(1)
        // smooth maps (exact for the linear ones) plus rounding ε·|f|/h ≈ 1e-11.
        XCTAssertLessThan(error(J.input, fd.input), 1e-8, "\(label): ∂y/∂x against central differences", file: file, line: line)
        XCTAssertLessThan(error(J.parameters, fd.parameters), 1e-8, "\(label): ∂y/∂θ against central differences", file: file, line: line)
        // VJP rows against the JVP's Jacobian: the same products summed in other orders
        // (inner products of at most a few hundred terms: a few hundred ε at most).
        _ = forward(layer, x, theta, batch: n)
        for r in 0..<rows {
            var e = [Double](repeating: 0, count: rows)
            e[r] = 1
            let (gx, gt) = vjp(layer, x, theta, batch: n, dy: e)
            XCTAssertLessThan(error(gx, Array(J.input[(r * nx)..<((r + 1) * nx)])), 1e-13, "\(label): x̄ row \(r)", file: file, line: line)
            XCTAssertLessThan(error(gt, Array(J.parameters[(r * P)..<((r + 1) * P)])), 1e-13, "\(label): θ̄ row \(r)", file: file, line: line)
        }
        // α scales θ̄ only.
        let u = normals(rows, seed: seed, stream: 2)
        let (gx1, gt1) = vjp(layer, x, theta, batch: n, dy: u)
        let (gx2, gt2) = vjp(layer, x, theta, batch: n, dy: u, alpha: 0.25)
        XCTAssertLessThan(error(gx2, gx1), 1e-15, "\(label): α must not scale x̄", file: file, line: line)
        XCTAssertLessThan(error(gt2, gt1.map { 0.25 * $0 }), 1e-15, "\(label): θ̄ = α Jᵀ ȳ", file: file, line: line)
        // The adjoint identity ⟨J v, u⟩ = ⟨v, Jᵀ u⟩ for v = (ẋ, θ̇). Both sides evaluate the same
        // bilinear form uᵀ J v with sums in different orders. The worst-case first-order bound on
        // their gap is m·ε·|u|ᵀ|J||v| (m = nx + P + rows terms along one sum path); rounding errors
        // of independent signs grow like √m·ε·|u|ᵀ|J||v| (Higham, Accuracy and Stability, §2.8), so
        // "a few ulps" here is max(4, √m) units of ε·|u|ᵀ|J||v| (m ≤ 400 in these cases: ≤ 20).
        let dx = normals(nx, seed: seed, stream: 3), dt = normals(P, seed: seed, stream: 4)
        let jv = jvp(layer, x, theta, batch: n, dx: dx, dtheta: dt)
        let lhs = zip(jv, u).reduce(0) { $0 + $1.0 * $1.1 }
        let rhs = zip(dx, gx1).reduce(0) { $0 + $1.0 * $1.1 } + zip(dt, gt1).reduce(0) { $0 + $1.0 * $1.1 }
        var bound = 0.0
        for r in 0..<rows {
            var s = 0.0
            for j in 0..<nx { s += abs(J.input[r * nx + j] * dx[j]) }
            for j in 0..<P { s += abs(J.parameters[r * P + j] * dt[j]) }
            bound += abs(u[r]) * s
        }
        let units = max(4, Double(nx + P + rows).squareRoot())
        XCTAssertLessThanOrEqual(abs(lhs - rhs), units * Double.ulpOfOne * bound,
                                 "\(label): adjoint identity, gap \(abs(lhs - rhs) / (Double.ulpOfOne * bound)) ε·|u|ᵀ|J||v| (allowed \(units))",
                                 file: file, line: line)
    }

    // MARK: Layers

    func testDense() throws {
        for bias in [true, false] {
            Self.check(try Dense<Double>(input: .features(5), outFeatures: 4, bias: bias), batch: 3, label: "dense bias=\(bias)")
        }
    }

    /// Every combination of kernel, stride and padding (including a stride that skips the last
    /// rows, and padding wider than needed), with and without bias.
    func testConv2DEveryStrideAndPadding() throws {
        let input = TensorShape.image(channels: 2, height: 5, width: 6)
        for kernel in [(1, 1), (2, 3), (3, 3)] {
            for stride in [(1, 1), (2, 1), (2, 2), (3, 2)] {
                for padding in [(0, 0), (1, 0), (1, 2)] {
                    for bias in [true, false] {
                        let conv = try Conv2D<Double>(input: input, outChannels: 3, kernel: kernel, stride: stride, padding: padding, bias: bias)
                        Self.check(conv, label: "conv2d k=\(kernel) s=\(stride) p=\(padding) bias=\(bias) → \(conv.outputShape)")
                    }
                }
            }
        }
    }

    /// The convolution against its definition, y[o,p] = Σ W[o,c,i,j] x[c, s·p + (i,j) − pad] + b[o],
    /// evaluated pixel by pixel (independent of im2col and of the weight layout's flattening).
    func testConv2DMatchesTheDefinition() throws {
        let (C, H, W, O, kh, kw, sh, sw, ph, pw) = (2, 5, 4, 3, 3, 2, 2, 1, 1, 1)
        let conv = try Conv2D<Double>(input: .image(channels: C, height: H, width: W), outChannels: O, kernel: (kh, kw),
                                      stride: (sh, sw), padding: (ph, pw))
        let n = 2
        let x = Self.normals(n * C * H * W, seed: 3, stream: 0), theta = Self.normals(conv.parameterCount, seed: 3, stream: 1)
        let y = Self.forward(conv, x, theta, batch: n)
        let (OH, OW) = (conv.outputShape.height, conv.outputShape.width)
        XCTAssertEqual([OH, OW], [(H + 2 * ph - kh) / sh + 1, (W + 2 * pw - kw) / sw + 1])
        var expected = [Double]()
        for t in 0..<n {
            for o in 0..<O {
                for a in 0..<OH {
                    for b in 0..<OW {
                        var s = theta[O * C * kh * kw + o]
                        for c in 0..<C {
                            for i in 0..<kh {
                                for j in 0..<kw {
                                    let (r, q) = (a * sh + i - ph, b * sw + j - pw)
                                    guard r >= 0, r < H, q >= 0, q < W else { continue }
                                    s += theta[((o * C + c) * kh + i) * kw + j] * x[((t * C + c) * H + r) * W + q]
                                }
                            }
                        }
                        expected.append(s)
                    }
                }
            }
        }
        XCTAssertLessThan(Self.error(y, expected), 1e-14)
    }

    func testPoolingEveryStrideAndPadding() throws {
        let input = TensorShape.image(channels: 2, height: 5, width: 4)
        for kernel in [(2, 2), (3, 2)] {
            for stride in [nil, (1, 1), (2, 1)] as [(Int, Int)?] {
                for padding in [(0, 0), (1, 1)] {
                    let avg = try AveragePool2D<Double>(input: input, kernel: kernel, stride: stride, padding: padding)
                    Self.check(avg, label: "avgpool2d k=\(kernel) s=\(String(describing: stride)) p=\(padding) → \(avg.outputShape)")
                    let max = try MaxPool2D<Double>(input: input, kernel: kernel, stride: stride, padding: padding)
                    // Distinct random inputs: no ties, so the max is differentiable.
                    Self.check(max, label: "maxpool2d k=\(kernel) s=\(String(describing: stride)) p=\(padding) → \(max.outputShape)")
                }
            }
        }
    }

    /// Average pooling counts padding taps as zeros (PyTorch's count_include_pad=True).
    func testAveragePoolCountsPadding() throws {
        let pool = try AveragePool2D<Double>(input: .image(channels: 1, height: 2, width: 2), kernel: (2, 2), stride: (1, 1), padding: (1, 1))
        let y = Self.forward(pool, [1, 2, 3, 4], [], batch: 1)
        let expected: [Double] = [0.25, 0.75, 0.5, 1, 2.5, 1.5, 0.75, 1.75, 1]
        XCTAssertEqual(y, expected)
    }

    /// Ties go to the first maximum in row-major window order: its forward index, JVP and VJP.
    func testMaxPoolTiesGoToTheFirstMaximum() throws {
        // One channel 3 × 4: windows 2×2 at stride 2 (and stride 1 below).
        //   1 3 | 2 2
        //   3 0 | 2 2
        //   5 5   5 1
        let x: [Double] = [1, 3, 2, 2, 3, 0, 2, 2, 5, 5, 5, 1]
        let pool = try MaxPool2D<Double>(input: .image(channels: 1, height: 3, width: 4), kernel: (2, 2))
        XCTAssertEqual(Self.forward(pool, x, [], batch: 1), [3, 2])
        XCTAssertEqual(pool.argmax, [1, 2], "window 0: the 3 at (0,1) before the 3 at (1,0); window 1: (0,2) of four 2s")
        let e = (0..<12).map { Double($0 + 1) }
        XCTAssertEqual(Self.jvp(pool, x, [], batch: 1, dx: e, dtheta: nil), [2, 3])
        XCTAssertEqual(Self.vjp(pool, x, [], batch: 1, dy: [10, 20]).input, [0, 10, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        // Overlapping windows (stride 1): the 5s of the last row tie within and across windows;
        // each window's first 5 receives its cotangent, so (2,0) gets one, (2,1) two, (2,2) none.
        let overlapping = try MaxPool2D<Double>(input: .image(channels: 1, height: 3, width: 4), kernel: (2, 2), stride: (1, 1))
        XCTAssertEqual(Self.forward(overlapping, x, [], batch: 1), [3, 3, 2, 5, 5, 5])
        XCTAssertEqual(overlapping.argmax, [1, 1, 2, 8, 9, 10])
        let g = Self.vjp(overlapping, x, [], batch: 1, dy: [1, 1, 1, 1, 1, 1]).input
        XCTAssertEqual(g, [0, 2, 1, 0, 0, 0, 0, 0, 1, 1, 1, 0])
        // Padding is −∞: a window over padding and negative values picks the real maximum.
        let padded = try MaxPool2D<Double>(input: .image(channels: 1, height: 2, width: 2), kernel: (2, 2), stride: (2, 2), padding: (1, 1))
        XCTAssertEqual(Self.forward(padded, [-3, -1, -2, -4], [], batch: 1), [-3, -1, -2, -4])
    }

    func testFlattenAndActivations() throws {
        Self.check(try Flatten<Double>(input: .image(channels: 2, height: 3, width: 2)), label: "flatten")
        for activation in Activation.allCases {
            // Inputs shifted away from 0, where ReLU and leaky ReLU have their kink.
            let x = Self.normals(2 * 12, seed: 5, stream: 0).map { $0 + ($0 >= 0 ? 0.1 : -0.1) }
            Self.check(try ActivationLayer<Double>(input: .image(channels: 3, height: 2, width: 2), activation: activation),
                       inputs: x, label: "activation \(activation.rawValue)")
        }
    }

    func testResidualWithAndWithoutProjection() throws {
        let image = TensorShape.image(channels: 2, height: 4, width: 4)
        // Identity shortcut: conv 3×3 pad 1 keeps the shape.
        let c1 = try Conv2D<Double>(input: image, outChannels: 2, kernel: (3, 3), padding: (1, 1))
        let a1 = try ActivationLayer<Double>(input: c1.outputShape, activation: .tanh)
        let c2 = try Conv2D<Double>(input: a1.outputShape, outChannels: 2, kernel: (3, 3), padding: (1, 1), bias: false)
        Self.check(try Residual(body: [c1, a1, c2]), label: "residual identity")
        // Strided block with a 1×1 stride-2 projection (ResNet's downsampling block).
        let d1 = try Conv2D<Double>(input: image, outChannels: 3, kernel: (3, 3), stride: (2, 2), padding: (1, 1))
        let da = try ActivationLayer<Double>(input: d1.outputShape, activation: .softplus)
        let d2 = try Conv2D<Double>(input: da.outputShape, outChannels: 3, kernel: (3, 3), padding: (1, 1))
        let projection = try Conv2D<Double>(input: image, outChannels: 3, kernel: (1, 1), stride: (2, 2), bias: false)
        Self.check(try Residual(body: [d1, da, d2], projection: projection), label: "residual conv projection")
        // Dense block with a dense projection.
        let e1 = try Dense<Double>(input: .features(6), outFeatures: 5)
        let ea = try ActivationLayer<Double>(input: e1.outputShape, activation: .tanh)
        let e2 = try Dense<Double>(input: ea.outputShape, outFeatures: 4)
        Self.check(try Residual(body: [e1, ea, e2], projection: try Dense<Double>(input: .features(6), outFeatures: 4)),
                   batch: 3, label: "residual dense projection")
        // A residual without projection whose body changes the shape is refused.
        XCTAssertThrowsError(try Residual(body: [d1, da, d2])) { error in
            XCTAssertTrue("\(error)".contains("identity shortcut"), "\(error)")
        }
    }

    /// A small CNN through the layer chain (inputs and θ both differentiated).
    func testSmallCNNChain() throws {
        let specs: [LayerSpec] = [
            .conv2D(inChannels: 1, outChannels: 3, kernel: [3], stride: [1], padding: [1], bias: true),
            .activation(.tanh),
            .maxPool2D(kernel: [2], stride: nil, padding: [0]),
            .residual(body: [.conv2D(inChannels: 3, outChannels: 3, kernel: [3], stride: [1], padding: [1], bias: false),
                             .activation(.sigmoid)], projection: nil),
            .averagePool2D(kernel: [2], stride: [1], padding: [0]),
            .flatten,
            .dense(inFeatures: 12, outFeatures: 2, bias: true),
        ]
        let chain = try LayerChain(layers: try LayerSpec.makeChain(specs, input: .image(channels: 1, height: 6, width: 6), as: Double.self))
        XCTAssertEqual(chain.outputShape, .features(2))
        Self.check(chain, batch: 2, label: "small CNN")
    }

    // MARK: Sequences

    /// A pure dense + activation sequence on the MLP's θ equals the MLP path (BatchedJacobian)
    /// in outputs, J v and Jᵀ u: the parameter layouts agree (weight [out, in] then bias, layer
    /// by layer; a layer without bias has no entries). Both paths do the same GEMMs, so the
    /// agreement is to rounding (1e-12 relative to the largest entry).
    func testDenseSequenceEqualsTheMLPPath() throws {
        for activation in [Activation.tanh, .relu, .erf] {
            let arch = try Architecture(widths: [5, 7, 6, 3], activation: activation, layerBias: [true, false, true], sigmaB2: 0.1)
            let net = Network<Double>(architecture: arch, seed: 4)
            let data = try Dataset.gaussian(totalSamples: 9, dimension: 5, seed: 4)
            let mlp = try BatchedJacobian(network: net, inputs: data)
            let specs: [LayerSpec] = [
                .dense(inFeatures: 5, outFeatures: 7, bias: true), .activation(activation),
                .dense(inFeatures: 7, outFeatures: 6, bias: false), .activation(activation),
                .dense(inFeatures: 6, outFeatures: 3, bias: true),
            ]
            let seq = try LayerSequence(input: .features(5), layers: specs, parameters: net.parameters)
            XCTAssertEqual(seq.parameterCount, arch.parameterCount)
            XCTAssertEqual(seq.parameterNames, ["0.weight", "0.bias", "2.weight", "4.weight", "4.bias"])
            try seq.forward(data)
            XCTAssertLessThan(DenseReference.relativeError(seq.outputs, mlp.outputs), 1e-12)
            let v = Self.normals(arch.parameterCount, seed: 4, stream: 5)
            let u = Self.normals(9 * 3, seed: 4, stream: 6)
            var a = [Double](repeating: 0, count: 27), b = a
            mlp.jvp(v, into: &a)
            seq.jvp(v, into: &b)
            XCTAssertLessThan(DenseReference.relativeError(b, a), 1e-12, "J v, \(activation)")
            var g = [Double](repeating: 0, count: arch.parameterCount), h = g
            mlp.vjp(u, alpha: 0.5, into: &g)
            seq.vjp(u, alpha: 0.5, into: &h)
            XCTAssertLessThan(DenseReference.relativeError(h, g), 1e-12, "Jᵀ u, \(activation)")
            // And against the independent per-sample reference Jacobian.
            let J = DenseReference.jacobian(architecture: arch, parameters: net.parameters, inputs: data)
            XCTAssertLessThan(DenseReference.relativeError(b, DenseReference.multiply(J, v, rows: 27, inner: arch.parameterCount, cols: 1)), 1e-12)
        }
    }

    /// Shapes that do not chain are refused with one error naming the layer index and kind
    /// and both shapes.
    func testShapesThatDoNotChainAreRefused() throws {
        let specs: [LayerSpec] = [
            .conv2D(inChannels: 1, outChannels: 4, kernel: [3], stride: [1], padding: [0], bias: true),
            .activation(.relu), .flatten, .dense(inFeatures: 100, outFeatures: 2, bias: true),
        ]
        XCTAssertThrowsError(try LayerSequence<Double>(input: .image(channels: 1, height: 8, width: 8), layers: specs, parameters: [])) { e in
            XCTAssertEqual("\(e)", "layer 3 (dense): dense has in_features 100 but receives [144]")
        }
        XCTAssertThrowsError(try LayerSpec.makeChain([.flatten, .conv2D(inChannels: nil, outChannels: 2, kernel: [3], stride: [1], padding: [0], bias: true)],
                                                     input: .image(channels: 1, height: 8, width: 8), as: Double.self)) { e in
            XCTAssertEqual("\(e)", "layer 1 (conv2d): conv2d takes an image input [channels, height, width] but receives [64]")
        }
        XCTAssertThrowsError(try LayerSpec.makeChain([.maxPool2D(kernel: [3], stride: nil, padding: [2])],
                                                     input: .image(channels: 1, height: 8, width: 8), as: Double.self)) { e in
            XCTAssertTrue("\(e)".hasPrefix("layer 0 (maxpool2d): maxpool2d padding must be between 0 and half the kernel size"), "\(e)")
        }
        let d0 = try Dense<Double>(input: .features(5), outFeatures: 4), d1 = try Dense<Double>(input: .features(3), outFeatures: 2)
        XCTAssertThrowsError(try LayerSequence(layers: [d0, d1], parameters: [Double](repeating: 0, count: 32))) { e in
            XCTAssertEqual("\(e)", "layer 1 (dense) takes input [3] but layer 0 (dense) gives [4]")
        }
        XCTAssertThrowsError(try LayerSequence(layers: [d0], parameters: [Double](repeating: 0, count: 23))) { e in
            XCTAssertEqual("\(e)", "the layers have 24 parameters, got 23")
        }
    }
}
