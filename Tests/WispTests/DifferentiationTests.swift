import XCTest
@testable import Wisp
import WispTestSupport

/// JVP and VJP of the batched passes against an explicit Jacobian (independent scalar-loop
/// backprop) and central finite differences, for every activation × parametrization × bias,
/// in Float64 and Float32.
final class DifferentiationTests: XCTestCase {
    let T = 4

    func makeJacobian<S: BLASScalar>(_ c: NetworkCase, _: S.Type, seed: UInt64 = 7) throws -> (BatchedJacobian<S>, [Double], Dataset) {
        let net = Network<Double>(architecture: c.architecture, seed: seed)
        let data = try Dataset.gaussian(totalSamples: T, dimension: c.architecture.inputDimension, seed: seed)
        return (try BatchedJacobian(network: try net.converted(to: S.self), inputs: data), net.parameters, data)
    }

    func randomVector(_ n: Int, seed: UInt64) -> [Double] {
        (0..<n).map { CounterRandom(seed: seed, stream: .probe(99)).normal($0) }
    }

    func jvp<S: BLASScalar>(_ jac: BatchedJacobian<S>, _ v: [Double]) -> [Double] {
        var out = [S](repeating: 0, count: T * jac.outputCount)
        let vs = v.map { S($0) }
        jac.jvp(vs, into: &out)
        return out.map { Double($0) }
    }

    func vjp<S: BLASScalar>(_ jac: BatchedJacobian<S>, _ u: [Double]) -> [Double] {
        var g = [S](repeating: 0, count: jac.parameterCount)
        let us = u.map { S($0) }
        jac.vjp(us, alpha: 1, into: &g)
        return g.map { Double($0) }
    }

    /// Float64 against the explicit Jacobian: both are exact up to rounding, O(ε · depth ·
    /// fan-in) relative to the largest entry; 1e-12 leaves a margin of ~100.
    func testFloat64AgainstExplicitJacobian() throws {
        for c in NetworkCase.all {
            let (jac, theta, data) = try makeJacobian(c, Double.self)
            let P = jac.parameterCount, rows = T * jac.outputCount
            let J = DenseReference.jacobian(architecture: c.architecture, parameters: theta, inputs: data)
            let v = randomVector(P, seed: 1), u = randomVector(rows, seed: 2)
            let jvRef = DenseReference.multiply(J, v, rows: rows, inner: P, cols: 1)
            let jtuRef = DenseReference.multiply(DenseReference.transpose(J, rows: rows, cols: P), u, rows: P, inner: rows, cols: 1)
            let e1 = DenseReference.relativeError(jvp(jac, v), jvRef)
            let e2 = DenseReference.relativeError(vjp(jac, u), jtuRef)
            XCTAssertLessThan(e1, 1e-12, "JVP \(c): worst relative error \(e1)")
            XCTAssertLessThan(e2, 1e-12, "VJP \(c): worst relative error \(e2)")
        }
    }

    /// The explicit Jacobian against central differences with h = 6e-6: truncation h²·f''' ≈ 4e-11,
    /// rounding ε·|f|/h ≈ 4e-11; 1e-7 allows f''' up to ~10³. ReLU-type kinks are not crossed
    /// for these inputs (a crossing would show as an O(1) error).
    func testExplicitJacobianAgainstFiniteDifferences() throws {
        for c in NetworkCase.all {
            let (_, theta, data) = try makeJacobian(c, Double.self)
            let J = DenseReference.jacobian(architecture: c.architecture, parameters: theta, inputs: data)
            let fd = DenseReference.finiteDifferenceJacobian(architecture: c.architecture, parameters: theta, inputs: data)
            let e = DenseReference.relativeError(J, fd)
            XCTAssertLessThan(e, 1e-7, "\(c): worst relative error \(e)")
        }
    }

    /// The batched JVP directly against finite differences of the network outputs along v.
    func testJVPAgainstFiniteDifferencesOfOutputs() throws {
        for c in NetworkCase.all {
            let (jac, theta, data) = try makeJacobian(c, Double.self)
            let v = randomVector(jac.parameterCount, seed: 3)
            let h = 6e-6
            let plus = try BatchedJacobian(network: Network(architecture: c.architecture, parameters: zip(theta, v).map { $0 + h * $1 }), inputs: data).outputs
            let minus = try BatchedJacobian(network: Network(architecture: c.architecture, parameters: zip(theta, v).map { $0 - h * $1 }), inputs: data).outputs
            let fd = zip(plus, minus).map { ($0 - $1) / (2 * h) }
            let e = DenseReference.relativeError(jvp(jac, v), fd)
            XCTAssertLessThan(e, 1e-7, "\(c): worst relative error \(e)")
        }
    }

    /// Float32 passes against the Float64 explicit Jacobian: rounding ε₃₂ ≈ 6e-8 accumulates
    /// over fan-in (≤ 5) sums per layer and 3 layers, plus the inputs' and weights' own
    /// rounding; 2e-5 relative is ~30× the expected worst case.
    func testFloat32AgainstExplicitJacobian() throws {
        for c in NetworkCase.all {
            let (jac, theta, data) = try makeJacobian(c, Float.self)
            let P = jac.parameterCount, rows = T * jac.outputCount
            let J = DenseReference.jacobian(architecture: c.architecture, parameters: theta, inputs: data)
            let v = randomVector(P, seed: 1).map { Double(Float($0)) }, u = randomVector(rows, seed: 2).map { Double(Float($0)) }
            let jvRef = DenseReference.multiply(J, v, rows: rows, inner: P, cols: 1)
            let jtuRef = DenseReference.multiply(DenseReference.transpose(J, rows: rows, cols: P), u, rows: P, inner: rows, cols: 1)
            let e1 = DenseReference.relativeError(jvp(jac, v), jvRef)
            let e2 = DenseReference.relativeError(vjp(jac, u), jtuRef)
            XCTAssertLessThan(e1, 2e-5, "JVP float32 \(c): \(e1)")
            XCTAssertLessThan(e2, 2e-5, "VJP float32 \(c): \(e2)")
        }
    }

    /// ⟨u, J v⟩ = ⟨Jᵀ u, v⟩ on a wider net: the two sides sum the same products in different
    /// orders, so they agree to a few ε relative to Σ|terms|.
    func testAdjointIdentity() throws {
        for activation in Activation.allCases {
            for parametrization in Parametrization.allCases {
                let a = try Architecture(widths: [16, 64, 48, 3], activation: activation, parametrization: parametrization,
                                         sigmaW2: 2, sigmaB2: 0.1)
                let data = try Dataset.gaussian(totalSamples: 20, dimension: 16, seed: 5)
                let jac = try BatchedJacobian(network: Network<Double>(architecture: a, seed: 5), inputs: data)
                let v = randomVector(jac.parameterCount, seed: 8), u = randomVector(20 * 3, seed: 9)
                var jv = [Double](repeating: 0, count: 60)
                jac.jvp(v, into: &jv)
                var jtu = [Double](repeating: 0, count: jac.parameterCount)
                jac.vjp(u, alpha: 1, into: &jtu)
                let lhs = zip(u, jv).reduce(0) { $0 + $1.0 * $1.1 }
                let rhs = zip(jtu, v).reduce(0) { $0 + $1.0 * $1.1 }
                let magnitude = zip(jtu, v).reduce(0) { $0 + abs($1.0 * $1.1) }
                XCTAssertLessThan(abs(lhs - rhs) / magnitude, 1e-12, "\(activation) \(parametrization): \(lhs) vs \(rhs)")
            }
        }
    }

    /// Per-sample gradient norms and the tangent kernel against the explicit Jacobian.
    func testPerSampleNormsAndTangentKernel() throws {
        for c in NetworkCase.all {
            let (jac, theta, data) = try makeJacobian(c, Double.self)
            let P = jac.parameterCount, rows = T * jac.outputCount
            let J = DenseReference.jacobian(architecture: c.architecture, parameters: theta, inputs: data)
            let norms = (0..<rows).map { r in (0..<P).reduce(0.0) { $0 + J[r * P + $1] * J[r * P + $1] } }
            XCTAssertLessThan(DenseReference.relativeError(jac.squaredGradientNorms(), norms), 1e-12, "\(c)")
            let theta0 = DenseReference.gram(jacobian: J, rows: rows, parameters: P, totalSamples: 1)
            XCTAssertLessThan(DenseReference.relativeError(jac.tangentKernel(), theta0), 1e-12, "\(c)")
            // Per-layer kernels sum to the whole.
            var sum = [Double](repeating: 0, count: rows * rows)
            for l in 1...c.architecture.depth { for (i, x) in jac.tangentKernel(layers: [l]).enumerated() { sum[i] += x } }
            XCTAssertLessThan(DenseReference.relativeError(sum, theta0), 1e-12, "\(c)")
        }
    }
}
