import XCTest
@testable import Wisp
import WispTestSupport

/// Fisher and NTK-Gram operators, exact moments and Lanczos against dense matrices built from
/// the explicit Jacobian and LAPACK `dsyevd`.
final class OperatorTests: XCTestCase {
    /// P = 2402 parameters, T = 25 samples, C = 2 outputs (TC = 50).
    struct Problem {
        let jacobian: BatchedJacobian<Double>
        let J: [Double]
        let P: Int, T: Int, rows: Int
        let F: [Double], K: [Double]
    }

    static func problem(activation: Activation = .tanh, parametrization: Parametrization = .standard) throws -> Problem {
        let a = try Architecture(widths: [16, 40, 40, 2], activation: activation, parametrization: parametrization,
                                 sigmaW2: 2, sigmaB2: 0.2)
        let T = 25
        let data = try Dataset.gaussian(totalSamples: T, dimension: 16, seed: 11)
        let net = Network<Double>(architecture: a, seed: 11)
        let J = DenseReference.jacobian(architecture: a, parameters: net.parameters, inputs: data)
        let P = a.parameterCount, rows = T * 2
        return Problem(jacobian: try BatchedJacobian(network: net, inputs: data), J: J, P: P, T: T, rows: rows,
                       F: DenseReference.gramBLAS(J, rows: rows, cols: P, transposeFirst: true, scale: 1 / Double(T)),
                       K: DenseReference.gramBLAS(J, rows: rows, cols: P, transposeFirst: false, scale: 1 / Double(T)))
    }

    func testFisherAndGramProductsMatchDenseMatrices() throws {
        let p = try Self.problem()
        let F = FisherOperator(jacobian: p.jacobian, totalSamples: p.T)
        let K = NTKGramOperator(jacobian: p.jacobian, samples: 0..<p.T, totalSamples: p.T)
        let v = (0..<p.P).map { CounterRandom(seed: 1, stream: .probe(0)).normal($0) }
        let u = (0..<p.rows).map { CounterRandom(seed: 1, stream: .probe(1)).normal($0) }
        let fRef = DenseReference.multiply(p.F, v, rows: p.P, inner: p.P, cols: 1)
        let kRef = DenseReference.multiply(p.K, u, rows: p.rows, inner: p.rows, cols: 1)
        // Same products summed in other orders: a few ε relative to the largest entry.
        XCTAssertLessThan(DenseReference.relativeError(F.apply(v), fRef), 1e-12)
        XCTAssertLessThan(DenseReference.relativeError(K.apply(u), kRef), 1e-12)
    }

    func testExactMomentsMatchDenseMatrix() throws {
        let p = try Self.problem()
        let trace = (0..<p.P).reduce(0.0) { $0 + p.F[$1 * p.P + $1] }
        let second = p.F.reduce(0.0) { $0 + $1 * $1 }  // tr(F²) = ‖F‖²_F
        let exact = FisherMoments.trace(p.jacobian, totalSamples: p.T)
        XCTAssertEqual(exact, trace, accuracy: 1e-12 * trace)
        let gram = FisherMoments.gramMatrix(p.jacobian, totalSamples: p.T)
        XCTAssertLessThan(DenseReference.relativeError(gram, p.K), 1e-12)
        XCTAssertEqual(FisherMoments.secondTrace(gramRows: gram), second, accuracy: 1e-11 * second)
    }

    /// Top eigenvalues of F (P = 2402) and K (TC = 50) from Lanczos against LAPACK on the dense
    /// matrices. With residual ‖r‖ ≤ 1e-10 |θ| the eigenvalue error is ≤ ‖r‖²/gap ≪ 1e-9.
    func testTopEigenvaluesAgainstLAPACK() throws {
        for activation in [Activation.relu, .tanh, .erf] {
            for parametrization in Parametrization.allCases {
                let p = try Self.problem(activation: activation, parametrization: parametrization)
                let reference = try LAPACK.symmetricEigen(p.F, n: p.P).values.reversed().prefix(6)
                let referenceK = try LAPACK.symmetricEigen(p.K, n: p.rows).values.reversed().prefix(6)
                XCTAssertLessThan(DenseReference.relativeError(Array(reference), Array(referenceK)), 1e-10,
                                  "F and K share their nonzero eigenvalues")
                let settings = LanczosSettings(count: 6, tolerance: 1e-10, seed: 3)
                for (name, op) in [("fisher", FisherOperator(jacobian: p.jacobian, totalSamples: p.T) as any LinearOperator),
                                   ("ntk", NTKGramOperator(jacobian: p.jacobian, samples: 0..<p.T, totalSamples: p.T))] {
                    let result = try Lanczos.solve(op, settings: settings)
                    XCTAssertTrue(result.allConverged, "\(name) \(activation) \(parametrization): residuals \(result.residuals)")
                    for (got, want) in zip(result.values, reference) {
                        XCTAssertEqual(got, want, accuracy: 1e-9 * want, "\(name) \(activation) \(parametrization)")
                    }
                    for (value, r) in zip(result.values, result.residuals) { XCTAssertLessThanOrEqual(r, 1e-10 * value) }
                }
            }
        }
    }

    /// Float32 passes with Float64 Lanczos: the operator is F perturbed by O(ε₃₂‖F‖), so the top
    /// eigenvalue moves by about that much; 1e-5 relative is ~100 ε₃₂.
    func testFloat32TopEigenvalue() throws {
        let p = try Self.problem()
        let j32 = try BatchedJacobian(network: try p.jacobian.network.converted(to: Float.self),
                                      inputs: try Dataset.gaussian(totalSamples: p.T, dimension: 16, seed: 11))
        let r64 = try Lanczos.solve(FisherOperator(jacobian: p.jacobian, totalSamples: p.T), settings: LanczosSettings(count: 1, tolerance: 1e-6))
        let r32 = try Lanczos.solve(FisherOperator(jacobian: j32, totalSamples: p.T), settings: LanczosSettings(count: 1, tolerance: 1e-6))
        XCTAssertEqual(r32.values[0], r64.values[0], accuracy: 1e-5 * r64.values[0])
    }

    /// SLQ moments of F against the exact tr(F)/P and tr(F²)/P: Gauss quadrature with m ≥ 2
    /// nodes integrates λ and λ² exactly, so each probe gives rᵀAr/N and ‖Ar‖²/N and the error
    /// is purely statistical; the checks allow 4 standard errors.
    func testSLQMomentsWithinErrorBars() throws {
        let p = try Self.problem()
        let op = FisherOperator(jacobian: p.jacobian, totalSamples: p.T)
        let slq = try StochasticLanczosQuadrature.run(op, settings: SLQSettings(probes: 40, steps: 20, seed: 5))
        let exact1 = FisherMoments.trace(p.jacobian, totalSamples: p.T) / Double(p.P)
        let exact2 = FisherMoments.secondTrace(gramRows: FisherMoments.gramMatrix(p.jacobian, totalSamples: p.T)) / Double(p.P)
        let m1 = slq.normalizedMoment(1), m2 = slq.normalizedMoment(2)
        XCTAssertLessThan(abs(m1.mean - exact1), 4 * m1.standardError, "first moment \(m1) vs \(exact1)")
        XCTAssertLessThan(abs(m2.mean - exact2), 4 * m2.standardError, "second moment \(m2) vs \(exact2)")
        XCTAssertGreaterThan(m1.standardError, 0)
        // Hutchinson on the same probes gives the same per-probe values.
        let h = try Hutchinson.firstTwoMoments(op, probes: 40, seed: 5)
        XCTAssertEqual(h.first.mean, m1.mean, accuracy: 1e-10 * abs(m1.mean))
        XCTAssertEqual(h.second.mean, m2.mean, accuracy: 1e-9 * abs(m2.mean))
        // The weights of every rule are a probability distribution.
        for rule in slq.rules { XCTAssertEqual(rule.weights.reduce(0, +), 1, accuracy: 1e-12) }
    }
}
