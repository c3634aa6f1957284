import XCTest
@testable import Wisp
import WispTestSupport

/// LayerNorm and BatchNorm as layers: the forward pass against the definition (PyTorch's
/// training-mode formulas), the JVP and VJP against central differences, explicit Jacobians
/// and the adjoint identity (``LayerTests/check``), and the R-operator against central
/// differences of the VJP (``LayerHessianTests/check``).
final class NormalizationLayerTests: XCTestCase {
    typealias L = LayerTests

    func testLayerNormEveryShapeAndAffine() throws {
        // Groups of at least 3 entries: with 2, ẑ = ±1/√(1 + ε/σ²) and J_N ≈ 0 is all cancellation
        // (the adjoint identity's bound, relative to |J|, is then meaningless).
        let image = TensorShape.image(channels: 2, height: 2, width: 3)
        let cases: [(TensorShape, [Int]?)] = [(image, nil), (image, [2, 3]), (image, [3]), (.features(5), nil)]
        for (input, shape) in cases {
            for (affine, bias) in [(true, true), (true, false), (false, true)] {
                let ln = try LayerNorm<Double>(input: input, normalizedShape: shape, elementwiseAffine: affine, bias: bias)
                let label = "layernorm \(input) over \(shape ?? input.dimensions) affine=\(affine) bias=\(bias)"
                L.check(ln, batch: 2, label: label)
                LayerHessianTests.check(ln, batch: 2, label: label)
            }
        }
    }

    func testBatchNormImagesAndFeatures() throws {
        for affine in [true, false] {
            let b2 = try BatchNorm<Double>(input: .image(channels: 2, height: 2, width: 3), affine: affine)
            XCTAssertEqual(b2.kind, "batchnorm2d")
            L.check(b2, batch: 3, label: "batchnorm2d affine=\(affine)")
            LayerHessianTests.check(b2, batch: 3, label: "batchnorm2d affine=\(affine)")
            let b1 = try BatchNorm<Double>(input: .features(4), affine: affine)
            XCTAssertEqual(b1.kind, "batchnorm1d")
            L.check(b1, batch: 5, label: "batchnorm1d affine=\(affine)")
            LayerHessianTests.check(b1, batch: 5, label: "batchnorm1d affine=\(affine)")
        }
    }

    /// The forward passes against the definitions, entry by entry (biased variance, ε inside
    /// the square root, γ and β per normalized entry or per channel): 1e-14 relative.
    func testForwardMatchesTheDefinition() throws {
        let (n, C, H, W, eps) = (3, 2, 2, 3, 1e-3)
        let x = L.normals(n * C * H * W, seed: 9, stream: 0).map { 3 * $0 + 1 }
        // LayerNorm over [H, W] per (sample, channel).
        let ln = try LayerNorm<Double>(input: .image(channels: C, height: H, width: W), normalizedShape: [H, W], epsilon: eps)
        let lt = L.normals(ln.parameterCount, seed: 9, stream: 1)
        var expected = [Double]()
        for g in 0..<(n * C) {
            let z = Array(x[(g * H * W)..<((g + 1) * H * W)])
            let mu = z.reduce(0, +) / Double(z.count), v = z.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / Double(z.count)
            for k in 0..<z.count { expected.append(lt[k] * (z[k] - mu) / (v + eps).squareRoot() + lt[H * W + k]) }
        }
        XCTAssertLessThan(L.error(L.forward(ln, x, lt, batch: n), expected), 1e-14)
        // BatchNorm2d per channel over samples and positions.
        let bn = try BatchNorm<Double>(input: .image(channels: C, height: H, width: W), epsilon: eps)
        let bt = L.normals(bn.parameterCount, seed: 9, stream: 2)
        var out = [Double](repeating: 0, count: x.count)
        for c in 0..<C {
            let idx = (0..<n).flatMap { t in (0..<(H * W)).map { ((t * C + c) * H * W) + $0 } }
            let mu = idx.map { x[$0] }.reduce(0, +) / Double(idx.count)
            let v = idx.map { (x[$0] - mu) * (x[$0] - mu) }.reduce(0, +) / Double(idx.count)
            for i in idx { out[i] = bt[c] * (x[i] - mu) / (v + eps).squareRoot() + bt[C + c] }
        }
        XCTAssertLessThan(L.error(L.forward(bn, x, bt, batch: n), out), 1e-14)
    }

    func testBadShapesAreRefused() throws {
        XCTAssertThrowsError(try LayerNorm<Double>(input: .features(4), normalizedShape: [5])) { e in
            XCTAssertEqual("\(e)", "layernorm normalized_shape [5] must be the last dimensions of its input [4]")
        }
        XCTAssertThrowsError(try BatchNorm<Double>(input: .features(4), features: 3)) { e in
            XCTAssertEqual("\(e)", "batchnorm has num_features 3 but receives [4]")
        }
        XCTAssertThrowsError(try LayerNorm<Double>(input: .features(4), epsilon: 0)) { e in
            XCTAssertEqual("\(e)", "layernorm eps must be positive and finite (got 0.0)")
        }
    }
}
