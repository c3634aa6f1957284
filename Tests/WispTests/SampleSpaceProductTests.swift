import XCTest
@testable import Wisp
import WispTestSupport

/// The lean sample-space product K u of ``NTKGramOperator`` (``SampleSpaceProduct``): against
/// the dense (1/T) J Jᵀ from the scalar-loop Jacobian, against the parameter-space product
/// J (Jᵀ u), on both layer routes, every activation × parametrization × bias, C > 1, every
/// normalization and Float32.
final class SampleSpaceProductTests: XCTestCase {
    let T = 4

    func randomVector(_ n: Int, seed: UInt64) -> [Double] {
        (0..<n).map { CounterRandom(seed: seed, stream: .probe(77)).normal($0) }
    }

    /// The three route assignments every case runs: the rule's (T = 4 against fan-ins 3, 5, 4:
    /// a gradient block in layer 1, forward Grams above), all Gram, all blocks.
    func routeChoices(depth: Int) -> [[GramLayerRoute]?] {
        [nil, Array(repeating: .forwardGram, count: depth), Array(repeating: .gradientBlock, count: depth)]
    }

    /// Float64 against the dense K = (1/T) J Jᵀ: both sum the same products (Σ over P of
    /// J entries) in other orders, so they agree to a few ε relative to the largest entry of
    /// K u; 1e-12 leaves a margin of ~50 for P ≈ 60 terms.
    func testAgainstDenseGramEveryCase() throws {
        for c in NetworkCase.all {
            let a = c.architecture
            let net = Network<Double>(architecture: a, seed: 7)
            let data = try Dataset.gaussian(totalSamples: T, dimension: a.inputDimension, seed: 7)
            let jac = try BatchedJacobian(network: net, inputs: data)
            let rows = T * a.outputs
            let J = DenseReference.jacobian(architecture: a, parameters: net.parameters, inputs: data)
            let K = DenseReference.gram(jacobian: J, rows: rows, parameters: a.parameterCount, totalSamples: T)
            let u = randomVector(rows, seed: 3)
            let reference = DenseReference.multiply(K, u, rows: rows, inner: rows, cols: 1)
            for routes in routeChoices(depth: a.depth) {
                let op = NTKGramOperator(jacobian: jac, samples: 0..<T, totalSamples: T, layerRoutes: routes)
                let e = DenseReference.relativeError(op.apply(u), reference)
                XCTAssertLessThan(e, 1e-12, "\(c) routes \(op.layerRoutes): worst relative error \(e)")
            }
        }
    }

    /// The rule: a forward Gram exactly where T ≤ M_(l−1).
    func testRouteRule() throws {
        let a = try Architecture(widths: [3, 5, 4, 2])
        let jac = try BatchedJacobian(network: Network<Double>(architecture: a, seed: 1),
                                      inputs: try Dataset.gaussian(totalSamples: T, dimension: 3, seed: 1))
        XCTAssertEqual(NTKGramOperator(jacobian: jac, samples: 0..<T, totalSamples: T).layerRoutes,
                       [.gradientBlock, .forwardGram, .forwardGram])
        XCTAssertEqual(NTKGramOperator(jacobian: jac, samples: 0..<T, totalSamples: T, path: .parameterSpace).layerRoutes, [])
    }

    /// Float32 passes against the Float64 dense K of the same (rounded) weights: ε₃₂ ≈ 6e-8
    /// accumulated over a backward and a tangent pass of fan-in ≤ 5 sums and the T-term Gram
    /// products; 2e-5 relative is ~30× the expected worst case, as for the Float32 JVP/VJP.
    func testFloat32AgainstDenseGram() throws {
        for c in NetworkCase.all {
            let a = c.architecture
            let net = Network<Float>(architecture: a, seed: 7)
            let theta = net.parameters.map { Double($0) }
            let data = try Dataset.gaussian(totalSamples: T, dimension: a.inputDimension, seed: 7)
            let jac = try BatchedJacobian(network: net, inputs: data)
            let rows = T * a.outputs
            let J = DenseReference.jacobian(architecture: a, parameters: theta, inputs: data)
            let K = DenseReference.gram(jacobian: J, rows: rows, parameters: a.parameterCount, totalSamples: T)
            let u = randomVector(rows, seed: 4).map { Double(Float($0)) }
            let reference = DenseReference.multiply(K, u, rows: rows, inner: rows, cols: 1)
            for routes in routeChoices(depth: a.depth) {
                let op = NTKGramOperator(jacobian: jac, samples: 0..<T, totalSamples: T, layerRoutes: routes)
                let e = DenseReference.relativeError(op.apply(u), reference)
                XCTAssertLessThan(e, 2e-5, "float32 \(c) routes \(op.layerRoutes): worst relative error \(e)")
            }
        }
    }

    /// Against the parameter-space product J (Jᵀ u) on a wider net (T = 25 < M = 40: Gram routes
    /// above a block input layer; C = 3), every normalization included: the same sums in other
    /// orders, 1e-12 relative in Float64; in Float32 both round at ε₃₂ per operation over
    /// 40-term sums, 1e-4 relative.
    func testAgainstParameterSpaceProduct() throws {
        for normalization in Normalization.allCases {
            for activation in [Activation.relu, .tanh, .softplus] {
                let a = try Architecture(widths: [20, 40, 40, 3], activation: activation, parametrization: .standard,
                                         sigmaW2: 2, sigmaB2: 0.2, normalization: normalization)
                let T = 25
                let data = try Dataset.gaussian(totalSamples: T, dimension: 20, seed: 12)
                let u = randomVector(T * 3, seed: 5)
                let j64 = try BatchedJacobian(network: Network<Double>(architecture: a, seed: 12), inputs: data)
                let old64 = NTKGramOperator(jacobian: j64, samples: 0..<T, totalSamples: T, path: .parameterSpace).apply(u)
                let lean64 = NTKGramOperator(jacobian: j64, samples: 0..<T, totalSamples: T)
                XCTAssertEqual(lean64.layerRoutes, [.gradientBlock, .forwardGram, .forwardGram])
                let e64 = DenseReference.relativeError(lean64.apply(u), old64)
                XCTAssertLessThan(e64, 1e-12, "\(normalization) \(activation) float64: \(e64)")
                let j32 = try BatchedJacobian(network: Network<Float>(architecture: a, seed: 12), inputs: data)
                let old32 = NTKGramOperator(jacobian: j32, samples: 0..<T, totalSamples: T, path: .parameterSpace).apply(u)
                let e32 = DenseReference.relativeError(NTKGramOperator(jacobian: j32, samples: 0..<T, totalSamples: T).apply(u), old32)
                XCTAssertLessThan(e32, 1e-4, "\(normalization) \(activation) float32: \(e32)")
            }
        }
    }

    /// The lean product needs fewer flops than the parameter-space one at L = 3, d = M, T < M
    /// (≈ 4TM² + 4T²M against 12TM², the formulas of the two doc comments), and never more.
    func testFlopCounts() throws {
        let M = 64, T = 16
        let a = try Architecture(widths: [M, M, M, 1])
        let jac = try BatchedJacobian(network: Network<Double>(architecture: a, seed: 1),
                                      inputs: try Dataset.gaussian(totalSamples: T, dimension: M, seed: 1))
        let lean = NTKGramOperator(jacobian: jac, samples: 0..<T, totalSamples: T)
        let old = NTKGramOperator(jacobian: jac, samples: 0..<T, totalSamples: T, path: .parameterSpace)
        let (t, m) = (Double(T), Double(M))
        XCTAssertEqual(lean.flopsPerApplication, 4 * t * (m * m + m) + 2 * t * t * (2 * m + 1))
        XCTAssertEqual(old.flopsPerApplication, 4 * t * (2 * (m * m + m * m + m) - m * m))
        let blocks = NTKGramOperator(jacobian: jac, samples: 0..<T, totalSamples: T, layerRoutes: [.gradientBlock, .gradientBlock, .gradientBlock])
        XCTAssertEqual(blocks.flopsPerApplication, old.flopsPerApplication)
    }
}

/// What `top --matrix ntk` and the sample-space densities hold: no Float64 copy of θ for
/// Float32 passes, and the memory record.
final class LeanMemoryTests: XCTestCase {
    /// The Float32 draw (what `--precision float32` builds) is bit-identical to rounding the
    /// Float64 draw: both round the same Float64 value std · z once.
    func testFloat32DrawEqualsConvertedFloat64Draw() throws {
        for parametrization in Parametrization.allCases {
            let a = try Architecture(widths: [7, 300, 11, 2], parametrization: parametrization, sigmaW2: 1.3, sigmaB2: 0.4)
            let direct = Network<Float>(architecture: a, seed: 42).parameters
            let converted = try Network<Double>(architecture: a, seed: 42).converted(to: Float.self).parameters
            XCTAssertEqual(direct.map(\.bitPattern), converted.map(\.bitPattern), "\(parametrization)")
        }
    }

    /// Problem's Float32 network is that draw, and its footprint counts 4 bytes per weight.
    func testProblemFloat32NetworkAndFootprint() throws {
        var c = ProblemConfiguration()
        c.width = 24
        c.samples = 10
        c.precision = .float32
        let p = try Wisp.Problem(c)
        let expected = Network<Float>(architecture: p.architecture, seed: c.seed).parameters.map { Double($0) }
        XCTAssertEqual(p.parameters, expected)
        let footprint = p.memoryFootprint
        XCTAssertEqual(footprint.weightsBytes, 4 * p.parameterCount)
        // Inputs, H^1, H^2, φ'(U^1), φ'(U^2) (T × 24 each) and the outputs (twice, T × 1).
        XCTAssertEqual(footprint.activationsBytes, 4 * (5 * 10 * 24 + 2 * 10))
    }
}
