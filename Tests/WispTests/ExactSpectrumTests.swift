import Foundation
import XCTest
@testable import Wisp
import WispTestSupport

/// The exact sample-space path (``ExactSpectrumJob``): the formed K (or B K B for G) against the
/// dense (1/T) J Jᵀ of the explicit scalar-loop Jacobian and against the matrix-free Lanczos path,
/// the distances of estimates from it, and the method choice.
///
/// Tolerances: the formed K and the dense reference are the same sums in other orders, so their
/// entries differ by a few ε·‖K‖·(summation length); by Weyl's inequality every eigenvalue moves
/// by at most ‖ΔK‖₂ ≤ TC·max|ΔK_ij|, and LAPACK's backward error adds O(TC·ε·‖K‖). With TC ≤ 60
/// and sums of a few hundred terms that is ≲ 1e-12·λ_max.
final class ExactSpectrumTests: XCTestCase {
    func configuration(activation: Activation = .tanh, parametrization: Parametrization = .standard, bias: Bool = true,
                       outputs: Int = 2, samples: Int = 17, width: Int = 12) -> ProblemConfiguration {
        var c = ProblemConfiguration()
        c.width = width
        c.inputDimension = 7
        c.samples = samples
        c.outputs = outputs
        c.activation = activation
        c.parametrization = parametrization
        c.bias = bias
        c.sigmaB2 = bias ? 0.2 : 0
        c.seed = 5
        return c
    }

    /// Descending eigenvalues of a dense symmetric matrix by LAPACK.
    func denseEigenvalues(_ a: [Double], n: Int) throws -> [Double] {
        Array(try LAPACK.symmetricEigen(a, n: n).values.reversed())
    }

    /// Every eigenvalue of K from the exact path equals LAPACK on the dense (1/T) J Jᵀ, for every
    /// activation × parametrization × bias, with C = 2.
    func testAllEigenvaluesMatchDenseGramOfExplicitJacobian() throws {
        for activation in Activation.allCases {
            for parametrization in Parametrization.allCases {
                for bias in [true, false] {
                    let p = try Problem(configuration(activation: activation, parametrization: parametrization, bias: bias))
                    let n = p.sampleSpaceDimension, T = p.totalSamples
                    let J = DenseReference.jacobian(architecture: p.architecture, parameters: p.parameters, inputs: p.dataset)
                    let K = DenseReference.gram(jacobian: J, rows: n, parameters: p.parameterCount, totalSamples: T)
                    let reference = try denseEigenvalues(K, n: n)
                    let exact = try ExactSpectrumJob.run(p, matrix: .ntk, selection: .all, vectors: false,
                                                         solver: ReplicatedLAPACKEigensolver())
                    XCTAssertEqual(exact.values.count, n)
                    let scale = reference[0]
                    let worst = zip(exact.values, reference).map { abs($0 - $1) }.max()!
                    XCTAssertLessThan(worst, 1e-12 * scale, "\(activation) \(parametrization) bias \(bias)")
                }
            }
        }
    }

    /// Top-k pairs: the same eigenvalues as the full solve, unit orthogonal vectors, residuals with
    /// the matrix-free operator at rounding level, and the matrix-free Lanczos path agreeing.
    func testTopPairsAgainstLanczosAndResiduals() throws {
        let p = try Problem(configuration(activation: .erf, outputs: 3, samples: 19))
        let solver = ReplicatedLAPACKEigensolver()
        let (top, _) = try TopJob.runExact(p, matrix: .fisher, count: 5, which: .largest, tolerance: 1e-10, solver: solver)
        let all = try ExactSpectrumJob.run(p, matrix: .ntk, selection: .all, vectors: false, solver: solver)
        for j in 0..<5 { XCTAssertEqual(top.eigenvalues[j], all.values[j], accuracy: 1e-13 * all.values[0]) }
        XCTAssertTrue(top.converged.allSatisfy { $0 }, "residuals \(top.residuals)")
        // ‖K u − λ u‖ with the matrix-free K: both K's are exact to a few ε‖K‖.
        for r in top.residuals { XCTAssertLessThan(r, 1e-12 * all.values[0]) }
        for i in 0..<5 {
            for j in 0..<5 {
                let d = zip(top.vectors[i], top.vectors[j]).reduce(0) { $0 + $1.0 * $1.1 }
                XCTAssertEqual(d, i == j ? 1 : 0, accuracy: 1e-12)
            }
        }
        let (lanczos, _) = try TopJob.run(p, matrix: .ntk, settings: LanczosSettings(count: 5, tolerance: 1e-11, seed: 1))
        for j in 0..<5 { XCTAssertEqual(lanczos.eigenvalues[j], top.eigenvalues[j], accuracy: 1e-10 * all.values[0]) }
        // The smallest end of K.
        let (small, _) = try TopJob.runExact(p, matrix: .ntk, count: 2, which: .smallest, tolerance: 1e-6, solver: solver)
        XCTAssertEqual(small.eigenvalues[0], all.values.last!, accuracy: 1e-13 * all.values[0])
        XCTAssertLessThanOrEqual(small.eigenvalues[0], small.eigenvalues[1])
    }

    /// With batch statistics K is formed column by column (layer norm keeps per-sample gradients and
    /// the Hadamard form); its eigenvalues equal the matrix-free Lanczos path's for every normalization.
    func testNormalizationsAgainstLanczos() throws {
        for normalization in Normalization.allCases where normalization != .none {
            var c = configuration(activation: .tanh, outputs: 3, samples: 13)
            c.normalization = normalization
            let p = try Problem(c)
            let exact = try ExactSpectrumJob.run(p, matrix: .ntk, selection: .indices((p.sampleSpaceDimension - 3)..<p.sampleSpaceDimension),
                                                 vectors: false, solver: ReplicatedLAPACKEigensolver())
            XCTAssertEqual(exact.formApplications, normalization.couplesSamples ? p.sampleSpaceDimension : 0,
                           "\(normalization): K e_i for every i only when batch statistics couple the samples")
            let (lanczos, _) = try TopJob.run(p, matrix: .ntk, settings: LanczosSettings(count: 3, tolerance: 1e-11, seed: 2))
            for j in 0..<3 {
                XCTAssertEqual(exact.values[j], lanczos.eigenvalues[j], accuracy: 1e-10 * exact.values[0], "\(normalization)")
            }
        }
    }

    /// G = (1/T) Jᵀ H_ℓ J for cross-entropy and bce: the exact path's B K B against LAPACK on the
    /// dense P × P matrix formed from the explicit Jacobian and H_ℓ applied to its rows.
    func testGaussNewtonOfEveryLossAgainstDenseMatrix() throws {
        for loss in [Loss.crossEntropy, .binaryCrossEntropy, .mse] {
            var c = configuration(activation: .softplus, outputs: 3, samples: 9, width: 8)
            c.loss = loss
            let p = try Problem(c)
            let n = p.sampleSpaceDimension, P = p.parameterCount, T = p.totalSamples
            let J = DenseReference.jacobian(architecture: p.architecture, parameters: p.parameters, inputs: p.dataset)
            // H_ℓ J: each column of J (a sample-space vector) through the output Hessian.
            var HJ = J
            let hessian = try p.lossEvaluation().outputHessian
            var column = [Double](repeating: 0, count: n)
            for j in 0..<P {
                for r in 0..<n { column[r] = J[r * P + j] }
                column.withUnsafeMutableBufferPointer { hessian.apply($0.baseAddress!, rows: T) }
                for r in 0..<n { HJ[r * P + j] = column[r] }
            }
            var G = [Double](repeating: 0, count: P * P)
            for i in 0..<P { for j in 0..<P { var s = 0.0; for r in 0..<n { s += J[r * P + i] * HJ[r * P + j] }; G[i * P + j] = s / Double(T) } }
            let reference = try denseEigenvalues(G, n: P)
            let exact = try ExactSpectrumJob.run(p, matrix: .ggn, selection: .all, vectors: false, solver: ReplicatedLAPACKEigensolver())
            // G's nonzero spectrum is B K B's; the P × P reference adds O(P ε ‖G‖) rounding.
            for j in 0..<n { XCTAssertEqual(exact.values[j], reference[j], accuracy: 1e-11 * reference[0], "\(loss) λ_\(j)") }
            // Residuals of its top pairs with the matrix-free B K B.
            let (top, _) = try TopJob.runExact(p, matrix: .ggn, count: 3, which: .largest, tolerance: 1e-10, solver: ReplicatedLAPACKEigensolver())
            XCTAssertTrue(top.converged.allSatisfy { $0 }, "\(loss): \(top.residuals)")
        }
    }

    /// B = H_ℓ^(1/2): each block squares to H_ℓ (H_ℓ applied to unit vectors).
    func testOutputHessianRootSquaresToHessian() throws {
        var c = configuration(outputs: 4, samples: 6)
        c.loss = .crossEntropy
        let p = try Problem(c)
        let hessian = try p.lossEvaluation().outputHessian
        let root = try OutputHessianRoot(hessian, rows: 6)
        for j in 0..<4 {
            var e = [Double](repeating: 0, count: 24)
            for t in 0..<6 { e[t * 4 + j] = 1 }
            var h = e
            h.withUnsafeMutableBufferPointer { hessian.apply($0.baseAddress!, rows: 6) }
            e.withUnsafeMutableBufferPointer { root.apply($0.baseAddress!); root.apply($0.baseAddress!) }
            // Softmax probabilities ≤ 1: entries O(1), a C × C eigensolve's rounding.
            for i in 0..<24 { XCTAssertEqual(e[i], h[i], accuracy: 1e-14) }
        }
    }

    /// The exact density: F's moments Σ λᵢᵖ / P against the dense F's eigenvalues, the null space
    /// 1 − TC/P as zero mass.
    func testExactDensityMomentsAndZeroMass() throws {
        let p = try Problem(configuration(activation: .relu, outputs: 2, samples: 11, width: 10))
        let (d, _) = try DensityJob.runExact(p, matrix: .fisher, grid: DensitySettings(), solver: ReplicatedLAPACKEigensolver())
        let J = DenseReference.jacobian(architecture: p.architecture, parameters: p.parameters, inputs: p.dataset)
        let P = p.parameterCount
        let F = DenseReference.fisher(jacobian: J, rows: p.sampleSpaceDimension, parameters: P, totalSamples: p.totalSamples)
        let lambda = try denseEigenvalues(F, n: P)
        for order in 1...4 {
            let m = lambda.reduce(0.0) { $0 + Foundation.pow($1, Double(order)) } / Double(P)
            XCTAssertEqual(d.moments[order - 1].estimate, m, accuracy: 1e-11 * m, "order \(order)")
            XCTAssertEqual(d.moments[order - 1].standardError, 0)
        }
        let s = Double(p.sampleSpaceDimension) / Double(P)
        XCTAssertEqual(d.nullSpaceFraction, 1 - s, accuracy: 1e-15)
        XCTAssertEqual(d.density.zeroMass, 1 - s, accuracy: 1e-12)
        XCTAssertEqual(d.exactEigenvalues?.count, p.sampleSpaceDimension)
    }

    /// W₁ of point masses against hand computations.
    func testWassersteinDistance() {
        XCTAssertEqual(SpectralDistance.wasserstein1(([0], [1]), ([1], [1])), 1, accuracy: 1e-15)
        // Half the mass moves by 2: W₁ = 1.
        XCTAssertEqual(SpectralDistance.wasserstein1(([0, 1], [0.5, 0.5]), ([0, 3], [0.5, 0.5])), 1, accuracy: 1e-15)
        // Unnormalized weights are normalized; identical measures are at distance 0.
        XCTAssertEqual(SpectralDistance.wasserstein1(([2, 5], [1, 3]), ([5, 2], [6, 2])), 0, accuracy: 1e-15)
        // Uniform on {0, 1, 2, 3} vs δ(1.5): E|X − 1.5| = 1.
        XCTAssertEqual(SpectralDistance.wasserstein1(([0, 1, 2, 3], [1, 1, 1, 1]), ([1.5], [1])), 1, accuracy: 1e-15)
        let log = SpectralDistance.logPositivePart(([0, 10, 100], [0.5, 0.25, 0.25]), threshold: 1e-9)
        XCTAssertEqual(log.nodes, [1, 2])
    }

    /// SLQ against the exact spectrum on the same problem: the comparison's moments are the exact
    /// ones, the errors within a few standard errors, W₁ small against λ_max.
    func testSLQComparedWithExact() throws {
        let p = try Problem(configuration(activation: .tanh, outputs: 2, samples: 20, width: 16))
        let solver = ReplicatedLAPACKEigensolver()
        let (exact, t) = try DensityJob.runExact(p, matrix: .ntk, grid: DensitySettings(), solver: solver)
        let (slq, _) = try DensityJob.run(p, matrix: .ntk, settings: SLQSettings(probes: 30, steps: 40, seed: 3), grid: DensitySettings())
        let c = DensityComparison.compare(estimate: slq.estimateMeasure!, measure: "gauss", moments: slq.moments, zeroMass: slq.density.zeroMass,
                                          exact: exact, parameters: p.parameterCount, exactSeconds: t.totalSeconds)
        for m in c.moments { XCTAssertLessThan(abs(m.standardErrors ?? 0), 5, "order \(m.order)") }
        XCTAssertEqual(c.moments[0].exact, exact.moments[0].estimate)
        XCTAssertLessThan(c.wasserstein1Relative, 0.05)
        XCTAssertEqual(c.zeroMassExact, exact.density.zeroMass)
    }

    /// auto picks the exact path for small sample spaces and Lanczos for H; exact refuses H and
    /// sizes that cannot fit, naming the memory.
    func testMethodChoice() throws {
        let p = try Problem(configuration())
        let solver = ReplicatedLAPACKEigensolver()
        let auto = try MethodChoice.choose(p, matrix: .fisher, requested: "auto", iterative: "lanczos", iterativeApplications: 80,
                                           selection: .indices(33..<34), vectors: true, solver: solver)
        XCTAssertEqual(auto.method, "exact")
        XCTAssertNotNil(auto.exactFlops)
        let hessian = try MethodChoice.choose(p, matrix: .hessian, requested: "auto", iterative: "lanczos", iterativeApplications: 80,
                                              selection: .indices(33..<34), vectors: true, solver: solver)
        XCTAssertEqual(hessian.method, "lanczos")
        XCTAssertTrue(hessian.reason.contains("sample-space"))
        XCTAssertThrowsError(try MethodChoice.choose(p, matrix: .residual, requested: "exact", iterative: "lanczos", iterativeApplications: 80,
                                                     selection: .all, vectors: false, solver: solver))
        // TC = 2·10⁶: K alone is 32 TB.
        var big = configuration(outputs: 2, samples: 1_000_000, width: 2)
        big.inputDimension = 1
        let q = try Problem(big)
        XCTAssertThrowsError(try MethodChoice.choose(q, matrix: .ntk, requested: "exact", iterative: "slq", iterativeApplications: 10,
                                                     selection: .all, vectors: false, solver: solver)) { error in
            XCTAssertTrue("\(error)".contains("GB"), "\(error)")
        }
        let fallback = try MethodChoice.choose(q, matrix: .ntk, requested: "auto", iterative: "slq", iterativeApplications: 10,
                                               selection: .all, vectors: false, solver: solver)
        XCTAssertEqual(fallback.method, "slq")
    }

    /// The CLI: `--method exact` records its choice, writes the full spectrum beside the JSON (every
    /// line reads back as the JSON's count of doubles, descending), and bad combinations are one line.
    func testCLI() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-exact-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let common = ["--width", "12", "--samples", "15", "--outputs", "2", "--quiet"]
        let d = try WispExecutable.run(["density", "--method", "exact", "--output", "d.json"] + common, in: dir)
        XCTAssertEqual(d.status, 0, d.stderr)
        let record = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("d.json"))) as! [String: Any]
        let result = record
        XCTAssertEqual((result["method_choice"] as? [String: Any])?["method"] as? String, "exact")
        XCTAssertEqual(result["eigenvalue_count"] as? Int, 30)
        let lines = try String(contentsOf: dir.appendingPathComponent("d.eigenvalues.csv"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.first, "eigenvalue")
        let values = lines.dropFirst().map { Double($0)! }
        XCTAssertEqual(values.count, 30)
        XCTAssertEqual(values, values.sorted(by: >))
        let t = try WispExecutable.run(["top", "--method", "exact", "--k", "3", "--output", "t.json"] + common, in: dir)
        XCTAssertEqual(t.status, 0, t.stderr)
        let bad = try WispExecutable.run(["density", "--method", "exact", "--compare-exact"] + common, in: dir)
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, bad.stderr)
        let hessian = try WispExecutable.run(["top", "--method", "exact", "--matrix", "hessian"] + common, in: dir)
        XCTAssertNotEqual(hessian.status, 0)
        XCTAssertTrue(hessian.stderr.contains("sample-space"), hessian.stderr)
    }
}
