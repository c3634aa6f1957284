import XCTest
@testable import Wisp
import WispTestSupport

/// Normalization layers: the exact Jacobians, including the terms through the batch
/// statistics that couple the samples, against an independent all-samples reference and
/// finite differences; the Fisher spectrum against dense eigensolves; and the exact
/// structure K_norm = D Q K Q D of last-layer normalization.
final class NormalizationTests: XCTestCase {
    let T = 6

    func architecture(_ n: Normalization, _ activation: Activation, _ p: Parametrization, bias: Bool = true) throws -> Architecture {
        try Architecture(widths: [3, 5, 4, 3], activation: activation, hasBias: bias, parametrization: p,
                         sigmaW2: 1.7, sigmaB2: 0.3, normalization: n)
    }

    /// The Jacobian built column by column from the engine's JVP and row by row from its VJP.
    func engineJacobians(_ jac: BatchedJacobian<Double>) -> (fromJVP: [Double], fromVJP: [Double]) {
        let P = jac.parameterCount, rows = T * jac.outputCount
        var byColumns = [Double](repeating: 0, count: rows * P), byRows = byColumns
        var e = [Double](repeating: 0, count: P), out = [Double](repeating: 0, count: rows)
        for p in 0..<P {
            e[p] = 1
            jac.jvp(e, into: &out)
            e[p] = 0
            for r in 0..<rows { byColumns[r * P + p] = out[r] }
        }
        var u = [Double](repeating: 0, count: rows), g = [Double](repeating: 0, count: P)
        for r in 0..<rows {
            u[r] = 1
            jac.vjp(u, alpha: 1, into: &g)
            u[r] = 0
            for p in 0..<P { byRows[r * P + p] = g[p] }
        }
        return (byColumns, byRows)
    }

    /// Engine JVP and VJP Jacobians agree with each other to rounding (1e-12: the same sums in
    /// other orders) and with central differences of the independent reference forward pass
    /// (1e-7: truncation h²f''' and rounding ε f/h at h = 6e-6, as in DifferentiationTests).
    func testJacobiansAgainstFiniteDifferences() throws {
        for n in Normalization.allCases where n != .none {
            for activation in [Activation.tanh, .softplus, .relu, .erf] {
                for p in Parametrization.allCases {
                    let a = try architecture(n, activation, p)
                    let data = try Dataset.gaussian(totalSamples: T, dimension: 3, seed: 21)
                    let net = Network<Double>(architecture: a, seed: 4)
                    let jac = try BatchedJacobian(network: net, inputs: data)
                    let reference = DenseReference.allOutputs(architecture: a, parameters: net.parameters, inputs: data)
                    XCTAssertLessThan(DenseReference.relativeError(jac.outputs, reference), 1e-13, "\(n) \(activation) forward")
                    let (byJVP, byVJP) = engineJacobians(jac)
                    let fd = DenseReference.finiteDifferenceJacobianAllSamples(architecture: a, parameters: net.parameters, inputs: data)
                    let label = "\(n) \(activation) \(p)"
                    XCTAssertLessThan(DenseReference.relativeError(byJVP, byVJP), 1e-12, "JVP vs VJP \(label)")
                    XCTAssertLessThan(DenseReference.relativeError(byJVP, fd), 1e-7, "JVP vs finite differences \(label)")
                }
            }
        }
    }

    /// Top eigenvalues of F and K through the operators against LAPACK on F = JᵀJ/T with J from
    /// finite differences of the independent reference: agreement to the differences' 1e-7
    /// accuracy (eigenvalues are Lipschitz in the matrix; ~1e-6 relative allows for λ ≪ ‖F‖).
    func testSpectraAgainstDenseEigensolves() throws {
        for n in Normalization.allCases where n != .none {
            let a = try Architecture(widths: [4, 12, 10, 3], activation: .tanh, parametrization: .standard,
                                     sigmaW2: 2, sigmaB2: 0.2, normalization: n)
            let T = 9
            let data = try Dataset.gaussian(totalSamples: T, dimension: 4, seed: 3)
            let net = Network<Double>(architecture: a, seed: 8)
            let J = DenseReference.finiteDifferenceJacobianAllSamples(architecture: a, parameters: net.parameters, inputs: data)
            let P = a.parameterCount, rows = T * 3
            let F = DenseReference.gramBLAS(J, rows: rows, cols: P, transposeFirst: true, scale: 1 / Double(T))
            let reference = try LAPACK.symmetricEigen(F, n: P).values.reversed().prefix(4)
            let jac = try BatchedJacobian(network: net, inputs: data)
            let settings = LanczosSettings(count: 4, tolerance: 1e-10)
            let fromF = try Lanczos.solve(FisherOperator(jacobian: jac, totalSamples: T), settings: settings)
            let fromK = try Lanczos.solve(NTKGramOperator(jacobian: jac, samples: 0..<T, totalSamples: T), settings: settings)
            for (i, want) in reference.enumerated() {
                XCTAssertEqual(fromF.values[i], want, accuracy: 1e-6 * reference.first!, "\(n) F λ_\(i + 1)")
                XCTAssertEqual(fromK.values[i], fromF.values[i], accuracy: 1e-10 * reference.first!, "\(n) K vs F λ_\(i + 1)")
            }
        }
    }

    /// Last-layer normalization acts on sample space only: with J₀ the unnormalized output
    /// Jacobian and per output k the projector Q_k = I − 11ᵀ/T (mean subtraction) or
    /// I − 11ᵀ/T − ẑ_k ẑ_kᵀ/T with scale 1/σ_k (batch norm), K = D Q K₀ Q D exactly.
    func testLastLayerNormalizationIsAProjectionOfTheKernel() throws {
        var c = ProblemConfiguration()
        c.width = 16
        c.samples = 10
        c.outputs = 2
        c.activation = .tanh
        c.sigmaB2 = 0.1
        let plain = try Problem(c)
        let K0 = plain.gramRows()
        let T = 10, C = 2, n = T * C
        for norm in [Normalization.lastMean, .lastBatchNorm] {
            c.normalization = norm
            let p = try Problem(c)
            let K = p.gramRows()
            // Build D Q per output from the unnormalized outputs.
            var DQ = [Double](repeating: 0, count: n * n)
            let jac = try BatchedJacobian(network: Network<Double>(architecture: plain.architecture, seed: 0),
                                          inputs: plain.dataset)
            for k in 0..<C {
                let u = (0..<T).map { jac.outputs[$0 * C + k] }
                let mean = u.reduce(0, +) / Double(T)
                let sd = norm == .lastBatchNorm ? (u.reduce(0.0) { $0 + ($1 - mean) * ($1 - mean) } / Double(T)).squareRoot() : 1
                let z = u.map { ($0 - mean) / sd }
                for t in 0..<T {
                    for s in 0..<T {
                        var q = (t == s ? 1 : 0) - 1 / Double(T)
                        if norm == .lastBatchNorm { q -= z[t] * z[s] / Double(T) }
                        DQ[(t * C + k) * n + s * C + k] = q / sd
                    }
                }
            }
            let expected = DenseReference.multiply(DenseReference.multiply(DQ, K0, rows: n, inner: n, cols: n), DenseReference.transpose(DQ, rows: n, cols: n), rows: n, inner: n, cols: n)
            XCTAssertLessThan(DenseReference.relativeError(K, expected), 1e-12, "\(norm)")
            // The exact trace from K's diagonal equals tr(D Q K₀ Q D).
            let trace = (0..<n).reduce(0.0) { $0 + expected[$1 * n + $1] }
            XCTAssertEqual(p.exactTrace(), trace, accuracy: 1e-12 * trace)
        }
    }

    func testDegenerateStatisticsAreReported() throws {
        let a = try architecture(.lastBatchNorm, .tanh, .standard)
        let one = try Dataset.gaussian(totalSamples: 1, dimension: 3, seed: 1)
        XCTAssertThrowsError(try BatchedJacobian(network: Network<Double>(architecture: a, seed: 1), inputs: one)) { error in
            XCTAssertTrue("\(error)".contains("σ = 0"), "\(error)")
        }
        XCTAssertThrowsError(try Architecture(widths: [3, 5, 1], normalization: .layerNorm)) { error in
            XCTAssertTrue("\(error)".contains("\(Setting.outputs)"), "\(error)")
        }
    }
}
