import XCTest
@testable import Wisp
import WispTestSupport

/// Losses, gradients, Gauss–Newton and Hessian-vector products (Jacot et al. §3.1) against
/// finite differences and dense references, for every activation × parametrization × bias and
/// every loss.
final class HessianTests: XCTestCase {
    let T = 4

    struct Setup<S: BLASScalar> {
        var jacobian: BatchedJacobian<S>
        var theta: [Double]
        var data: Dataset
        var targets: Targets
        var loss: Loss
        var evaluation: LossEvaluation
    }

    /// Targets that suit `loss`: normals for mse, one-hot classes for cross-entropy, values in
    /// (0, 1) for bce.
    func targets(_ loss: Loss, columns C: Int, seed: UInt64) throws -> Targets {
        let rng = CounterRandom(seed: seed, stream: .probe(77))
        var y = [Double](repeating: 0, count: T * C)
        switch loss {
        case .mse: for i in y.indices { y[i] = rng.normal(i) }
        case .crossEntropy: for t in 0..<T { y[t * C + (t * 7 + Int(seed)) % C] = 1 }
        case .binaryCrossEntropy: for i in y.indices { y[i] = 1 / (1 + exp(-rng.normal(i))) }
        }
        return try Targets(columns: C, samples: 0..<T, values: y, classes: loss == .crossEntropy ? C : nil, source: "test")
    }

    func setup<S: BLASScalar>(_ c: NetworkCase, _ loss: Loss, _: S.Type, parameters: [Double]? = nil, seed: UInt64 = 7) throws -> Setup<S> {
        let a = c.architecture
        let net = try parameters.map { try Network<Double>(architecture: a, parameters: $0) } ?? Network<Double>(architecture: a, seed: seed)
        let data = try Dataset.gaussian(totalSamples: T, dimension: a.inputDimension, seed: seed)
        let jac = try BatchedJacobian(network: try net.converted(to: S.self), inputs: data)
        let y = try targets(loss, columns: a.outputs, seed: seed)
        let e = loss.evaluate(outputs: jac.outputs.map { Double($0) }, targets: y.values, columns: a.outputs)
        return Setup(jacobian: jac, theta: net.parameters, data: data, targets: y, loss: loss, evaluation: e)
    }

    func operatorFor<S: BLASScalar>(_ s: Setup<S>, _ matrix: CurvatureMatrix) throws -> any LinearOperator {
        switch matrix {
        case .ggn: return FisherOperator(jacobian: s.jacobian, totalSamples: T, outputHessian: s.evaluation.outputHessian)
        case .hessian: return try HessianOperator(jacobian: s.jacobian, loss: s.evaluation, part: .full, totalSamples: T)
        case .residual: return try HessianOperator(jacobian: s.jacobian, loss: s.evaluation, part: .residual, totalSamples: T)
        default: return FisherOperator(jacobian: s.jacobian, totalSamples: T)
        }
    }

    func vector(_ n: Int, seed: UInt64) -> [Double] {
        (0..<n).map { CounterRandom(seed: seed, stream: .probe(98)).normal($0) }
    }

    /// L(θ) = (1/T) Σ ℓ and ∇L = (1/T) Jᵀ r at θ, through the batched passes.
    func lossAndGradient(_ c: NetworkCase, _ loss: Loss, _ theta: [Double]) throws -> (Double, [Double]) {
        let s = try setup(c, loss, Double.self, parameters: theta)
        var g = [Double](repeating: 0, count: theta.count)
        s.jacobian.vjp(s.evaluation.gradient, alpha: 1 / Double(T), into: &g)
        return (s.evaluation.sum / Double(T), g)
    }

    // MARK: Losses

    /// r = ∂ℓ/∂f against central differences of ℓ, and H_ℓ w against central differences of r
    /// along w, for random outputs of magnitude ~3. h = 1e-5: truncation h²·ℓ''' ~ 1e-10,
    /// rounding ε·ℓ/h ~ 1e-11; 1e-7 leaves margin for ℓ''' up to 10³.
    func testLossDerivativesAgainstFiniteDifferences() throws {
        let C = 3, h = 1e-5
        for loss in Loss.allCases {
            let y = try targets(loss, columns: C, seed: 3).values
            let f = vector(T * C, seed: 4).map { 3 * $0 }
            let w = vector(T * C, seed: 5)
            let e = loss.evaluate(outputs: f, targets: y, columns: C)
            var fdGradient = [Double](repeating: 0, count: f.count)
            for i in f.indices {
                var p = f, m = f
                p[i] += h; m[i] -= h
                fdGradient[i] = (loss.evaluate(outputs: p, targets: y, columns: C).sum - loss.evaluate(outputs: m, targets: y, columns: C).sum) / (2 * h)
            }
            XCTAssertLessThan(DenseReference.relativeError(e.gradient, fdGradient), 1e-7, "\(loss) gradient")
            let plus = loss.evaluate(outputs: zip(f, w).map { $0 + h * $1 }, targets: y, columns: C).gradient
            let minus = loss.evaluate(outputs: zip(f, w).map { $0 - h * $1 }, targets: y, columns: C).gradient
            let fdHessian = zip(plus, minus).map { ($0 - $1) / (2 * h) }
            var hw = w
            e.outputHessian.apply(&hw, rows: T)
            XCTAssertLessThan(DenseReference.relativeError(hw, fdHessian), 1e-7, "\(loss) output Hessian")
        }
    }

    /// Closed-form values: mse ½‖f − y‖²; cross-entropy of uniform outputs log C; bce at f = 0
    /// is C·log 2 per sample; extreme logits stay finite (the log-sum-exp and softplus forms).
    func testLossValues() throws {
        let C = 3
        let mse = Loss.mse.evaluate(outputs: [1, 2, 3], targets: [0, 0, 1], columns: C)
        XCTAssertEqual(mse.sum, 0.5 * (1 + 4 + 4), accuracy: 1e-15)
        let ce = Loss.crossEntropy.evaluate(outputs: [5, 5, 5], targets: [0, 1, 0], columns: C)
        XCTAssertEqual(ce.sum, log(3), accuracy: 1e-15)
        let bce = Loss.binaryCrossEntropy.evaluate(outputs: [0, 0, 0], targets: [1, 0, 0.5], columns: C)
        XCTAssertEqual(bce.sum, 3 * log(2), accuracy: 1e-15)
        let extreme = Loss.crossEntropy.evaluate(outputs: [800, -800, 0], targets: [0, 1, 0], columns: C)
        XCTAssertEqual(extreme.sum, 1600, accuracy: 1e-9)
        XCTAssertTrue(Loss.binaryCrossEntropy.evaluate(outputs: [800, -800], targets: [0, 1], columns: 2).sum.isFinite)
        XCTAssertEqual(Loss.crossEntropy.correct(outputs: [1, 2, 0, 3, 1, 0], targets: [0, 1, 0, 0, 1, 0], columns: 3, classes: 3), 1)
        XCTAssertNil(Loss.mse.correct(outputs: [1, 2], targets: [0, 1], columns: 1, classes: nil))
    }

    func testLossValidation() throws {
        let y = try Targets(columns: 1, samples: 0..<2, values: [0.5, 2], source: "y.npy")
        XCTAssertThrowsError(try Loss.crossEntropy.validate(targets: y, outputs: 1))
        XCTAssertThrowsError(try Loss.binaryCrossEntropy.validate(targets: y, outputs: 1)) {
            XCTAssertTrue("\($0)".contains("[0, 1]"), "\($0)")
        }
        XCTAssertThrowsError(try Loss.mse.validate(targets: y, outputs: 2))
        XCTAssertNoThrow(try Loss.mse.validate(targets: y, outputs: 1))
    }

    // MARK: Gradient and Hessian against the loss

    /// ∇L from the VJP against central differences of L along a random direction: the same
    /// error budget as the loss test, with L a composition of the network and ℓ.
    func testGradientAgainstFiniteDifferencesOfLoss() throws {
        let h = 1e-5
        for c in NetworkCase.all {
            for loss in Loss.allCases {
                let s = try setup(c, loss, Double.self)
                let v = vector(s.theta.count, seed: 11)
                let (_, g) = try lossAndGradient(c, loss, s.theta)
                let (lp, _) = try lossAndGradient(c, loss, zip(s.theta, v).map { $0 + h * $1 })
                let (lm, _) = try lossAndGradient(c, loss, zip(s.theta, v).map { $0 - h * $1 })
                let fd = (lp - lm) / (2 * h)
                let exact = zip(g, v).reduce(0) { $0 + $1.0 * $1.1 }
                XCTAssertEqual(exact, fd, accuracy: 1e-7 * max(1, abs(fd)), "\(c) \(loss)")
            }
        }
    }

    /// H v by the R-operator against central differences of the hand-written gradient along v:
    /// (∇L(θ + h v) − ∇L(θ − h v)) / 2h, error O(h²) + O(ε/h) ≈ 1e-10 relative; 1e-6 allows
    /// third derivatives of 10⁴. ReLU kinks are not crossed at this step for these inputs.
    func testHessianVectorProductAgainstFiniteDifferencesOfGradient() throws {
        let h = 1e-5
        for c in NetworkCase.all {
            for loss in Loss.allCases {
                let s = try setup(c, loss, Double.self)
                let v = vector(s.theta.count, seed: 12)
                let hv = try operatorFor(s, .hessian).apply(v)
                let (_, gp) = try lossAndGradient(c, loss, zip(s.theta, v).map { $0 + h * $1 })
                let (_, gm) = try lossAndGradient(c, loss, zip(s.theta, v).map { $0 - h * $1 })
                let fd = zip(gp, gm).map { ($0 - $1) / (2 * h) }
                let e = DenseReference.relativeError(hv, fd)
                XCTAssertLessThan(e, 1e-6, "\(c) \(loss): relative error \(e)")
            }
        }
    }

    /// The dense G, S and H from the operators against an independent reference: the explicit
    /// scalar-loop Jacobian for G = (1/T) Jᵀ H_ℓ J, and central differences of that Jacobian
    /// for S = (1/T) Σ r_tk ∇²f_k(x_t) (h = 1e-5: error ~1e-10 relative; 1e-7 leaves margin).
    /// H − G − S vanishes to rounding (1e-12).
    func testDenseAgainstReference() throws {
        for c in NetworkCase.all {
            for loss in Loss.allCases {
                let s = try setup(c, loss, Double.self)
                let a = c.architecture, P = s.theta.count, rows = T * a.outputs
                let J = DenseReference.jacobian(architecture: a, parameters: s.theta, inputs: s.data)
                // H_ℓ J column by column.
                var hJ = J
                for i in 0..<P {
                    var col = (0..<rows).map { J[$0 * P + i] }
                    s.evaluation.outputHessian.apply(&col, rows: T)
                    for r in 0..<rows { hJ[r * P + i] = col[r] }
                }
                let gRef = DenseReference.multiply(DenseReference.transpose(J, rows: rows, cols: P), hJ, rows: P, inner: rows, cols: P)
                    .map { $0 / Double(T) }
                let sRef = DenseReference.weightedOutputHessian(architecture: a, parameters: s.theta, inputs: s.data,
                                                                weights: s.evaluation.gradient.map { $0 / Double(T) })
                let g = DenseReference.dense(try operatorFor(s, .ggn))
                let r = DenseReference.dense(try operatorFor(s, .residual))
                let h = DenseReference.dense(try operatorFor(s, .hessian))
                XCTAssertLessThan(DenseReference.relativeError(g, gRef), 1e-12, "G \(c) \(loss)")
                XCTAssertLessThan(DenseReference.relativeError(r, sRef), 1e-7, "S \(c) \(loss)")
                let sum = zip(g, r).map { $0 + $1 }
                XCTAssertLessThan(DenseReference.relativeError(h, sum), 1e-12, "H = G + S \(c) \(loss)")
                // Symmetry of the R-operator's matrix (S is a sum of symmetric output Hessians).
                let ht = DenseReference.transpose(h, rows: P, cols: P)
                XCTAssertLessThan(DenseReference.relativeError(h, ht), 1e-12, "symmetry \(c) \(loss)")
            }
        }
    }

    /// Piecewise-linear activations have φ'' = 0, but S does not vanish: the cross-layer terms
    /// Δ^l dW^l and Δ^lᵀ dH^(l−1) remain (a product of two layers' weights is not linear in θ).
    func testResidualOfReLUNetworkIsNonzero() throws {
        let a = try Architecture(widths: [3, 5, 4, 2], activation: .relu, hasBias: true, parametrization: .standard, sigmaW2: 2, sigmaB2: 0.1)
        let s = try setup(NetworkCase(architecture: a), .mse, Double.self)
        let sv = try operatorFor(s, .residual).apply(vector(s.theta.count, seed: 3))
        XCTAssertGreaterThan(sv.map(abs).max()!, 1e-3)
    }

    /// Float32 passes against Float64: relative error O(ε₃₂ · depth · fan-in) ≈ 1e-6; 1e-4 margin.
    func testFloat32HessianAgainstFloat64() throws {
        for c in NetworkCase.all where c.architecture.everyLayerHasBias {
            let s64 = try setup(c, .crossEntropy, Double.self)
            let s32 = try setup(c, .crossEntropy, Float.self)
            let v = vector(s64.theta.count, seed: 5)
            let e = DenseReference.relativeError(try operatorFor(s32, .hessian).apply(v), try operatorFor(s64, .hessian).apply(v))
            XCTAssertLessThan(e, 1e-4, "\(c)")
        }
    }

    // MARK: Problem level

    func problem(_ loss: Loss, activation: Activation = .tanh, outputs: Int = 3, normalization: Normalization = .none) throws -> Problem {
        var c = ProblemConfiguration()
        c.depth = 3; c.width = 10; c.inputDimension = 4; c.outputs = outputs; c.samples = 6
        c.activation = activation; c.sigmaW2 = 1.5; c.sigmaB2 = 0.1; c.loss = loss; c.seed = 5
        c.normalization = normalization
        return try Problem(c)
    }

    /// The top and bottom of the indefinite H and S by Lanczos (largest magnitude, smallest,
    /// largest) against LAPACK dsyevd of the dense operator: both are backward stable, and the
    /// pairs are converged to 1e-10, so eigenvalues agree to ~1e-10·‖H‖.
    func testIndefiniteLanczosAgainstLAPACK() throws {
        let p = try problem(.crossEntropy)
        for matrix in [CurvatureMatrix.hessian, .residual] {
            let op = try p.makeOperator(matrix)
            let n = op.dimension
            let exact = try LAPACK.symmetricEigen(DenseReference.dense(op), n: n).values.sorted()
            let norm = max(abs(exact.first!), abs(exact.last!))
            XCTAssertLessThan(exact.first!, -1e-6 * norm, "\(matrix) should be indefinite")
            for which in SpectrumEnd.allCases {
                let pairs = try Lanczos.solve(op, settings: LanczosSettings(count: 3, which: which, tolerance: 1e-10, seed: 1))
                let want: [Double]
                switch which {
                case .largest: want = Array(exact.reversed().prefix(3))
                case .smallest: want = Array(exact.prefix(3))
                case .largestMagnitude: want = Array(exact.sorted { abs($0) > abs($1) }.prefix(3))
                }
                XCTAssertTrue(pairs.converged.allSatisfy { $0 }, "\(matrix) \(which)")
                for (got, w) in zip(pairs.values, want) {
                    XCTAssertEqual(got, w, accuracy: 1e-9 * norm, "\(matrix) \(which)")
                }
            }
        }
    }

    /// For mse, G is F exactly; the loss and gradient of a Problem match the batched pieces.
    func testProblemOperatorsAndGradient() throws {
        let p = try problem(.mse)
        let v = vector(p.parameterCount, seed: 9)
        let f = try p.makeOperator(.fisher).apply(v), g = try p.makeOperator(.ggn).apply(v)
        XCTAssertLessThan(DenseReference.relativeError(g, f), 1e-14)
        let (value, accuracy) = try p.loss()
        XCTAssertNil(accuracy)
        XCTAssertGreaterThan(value, 0)
        let (lossValue, _, grad) = try p.lossAndGradient()
        XCTAssertEqual(lossValue, value, accuracy: 1e-15 * value)
        XCTAssertEqual(grad.count, p.parameterCount)
        // Teacher targets from a different seed: the student is not at the minimum.
        XCTAssertGreaterThan(grad.map(abs).max()!, 1e-6)
        XCTAssertThrowsError(try problem(.mse, normalization: .layerNorm).makeOperator(.hessian)) {
            XCTAssertTrue("\($0)".contains("normalization"), "\($0)")
        }
    }

    /// The normalized smooth ReLU has E[φ(z)] = 0 and E[φ(z)²] = 1 under z ~ N(0, 1): Gauss–
    /// Hermite of order 256 is exact to ~1e-15 for this entire-in-a-strip integrand.
    func testNormalizedSoftplusConstants() throws {
        let rule = try GaussHermite.rule(order: 256)
        let phi = Activation.normalizedSoftplus
        XCTAssertEqual(rule.integrate { phi.value($0) }, 0, accuracy: 1e-13)
        XCTAssertEqual(rule.integrate { phi.value($0) * phi.value($0) }, 1, accuracy: 1e-13)
        // φ'' against central differences of φ' (h = 1e-4: error ~1e-9).
        for phi in Activation.allCases {
            for x in [-2.3, -0.4, 0.7, 1.9] {
                let fd = (phi.derivative(x + 1e-4) - phi.derivative(x - 1e-4)) / 2e-4
                XCTAssertEqual(phi.secondDerivative(x), fd, accuracy: 1e-7, "\(phi) at \(x)")
            }
        }
    }

    /// tr(Gᵏ)/P from sample space (the eigenvalues of B K B) against those of the dense G, for
    /// every loss: both exact up to rounding, 1e-10 relative.
    func testExactGaussNewtonMoments() throws {
        for loss in Loss.allCases {
            let p = try problem(loss)
            let exact = try XCTUnwrap(try HessianMoments.exactGaussNewtonMoments(p))
            let values = try LAPACK.symmetricEigen(DenseReference.dense(try p.makeOperator(.ggn)), n: p.parameterCount).values
            for k in 1...4 {
                let reference = values.reduce(0) { $0 + pow($1, Double(k)) } / Double(p.parameterCount)
                XCTAssertEqual(exact[k - 1], reference, accuracy: 1e-10 * abs(reference), "\(loss) k = \(k)")
            }
        }
    }

    /// KPM on the indefinite H, with bounds from Lanczos at both ends: its power moments equal
    /// SLQ's on the same probes (both exact polynomial quadratures; 1e-8 relative for the
    /// rounding amplified by the Chebyshev-to-power conversion), and the bounds enclose the
    /// dense spectrum.
    func testKPMOnTheIndefiniteHessian() throws {
        let p = try problem(.crossEntropy)
        let (slq, _) = try DensityJob.run(p, matrix: .hessian, settings: SLQSettings(probes: 6, steps: 30, seed: 2),
                                          grid: DensitySettings(scale: .linear))
        let (kpm, _) = try KPMDensityJob.run(p, matrix: .hessian, settings: KPMSettings(probes: 6, moments: 256, seed: 2),
                                             grid: DensitySettings(scale: .linear))
        XCTAssertFalse(kpm.bounds.positiveSemidefinite)
        let exact = try LAPACK.symmetricEigen(DenseReference.dense(try p.makeOperator(.hessian)), n: p.parameterCount).values
        XCTAssertLessThanOrEqual(kpm.bounds.lower, exact.min()!)
        XCTAssertGreaterThanOrEqual(kpm.bounds.upper, exact.max()!)
        for (a, b) in zip(slq.moments, kpm.moments) {
            XCTAssertEqual(b.estimate, a.estimate, accuracy: 1e-8 * max(abs(a.estimate), a.standardError), "order \(a.order)")
        }
        XCTAssertEqual(kpm.densityOf, "H")
    }

    /// `moments` for the loss matrices: G exact (sample space) and H, S by Hutchinson, against
    /// the dense matrices' traces (exact: 1e-10; Hutchinson: within 4 standard errors).
    func testMomentsOfTheLossMatrices() throws {
        let p = try problem(.crossEntropy)
        let P = Double(p.parameterCount)
        for matrix in [CurvatureMatrix.ggn, .hessian, .residual] {
            let dense = DenseReference.dense(try p.makeOperator(matrix))
            let n = p.parameterCount
            let trace = (0..<n).reduce(0.0) { $0 + dense[$1 * n + $1] }
            let second = dense.reduce(0.0) { $0 + $1 * $1 } / P
            let (r, _) = try MomentsJob.run(p, matrix: matrix, exactLimit: 4096, probes: 40, seed: 3)
            XCTAssertEqual(r.matrix, matrix)
            if matrix == .ggn {
                XCTAssertEqual(r.trace, trace, accuracy: 1e-10 * abs(trace))
                XCTAssertEqual(r.secondMoment, second, accuracy: 1e-10 * second)
                XCTAssertNil(r.probes)
            } else {
                XCTAssertEqual(r.trace, trace, accuracy: 4 * r.traceStandardError, "\(matrix)")
                XCTAssertEqual(r.secondMoment, second, accuracy: 4 * r.secondMomentStandardError, "\(matrix)")
            }
        }
    }
}
