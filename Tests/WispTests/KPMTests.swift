import Foundation
import XCTest
import WispTestSupport
@testable import Wisp

/// The kernel polynomial method: the DCT, damping kernels, moments, bounds, reconstruction,
/// deflation, agreement with SLQ on the same probes, checkpoints and the CLI.
final class KPMTests: XCTestCase {
    /// T_n(x) for |x| ≤ 1.
    func chebyshev(_ n: Int, _ x: Double) -> Double { cos(Double(n) * acos(max(-1, min(1, x)))) }

    /// FFTW's REDFT01 against the defining cosine sum Y_k = X_0 + 2 Σ X_j cos(πj(2k+1)/(2n)),
    /// for every n ≤ 17 (FFTW uses different codelets for small, odd, prime and power-of-two
    /// lengths) and a few larger ones. Rounding of either side is O(ε log n · Σ|X_j|), so
    /// 1e-13 · Σ|X_j| is a tight bound that a wrong index, factor 2 or sign would miss by
    /// orders of magnitude. Plans are cached: repeating a length does not add a plan.
    func testCosineTransformMatchesDirectSum() {
        let random = CounterRandom(seed: 5, stream: .inputs)
        for n in Array(1...17) + [64, 100, 1000] {
            let x = (0..<n).map { random.normal($0 + 1000 * n) }
            let y = CosineTransform.typeIII(x)
            let scale = x.map(abs).reduce(0, +)
            for k in 0..<n {
                var direct = x[0]
                for j in 1..<n { direct += 2 * x[j] * cos(Double.pi * Double(j) * Double(2 * k + 1) / Double(2 * n)) }
                XCTAssertEqual(y[k], direct, accuracy: 1e-13 * scale, "n = \(n), k = \(k)")
            }
        }
        let plans = CosineTransform.cache.count
        _ = CosineTransform.typeIII([1, 2, 3, 4, 5, 6, 7])
        XCTAssertEqual(CosineTransform.cache.count, plans)
        XCTAssertEqual(CosineTransform.typeIII([]), [])
    }

    /// Jackson's factors: g_0 = 1, decreasing, positive; the damped δ-peak at the centre has the
    /// variance (1 − g_2)/2 (exact), which Weiße et al. eq. 73 approximates as
    /// (π/M)²(1 − 3/M) to relative O(1/M²) (2e-3 allowed at M = 256, where 1/M² ≈ 1.5e-5 times
    /// the π²/6-size constants). Lorentz: g_n = sinh(4(1 − n/M))/sinh 4.
    func testDampingKernels() {
        let M = 256
        let g = DampingKernel.jackson.factors(count: M)
        XCTAssertEqual(g[0], 1, accuracy: 1e-15)
        for n in 1..<M { XCTAssertLessThan(g[n], g[n - 1]); XCTAssertGreaterThan(g[n], 0) }
        let variance = (1 - g[2]) / 2
        let weisse = pow(Double.pi / Double(M), 2) * (1 - 3 / Double(M))
        XCTAssertEqual(variance / weisse, 1, accuracy: 2e-3)
        let l = DampingKernel.lorentz.factors(count: M)
        XCTAssertEqual(l[0], 1, accuracy: 1e-15)
        XCTAssertEqual(l[M / 2], sinh(2) / sinh(4), accuracy: 1e-15)
    }

    /// For a diagonal matrix every Rademacher probe gives rᵀ T_n(Ã) r = Σ_i r_i² T_n(x_i) =
    /// Σ_i T_n(x_i) exactly, so each probe's moments must equal the exact Chebyshev sums
    /// (1/N) Σ_i T_n(x_i) to rounding (1e-12: the recurrence is stable on [−1, 1], errors grow
    /// at most linearly in n) and their standard errors vanish. Odd and even M both work.
    func testMomentsOfDiagonalMatricesAreExactChebyshevSums() throws {
        let N = 300
        let values = (0..<N).map { -2 + 7 * Double(($0 * 7919) % N) / Double(N) }
        let op = MatrixOperator(diagonal: values)
        let bounds = SpectralBounds(lower: -2.5, upper: 5.5)
        for M in [50, 51] {
            let k = try KernelPolynomialMethod.run(op, bounds: bounds, settings: KPMSettings(probes: 3, moments: M, seed: 9))
            XCTAssertEqual(k.operatorApplications, 3 * (M / 2))
            for n in 0..<M {
                let exact = values.reduce(0) { $0 + chebyshev(n, ($1 - bounds.center) / bounds.halfWidth) } / Double(N)
                for probe in k.probes { XCTAssertEqual(probe[n], exact, accuracy: 1e-12, "μ_\(n)") }
                XCTAssertLessThan(k.estimates[n].standardError, 1e-13)
            }
            for p in 1...4 {
                let exact = values.reduce(0) { $0 + pow($1, Double(p)) } / Double(N)
                XCTAssertEqual(k.powerMoment(p).mean, exact, accuracy: 1e-12 * max(abs(exact), 1))
            }
        }
    }

    /// Lanczos bounds contain the spectrum: a sloppy diagonal (eigenvalues log-uniform over
    /// 10⁻⁶ … 10³, nine decades, plus an outlier) and an indefinite one, with the lower bound
    /// 0 for positive semi-definite operators and below λ_min otherwise.
    func testBoundsContainTheSpectrum() throws {
        let N = 2000
        let sloppy = (0..<N).map { pow(10, -6 + 9 * Double($0) / Double(N - 1)) } + [5e3]
        let b = try SpectralBounds.estimate(MatrixOperator(diagonal: sloppy), steps: 20, seed: 1, positiveSemidefinite: true)
        XCTAssertEqual(b.lower, 0)
        XCTAssertGreaterThanOrEqual(b.upper, 5e3)
        XCTAssertLessThan(b.upper, 5e3 * 1.1, "the margin should not waste resolution")
        let indefinite = (0..<300).map { -3 + 5 * Double($0) / 299 }
        let c = try SpectralBounds.estimate(MatrixOperator(diagonal: indefinite), steps: 20, seed: 1, positiveSemidefinite: false)
        XCTAssertLessThanOrEqual(c.lower, -3)
        XCTAssertGreaterThanOrEqual(c.upper, 2)
        XCTAssertEqual(c.operatorApplications, 20)
    }

    /// A bound that is too tight silently corrupts KPM: T_n grows like cosh(n arccosh x) outside
    /// [−1, 1]. Given bounds are checked against Ritz values (which lie inside the spectrum),
    /// and the recurrence refuses moments outside [−1, 1]; empty or non-finite bounds are refused.
    func testTooTightBoundsAreCaught() throws {
        let values = (0..<200).map { Double($0) / 199 } + [2.0]
        let op = MatrixOperator(diagonal: values)
        XCTAssertThrowsError(try SpectralBounds.estimate(op, seed: 1, positiveSemidefinite: true, given: (0, 1.5))) { e in
            XCTAssertTrue("\(e)".contains("\(Setting.kpmUpperBound) 1.5 is too tight"), "\(e)")
        }
        XCTAssertThrowsError(try SpectralBounds.estimate(op, seed: 1, positiveSemidefinite: true, given: (3, 1))) { e in
            XCTAssertTrue("\(e)".contains("must be below"), "\(e)")
        }
        XCTAssertThrowsError(try SpectralBounds.estimate(op, seed: 1, positiveSemidefinite: true, given: (nil, .infinity)))
        // Skipping the Ritz check, the moments themselves reveal the violation.
        XCTAssertThrowsError(try KernelPolynomialMethod.run(op, bounds: SpectralBounds(lower: 0, upper: 1), settings: KPMSettings(probes: 1, moments: 64))) { e in
            XCTAssertTrue("\(e)".contains("outside [−1, 1]"), "\(e)")
        }
        XCTAssertThrowsError(try KernelPolynomialMethod.run(op, bounds: SpectralBounds(lower: 0, upper: 3), settings: KPMSettings(probes: 1, moments: 7))) { e in
            XCTAssertTrue("\(e)".contains("\(Setting.kpmMoments) must be at least 8"), "\(e)")
        }
        XCTAssertThrowsError(try KernelPolynomialMethod.run(op, bounds: SpectralBounds(lower: 0, upper: 3), settings: KPMSettings(probes: 0, moments: 16)))
    }

    /// The reconstruction of a known spectrum against the analytic damped density. For a δ-peak
    /// at λ₀ the moments are T_n(x₀), and the damped density is
    /// [g_0 + 2 Σ g_n T_n(x₀) T_n(x)]/(π h √(1 − x²)), evaluated here by direct summation at the
    /// Chebyshev points (DCT path vs direct sum: 1e-10 relative to the peak). Gauss–Chebyshev
    /// quadrature on the K points is exact for these series, so the mass (1), mean
    /// (c + h g_1 x₀) and standard deviation (``resolution``) come out to rounding (1e-10).
    /// The interval masses from the closed-form integral agree with the quadrature (1e-10).
    func testReconstructionOfAKnownSpectrum() {
        let bounds = SpectralBounds(lower: 0, upper: 10)
        let (c, h) = (bounds.center, bounds.halfWidth)
        for kernel in DampingKernel.allCases {
            let M = 128, K = 512
            let lambda0 = 3.0
            let x0 = (lambda0 - c) / h
            let e = ChebyshevDensity(moments: (0..<M).map { chebyshev($0, x0) }, kernel: kernel, bounds: bounds)
            let (grid, rho) = e.onChebyshevGrid(points: K)
            let g = e.damping
            let peak = rho.max()!
            var mass = 0.0, mean = 0.0, second = 0.0, below4 = 0.0
            for (i, l) in grid.enumerated() {
                let x = (l - c) / h
                var direct = g[0]
                for n in 1..<M { direct += 2 * g[n] * chebyshev(n, x0) * chebyshev(n, x) }
                direct /= Double.pi * h * (1 - x * x).squareRoot()
                XCTAssertEqual(rho[i], direct, accuracy: 1e-10 * peak)
                // ∫ f(λ) ρ(λ) dλ = (π h/K) Σ_k f(λ_k) ρ(λ_k) √(1 − x_k²).
                let w = Double.pi * h / Double(K) * (1 - x * x).squareRoot() * rho[i]
                mass += w; mean += w * l; second += w * l * l
                if l < 4 { below4 += w }
            }
            XCTAssertEqual(mass, 1, accuracy: 1e-10)
            XCTAssertEqual(mean, c + h * g[1] * x0, accuracy: 1e-10 * h)
            XCTAssertEqual((second - mean * mean).squareRoot(), e.resolution(at: lambda0), accuracy: 1e-8 * h)
            XCTAssertEqual(e.cumulative(10), 1, accuracy: 1e-12)
            XCTAssertEqual(e.cumulative(0), 0)
            XCTAssertGreaterThan(e.cumulative(4), 0.9, "most of the peak lies below 4 (\(kernel))")
            // Quadrature of a step is not exact: compare the closed form against it at the
            // kernel's own scale only (a point between two nodes of width π h/K).
            XCTAssertEqual(e.cumulative(4), below4, accuracy: 0.02)
        }
        // A flat spectrum: N equally spaced eigenvalues on [0, 10] (exact moments, diagonal)
        // reconstructs to 1/10 away from the edges. Jackson smoothing of a flat density in x
        // changes it by O((π/M)²) relative, the discreteness (N = 4000 ≫ M) by less: 1e-2.
        let N = 4000
        let flat = (0..<N).map { 10 * (Double($0) + 0.5) / Double(N) }
        let mu = (0..<256).map { n in flat.reduce(0) { $0 + chebyshev(n, ($1 - 5) / 5) } / Double(N) }
        let e = ChebyshevDensity(moments: mu, kernel: .jackson, bounds: bounds)
        let (grid, rho) = e.onChebyshevGrid(points: 1024)
        for (l, r) in zip(grid, rho) where l > 1 && l < 9 { XCTAssertEqual(r, 0.1, accuracy: 1e-3, "λ = \(l)") }
        XCTAssertEqual(e.mass(from: 2, to: 7), 0.5, accuracy: 1e-3)
    }

    /// Deflating the two outliers of [bulk on [0, 1]] ∪ {50, 80}: the pairs come back to 1e-8,
    /// the bounds shrink to the bulk (the safe margin β_m of a 30-step run on a flat spectrum
    /// is ≈ span/4, so the upper bound lands in [1, 1.3]), the power moments (diagonal: exact per probe, Q projects on
    /// coordinate axes up to the eigenvector error 1e-8) match the exact traces to 1e-7
    /// relative, and the expansion carries the remaining mass 1 − 2/N.
    func testDeflationOfOutliers() throws {
        let N = 400
        let values = (0..<(N - 2)).map { Double($0) / Double(N - 3) } + [50, 80]
        let op = MatrixOperator(diagonal: values)
        let m = try KPMMeasurement.run(op, settings: KPMSettings(probes: 2, moments: 64, seed: 3), deflate: 2, positiveSemidefinite: true)
        XCTAssertEqual(m.deflated.map(\.eigenvalue)[0], 80, accuracy: 1e-8 * 80)
        XCTAssertEqual(m.deflated.map(\.eigenvalue)[1], 50, accuracy: 1e-8 * 50)
        XCTAssertLessThan(m.expansion.bounds.upper, 1.3)
        XCTAssertGreaterThanOrEqual(m.expansion.bounds.upper, 1)
        for p in 1...4 {
            let exact = values.reduce(0) { $0 + pow($1, Double(p)) } / Double(N)
            XCTAssertEqual(m.powerMoment(p).mean, exact, accuracy: 1e-7 * exact, "p = \(p)")
        }
        XCTAssertEqual(m.expansion.cumulative(m.expansion.bounds.upper), 1 - 2 / Double(N), accuracy: 1e-12)
        XCTAssertThrowsError(try KPMMeasurement.run(op, settings: KPMSettings(), deflate: N, positiveSemidefinite: true))
    }

    func problem() throws -> Problem {
        var c = ProblemConfiguration()
        c.width = 30
        c.samples = 20
        c.outputs = 2
        c.activation = .tanh
        c.sigmaB2 = 0.1
        return try Problem(c)
    }

    /// KPM and SLQ on the same probes of the same Fisher matrix (sample space, K with N = TC = 40).
    ///
    /// Low moments: both are exact polynomial quadratures of each probe's spectral measure
    /// (SLQ's Gauss rule with m nodes for degree ≤ 2m − 1, KPM's Chebyshev moments for degree
    /// ≤ M − 1), so tr(Fᵖ)/P for p ≤ 4 agree to rounding amplified by the power-basis
    /// conversion (1e-9 relative), not merely within statistical error.
    ///
    /// Integrated density: with m = N steps SLQ's nodes are K's eigenvalues and its measure is
    /// the probes' exact spectral measure; KPM's damped CDF differs from it only by the kernel
    /// mass leaking across the interval's ends. At the midpoints of K's five widest gaps (≥ 20
    /// kernel widths σ from any eigenvalue at M = 1024) that leak is tiny: the Jackson kernel
    /// falls off far faster than a Lorentzian (measured ≤ 7e-8); 1e-5 leaves a wide margin and
    /// still fails for any error of normalization, mapping or sign (those are O(1e-2) or more).
    func testKPMAndSLQAgreeOnTheSameProbes() throws {
        let p = try problem()
        let probes = 20
        let (slq, _) = try DensityJob.run(p, matrix: .ntk, settings: SLQSettings(probes: probes, steps: 40, seed: 4), grid: DensitySettings())
        let (kpm, _) = try KPMDensityJob.run(p, matrix: .ntk, settings: KPMSettings(probes: probes, moments: 1024, seed: 4), grid: DensitySettings())
        for (a, b) in zip(slq.moments, kpm.moments) {
            XCTAssertEqual(b.estimate, a.estimate, accuracy: 1e-9 * abs(a.estimate), "order \(a.order)")
            XCTAssertEqual(b.standardError, a.standardError, accuracy: 1e-6 * a.standardError)
        }
        XCTAssertEqual(kpm.density.zeroMass, slq.density.zeroMass, accuracy: 1e-6)

        let op = try p.makeOperator(.ntk)
        let N = op.dimension
        var dense = [Double](repeating: 0, count: N * N)
        for j in 0..<N {
            var e = [Double](repeating: 0, count: N)
            e[j] = 1
            let column = op.apply(e)
            for i in 0..<N { dense[i * N + j] = column[i] }
        }
        let exact = try LAPACK.symmetricEigen(dense, n: N).values.sorted()
        let s = try StochasticLanczosQuadrature.run(op, settings: SLQSettings(probes: probes, steps: N, seed: 4))
        let (nodes, weights) = SpectralDensity.pooled(s.rules)
        let m = try KPMMeasurement.run(op, settings: KPMSettings(probes: probes, moments: 1024, seed: 4), positiveSemidefinite: true)
        let gap: [Double] = (1..<N).map { exact[$0] - exact[$0 - 1] }
        let gaps = (1..<N).sorted { (i: Int, j: Int) -> Bool in gap[i - 1] > gap[j - 1] }.prefix(5)
        for i in gaps {
            let t = (exact[i] + exact[i - 1]) / 2
            XCTAssertGreaterThan(exact[i] - exact[i - 1], 40 * m.expansion.resolution(at: t))
            let slqMass = zip(nodes, weights).reduce(0) { $0 + ($1.0 <= t ? $1.1 : 0) }
            XCTAssertEqual(m.expansion.cumulative(t), slqMass, accuracy: 1e-5, "CDF at λ = \(t)")
        }
    }

    /// A killed run resumes: 3 probes saved, then 5 requested reuse them and reproduce a fresh
    /// 5-probe run bit for bit; a checkpoint from other settings is refused.
    func testCheckpointResume() throws {
        let p = try problem()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-kpm-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func open(_ moments: Int) throws -> CheckpointDirectory {
            try CheckpointDirectory(path: directory, fingerprint: try RunFingerprint(command: "density", configuration: p.configuration,
                                                                           settings: ["method": "kpm", "moments": "\(moments)"]),
                                    communicator: p.communicator, replicatedVectors: true)
        }
        let settings = KPMSettings(probes: 5, moments: 64, seed: 2)
        var three = settings
        three.probes = 3
        _ = try KPMDensityJob.run(p, matrix: .ntk, settings: three, grid: DensitySettings(), checkpoint: try open(64))
        let (resumed, _) = try KPMDensityJob.run(p, matrix: .ntk, settings: settings, grid: DensitySettings(), checkpoint: try open(64))
        let (fresh, _) = try KPMDensityJob.run(p, matrix: .ntk, settings: settings, grid: DensitySettings())
        XCTAssertEqual(resumed.resumedProbes, 3)
        XCTAssertEqual(resumed.momentApplications, 2 * 32)
        XCTAssertEqual(resumed.chebyshevMoments, fresh.chebyshevMoments)
        XCTAssertEqual(resumed.density.density, fresh.density.density)
        XCTAssertThrowsError(try open(128))
    }
}

extension CLITests {
    /// `wisp density --method kpm`: the record holds the method, moments and their errors,
    /// bounds and damping; bad flags end with one clear error line.
    func testKPMDensityCLI() throws {
        let out = path("k.json")
        let r = try wisp(["density", "--method", "kpm", "--probes", "3", "--moments", "40", "--kernel", "lorentz", "--deflate", "1"] + small + ["--output", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        let j = try json(out)
        let result = j
        XCTAssertTrue((result["method"] as! String).contains("kernel polynomial"))
        XCTAssertEqual((result["chebyshev_moments"] as! [Double]).count, 40)
        XCTAssertEqual((result["chebyshev_moment_errors"] as! [Double]).count, 40)
        XCTAssertEqual(result["kernel"] as? String, "lorentz")
        XCTAssertEqual((result["damping"] as! [Double]).count, 40)
        XCTAssertEqual((result["deflated"] as! [Any]).count, 1)
        XCTAssertGreaterThan((result["bounds"] as! [String: Any])["upper"] as! Double, 0)
        XCTAssertEqual((result["density"] as! [Double]).count, 400)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("k.svg")))
        try assertFails(["density", "--method", "kpm", "--moments", "4"] + small, mentioning: ["--moments"])
        try assertFails(["density", "--method", "kpm", "--upper-bound", "1e-6"] + small, mentioning: ["--upper-bound", "too tight"])
        try assertFails(["density", "--method", "kpm", "--lower-bound", "2", "--upper-bound", "1"] + small, mentioning: ["--lower-bound"])
        try assertFails(["density", "--method", "kpm", "--deflate", "-1"] + small, mentioning: ["--deflate"])
        try assertFails(["density", "--moments", "64"] + small, mentioning: ["--moments", "--method kpm"])
        try assertFails(["density", "--method", "kpm", "--broadening", "0.1"] + small, mentioning: ["--broadening"])
    }
}
