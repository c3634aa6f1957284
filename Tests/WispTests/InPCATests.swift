import Foundation
import WispTestSupport
import XCTest
@testable import Wisp

/// InPCA (``IntensivePCA``; Quinn et al. 2019) against cases written by hand, its invariances,
/// and `wisp reduce --inpca` (Cowlagi & Chaudhari Fig. 3).
final class InPCATests: XCTestCase {
    let eps = Double.ulpOfOne

    /// Two categorical distributions: D = [[0, d], [d, 0]] with d = −log(√(½·0.9) + √(½·0.1)),
    /// W = −½ Π D Π = (d/4)[[1, −1], [−1, 1]], eigenvalues d/2 and 0, u = (1, −1)/√2, so the
    /// coordinates are ±√d/2 (their distance √d). Tolerance 8ε: a few roundings of O(1) numbers.
    func testTwoDistributionsByHand() throws {
        let p = [0.5, 0.5, 0.9, 0.1]
        let d = -Foundation.log((0.45).squareRoot() + (0.05).squareRoot())
        let D = try IntensivePCA.distances(p, points: 2, factors: 1, outcomes: 2, family: .categorical)
        XCTAssertEqual(D[0], 0)
        XCTAssertEqual(D[1], d, accuracy: 8 * eps * d)
        XCTAssertEqual(D[2], D[1])
        let e = try IntensivePCA.embed(p, points: 2, factors: 1, outcomes: 2, family: .categorical, components: 2)
        XCTAssertEqual(e.eigenvalues[0], d / 2, accuracy: 8 * eps * d)
        XCTAssertEqual(e.eigenvalues[1], 0, accuracy: 8 * eps * d)
        XCTAssertEqual(e.explainedFractions[0], 1, accuracy: 16 * eps)
        XCTAssertEqual(e.coordinates[0 * 2 + 0], d.squareRoot() / 2, accuracy: 8 * eps)
        XCTAssertEqual(e.coordinates[1 * 2 + 0], -d.squareRoot() / 2, accuracy: 8 * eps)
        XCTAssertLessThan(e.residuals[0], 8 * eps * e.scale)
    }

    /// Three points D = [[0, b, b], [b, 0, a], [b, a, 0]]: by the 2 ↔ 3 symmetry W's eigenvectors
    /// are 1 (λ = 0), (0, 1, −1)/√2 with λ = a/2, and (2, −1, −1)/√6 with λ = (4b − a)/6 (from
    /// tr W = Σ_ij D_ij / 2n). With p₁ = (½, ½), p₂ = (0.9, 0.1), p₃ = (0.1, 0.9): b = −log(√0.45 + √0.05),
    /// a = −log 0.6, and 4b < a: the Bhattacharyya distance is no Euclidean distance, the third
    /// direction is time-like (λ < 0) and InPCA keeps the sign.
    func testThreeDistributionsSignedEigenvalue() throws {
        let p = [0.5, 0.5, 0.9, 0.1, 0.1, 0.9]
        let b = -Foundation.log((0.45).squareRoot() + (0.05).squareRoot()), a = -Foundation.log(0.6)
        let D = try IntensivePCA.distances(p, points: 3, factors: 1, outcomes: 2, family: .categorical)
        for (x, y) in zip(D, [0, b, b, b, 0, a, b, a, 0]) { XCTAssertEqual(x, y, accuracy: 8 * eps * a) }
        let e = try IntensivePCA.embed(p, points: 3, factors: 1, outcomes: 2, family: .categorical, components: 3)
        let (la, lb) = (a / 2, (4 * b - a) / 6)
        XCTAssertLessThan(lb, 0)
        XCTAssertEqual(e.eigenvalues[0], la, accuracy: 16 * eps * a)
        XCTAssertEqual(e.eigenvalues[1], lb, accuracy: 16 * eps * a)
        XCTAssertEqual(e.eigenvalues[2], 0, accuracy: 16 * eps * a)
        XCTAssertEqual(e.explainedFractions[1], -lb / (la - lb), accuracy: 1e-13)
        // Coordinates: √|λ| u, u signed by its largest entry.
        let ua = [0, 1 / 2.0.squareRoot(), -1 / 2.0.squareRoot()], ub = [2 / 6.0.squareRoot(), -1 / 6.0.squareRoot(), -1 / 6.0.squareRoot()]
        for i in 0..<3 {
            XCTAssertEqual(e.coordinates[i * 3 + 0], la.squareRoot() * ua[i], accuracy: 1e-13)
            XCTAssertEqual(e.coordinates[i * 3 + 1], (-lb).squareRoot() * ub[i], accuracy: 1e-13)
        }
        // Minkowski: every squared distance back from the signed coordinates.
        for i in 0..<3 {
            for j in 0..<3 {
                let r = (0..<3).reduce(0.0) { s, k in
                    let x = e.coordinates[i * 3 + k] - e.coordinates[j * 3 + k]
                    return s + (e.eigenvalues[k] < 0 ? -1 : 1) * x * x
                }
                XCTAssertEqual(r, D[i * 3 + j], accuracy: 1e-13)
            }
        }
    }

    /// A matrix that is not a squared-distance matrix of any Euclidean points: a = 4.5 > (1 + 1)²
    /// breaks the triangle inequality; λ = a/2 and (4 − a)/6 by the formula above.
    func testNonEuclideanDistancesByHand() throws {
        let a = 4.5
        let e = try IntensivePCA.embed(distances: [0, 1, 1, 1, 0, a, 1, a, 0], points: 3, components: 2)
        XCTAssertEqual(e.eigenvalues[0], 2.25, accuracy: 8 * eps * a)
        XCTAssertEqual(e.eigenvalues[1], -1.0 / 12, accuracy: 8 * eps * a)
        XCTAssertEqual(e.explainedFractions[0], 2.25 / (2.25 + 1.0 / 12), accuracy: 1e-14)
    }

    /// The families' per-factor distances: a Bernoulli p is the categorical (p, 1 − p); two
    /// independent Bernoulli outputs add; unit Gaussians give ‖f − g‖²/8; m factors are averaged.
    func testFamiliesAndFactorsByHand() throws {
        let bern = try IntensivePCA.distances([0.5, 0.9], points: 2, factors: 1, outcomes: 1, family: .bernoulli)
        let cat = try IntensivePCA.distances([0.5, 0.5, 0.9, 0.1], points: 2, factors: 1, outcomes: 2, family: .categorical)
        XCTAssertEqual(bern[1], cat[1], accuracy: 8 * eps)
        let two = try IntensivePCA.distances([0.5, 0.2, 0.9, 0.7], points: 2, factors: 1, outcomes: 2, family: .bernoulli)
        let second = -Foundation.log((0.2 * 0.7).squareRoot() + (0.8 * 0.3).squareRoot())
        XCTAssertEqual(two[1], cat[1] + second, accuracy: 8 * eps)
        let gauss = try IntensivePCA.distances([0, 0, 1, 2], points: 2, factors: 1, outcomes: 2, family: .gaussian)
        XCTAssertEqual(gauss[1], 5.0 / 8)
        // Two factors (samples): the mean of their distances.
        let m2 = try IntensivePCA.distances([0.5, 0.5, 0.2, 0.8, 0.9, 0.1, 0.7, 0.3], points: 2, factors: 2, outcomes: 2, family: .categorical)
        XCTAssertEqual(m2[1], (cat[1] + second) / 2, accuracy: 8 * eps)
    }

    /// Unit-variance Gaussians: D_ij = ‖f_i − f_j‖²/8 is Euclidean, W = (1/8) Y_c Y_cᵀ (Y_c the
    /// centred means), so InPCA is PCA: the two nonzero eigenvalues are those of the 2 × 2
    /// (1/8) Y_cᵀ Y_c (closed form), the others zero to rounding (1e-13 relative).
    func testGaussianIsScaledPCA() throws {
        var rng = SplitMix(5)
        let n = 6
        let f = (0..<(2 * n)).map { _ in 4 * rng.next() - 2 }
        let mean = [0, 1].map { c in (0..<n).reduce(0.0) { $0 + f[$1 * 2 + c] } / Double(n) }
        var m = [0.0, 0.0, 0.0]   // (1/8) Y_cᵀ Y_c: [a b; b d]
        for i in 0..<n {
            let (x, y) = (f[i * 2] - mean[0], f[i * 2 + 1] - mean[1])
            m[0] += x * x / 8; m[1] += x * y / 8; m[2] += y * y / 8
        }
        let half = (m[0] + m[2]) / 2, root = (half * half - (m[0] * m[2] - m[1] * m[1])).squareRoot()
        let e = try IntensivePCA.embed(f, points: n, factors: 1, outcomes: 2, family: .gaussian, components: 2)
        XCTAssertEqual(e.eigenvalues[0], half + root, accuracy: 1e-13 * (half + root))
        XCTAssertEqual(e.eigenvalues[1], half - root, accuracy: 1e-13 * (half + root))
        for v in e.eigenvalues.dropFirst(2) { XCTAssertEqual(v, 0, accuracy: 1e-13 * (half + root)) }
        for i in 0..<n {
            for j in 0..<n {
                let dx = e.coordinates[i * 2] - e.coordinates[j * 2], dy = e.coordinates[i * 2 + 1] - e.coordinates[j * 2 + 1]
                let fx = f[i * 2] - f[j * 2], fy = f[i * 2 + 1] - f[j * 2 + 1]
                XCTAssertEqual(dx * dx + dy * dy, (fx * fx + fy * fy) / 8, accuracy: 1e-13 * (half + root) * Double(n))
            }
        }
    }

    /// Seeded random categorical distributions (n = 7, C = 4, strictly positive).
    static func randomDistributions(n: Int, C: Int, seed: UInt64) -> [Double] {
        var rng = SplitMix(seed)
        var p = [Double]()
        for _ in 0..<n {
            let row = (0..<C).map { _ in 0.05 + rng.next() }
            let s = row.reduce(0, +)
            p += row.map { $0 / s }
        }
        return p
    }

    /// Permuting the points permutes the rows of the coordinates (each column up to sign; the
    /// random case has distinct |λ|) and leaves the eigenvalues; a repeated point sits on its twin.
    func testPermutationAndIdenticalPoints() throws {
        let n = 7, C = 4
        let p = Self.randomDistributions(n: n, C: C, seed: 11)
        let e = try IntensivePCA.embed(p, points: n, factors: 1, outcomes: C, family: .categorical, components: 3)
        let perm = [3, 0, 6, 1, 5, 2, 4]
        let q = perm.flatMap { Array(p[($0 * C)..<(($0 + 1) * C)]) }
        let f = try IntensivePCA.embed(q, points: n, factors: 1, outcomes: C, family: .categorical, components: 3)
        let scale = abs(e.eigenvalues[0])
        for (x, y) in zip(e.eigenvalues, f.eigenvalues) { XCTAssertEqual(x, y, accuracy: 1e-13 * scale) }
        for k in 0..<3 {
            XCTAssertGreaterThan(abs(e.eigenvalues[k]) - abs(e.eigenvalues[k + 1]), 1e-6 * scale, "distinct |λ| needed for a sign-only ambiguity")
            let sign = (0..<n).reduce(0.0) { $0 + e.coordinates[perm[$1] * 3 + k] * f.coordinates[$1 * 3 + k] } < 0 ? -1.0 : 1.0
            for i in 0..<n { XCTAssertEqual(f.coordinates[i * 3 + k], sign * e.coordinates[perm[i] * 3 + k], accuracy: 1e-10) }
        }
        // Point 7 a copy of point 2: identical distances, identical coordinates (to rounding).
        let twin = p + Array(p[(2 * C)..<(3 * C)])
        let g = try IntensivePCA.embed(twin, points: n + 1, factors: 1, outcomes: C, family: .categorical, components: 3)
        let D = try IntensivePCA.distances(twin, points: n + 1, factors: 1, outcomes: C, family: .categorical)
        XCTAssertEqual(D[2 * (n + 1) + n], 0)
        for k in 0..<3 { XCTAssertEqual(g.coordinates[n * 3 + k], g.coordinates[2 * 3 + k], accuracy: 1e-12) }
    }

    /// Probabilities outside [0, 1], NaN, and disjoint supports are errors naming what is wrong.
    func testBadInput() {
        XCTAssertThrowsError(try IntensivePCA.distances([0.5, 1.5, 0.5, 0.5], points: 2, factors: 1, outcomes: 2, family: .categorical)) {
            XCTAssertTrue("\($0)".contains("point 0, factor 0, outcome 1"), "\($0)")
        }
        XCTAssertThrowsError(try IntensivePCA.distances([0, .nan], points: 2, factors: 1, outcomes: 1, family: .gaussian))
        XCTAssertThrowsError(try IntensivePCA.distances([1, 0, 0, 1], points: 2, factors: 1, outcomes: 2, family: .categorical)) {
            XCTAssertTrue("\($0)".contains("disjoint"), "\($0)")
        }
    }

    /// In `ModelReduction.run`: the full model and each reduced one embedded; the reduction at
    /// k = P predicts what the full model does, so its distance from the full model is at
    /// rounding level and its points sit on the full model's; the samples' labels are the classes.
    func testReductionEmbedding() throws {
        let problem = try ReductionTests.problem()
        let P = problem.parameterCount, T = problem.totalSamples
        let w0 = Network<Double>(architecture: problem.architecture, seed: 99).parameters
        let settings = ReductionSettings(keep: .percent(100), sweep: [.count(5)], inpca: InPCASettings())
        let (result, _, _) = try ModelReduction.run(problem, initial: w0, settings: settings)
        let e = try XCTUnwrap(result.inpca)
        XCTAssertEqual(e.models.map(\.name), ["full", "weights k=5", "change k=5", "weights k=\(P)", "change k=\(P)"])
        XCTAssertEqual(e.samples, T)
        XCTAssertEqual(e.points, 5 * T)
        XCTAssertEqual(e.family, .categorical)
        XCTAssertEqual(e.modelLevel.distanceFromFull[0], 0)
        XCTAssertLessThan(e.modelLevel.distanceFromFull[3], 1e-20 + 1e-10)
        XCTAssertLessThan(e.modelLevel.distanceFromFull[4], 1e-10)
        XCTAssertGreaterThan(e.modelLevel.distanceFromFull[1], 1e-6)
        for t in 0..<T {
            for k in 0..<e.components {
                XCTAssertEqual(e.coordinates[(3 * T + t) * e.components + k], e.coordinates[t * e.components + k], accuracy: 1e-10)
            }
        }
        let targets = try problem.targets()
        for t in 0..<T {
            let row = Array(targets.values[(t * 3)..<(t * 3 + 3)])
            XCTAssertEqual(e.labels[t], row.firstIndex(of: row.max()!))
        }
        // Each model's own embedding: the full model's is the InPCA of its predictions alone, and
        // the k = P reduction's coincides with it.
        XCTAssertEqual(e.own.count, 5)
        let C = 3
        for t in 0..<T {
            for k in 0..<e.components {
                XCTAssertEqual(e.ownCoordinates[(3 * T + t) * e.components + k], e.ownCoordinates[t * e.components + k], accuracy: 1e-10)
            }
        }
        let fullPredictions = try ReductionEmbedding.localPredictions(try ReductionTests.problem(), samples: T)
        let alone = try IntensivePCA.embed(fullPredictions, points: T, factors: 1, outcomes: C, family: .categorical, components: e.components)
        for (x, y) in zip(alone.eigenvalues.prefix(20), e.own[0].eigenvalues) { XCTAssertEqual(x, y, accuracy: 1e-13 * abs(alone.eigenvalues[0])) }
        for (x, y) in zip(alone.coordinates, e.ownCoordinates.prefix(T * e.components)) { XCTAssertEqual(x, y, accuracy: 1e-12) }
        let top = e.residuals.max()!
        XCTAssertLessThan(top, 1e-12 * max(e.residualScale, 1e-300) * Double(e.points))
    }

    /// The samples sharded over 1–3 thread ranks give the same embedding (the gathered bits can
    /// differ in the last place where the forward pass's GEMM blocks differ: 1e-10).
    func testRanksAgree() throws {
        let settings = ReductionSettings(keep: .count(10), inpca: InPCASettings(samples: 7))
        func run(_ size: Int) throws -> ReductionEmbedding {
            try ThreadGroup.run(size: size) { comm -> ReductionEmbedding in
                var c = ProblemConfiguration()
                c.width = 6; c.inputDimension = 4; c.samples = 10; c.outputs = 3; c.activation = .tanh; c.sigmaB2 = 0.1
                c.loss = .crossEntropy; c.seed = 3
                let problem = try Problem(c, communicator: comm)
                return try ModelReduction.run(problem, initial: nil, settings: settings).result.inpca!
            }[0]
        }
        let one = try run(1)
        XCTAssertEqual(one.samples, 7)
        for size in [2, 3] {
            let other = try run(size)
            XCTAssertEqual(other.labels, one.labels)
            for (x, y) in zip(one.eigenvalues, other.eigenvalues) { XCTAssertEqual(x, y, accuracy: 1e-10 * abs(one.eigenvalues[0])) }
            for (x, y) in zip(one.coordinates, other.coordinates) { XCTAssertEqual(x, y, accuracy: 1e-8) }
        }
    }

    /// mse in `ModelReduction.run`: Gaussian predictions (a Euclidean embedding), no labels.
    func testRegressionPredictions() throws {
        let problem = try ReductionTests.problem(.mse)
        let (result, _, _) = try ModelReduction.run(problem, initial: nil, settings: ReductionSettings(keep: .count(4), inpca: InPCASettings()))
        let e = try XCTUnwrap(result.inpca)
        XCTAssertEqual(e.family, .gaussian)
        XCTAssertTrue(e.labels.allSatisfy { $0 == nil })
        // Euclidean distances: no negative eigenvalue beyond rounding.
        XCTAssertLessThan(e.negativeFraction, 1e-12)
    }

    /// `wisp reduce --inpca`: the CSV (header, N·S rows, labels), the SVG, the JSON fields, and
    /// one error line for `--inpca-samples` without `--inpca` or below 1.
    func testCommandLine() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-inpca-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func file(_ name: String) -> String { directory.appendingPathComponent(name).path }
        let shape = ["--width", "8", "--input-dim", "5", "--outputs", "3"]
        let data = ["--samples", "11", "--loss", "cross-entropy", "--quiet"]
        XCTAssertEqual(try WispExecutable.run(["theory"] + shape + data + ["--save-model", file("model.safetensors")]).status, 0)
        let model = ["--model", file("model.safetensors")] + data
        let run = try WispExecutable.run(["reduce"] + model + ["--keep", "5%", "--sweep", "1,100%", "--inpca", "--inpca-samples", "9",
                                                               "--output", file("r.json")])
        XCTAssertEqual(run.status, 0, run.stderr)
        let record = try ExactJSON.object(file: file("r.json"))
        let inpca = try XCTUnwrap(record["inpca"] as? [String: Any])
        XCTAssertEqual(inpca["csv"] as? String, file("r.inpca.csv"))
        XCTAssertEqual(inpca["svg"] as? String, file("r.inpca.svg"))
        XCTAssertEqual(inpca["samples"] as? Int, 9)
        let models = try XCTUnwrap(inpca["models"] as? [[String: Any]])
        XCTAssertEqual(models.count, 4)   // full, weights k = 1, 5 % of P, 100 %
        XCTAssertNotNil(inpca["eigenvalues"] as? [Any])
        let csv = try String(contentsOfFile: file("r.inpca.csv"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.first, "model,k,fraction,variant,sample,label,inpca_1,inpca_2,inpca_3,own_1,own_2,own_3")
        XCTAssertEqual(csv.count, 1 + 4 * 9)
        XCTAssertTrue(csv[1].hasPrefix("full,,,,0,"), String(csv[1]))
        XCTAssertTrue(csv.dropFirst().allSatisfy { $0.split(separator: ",", omittingEmptySubsequences: false).count == 12 })
        let svg = try String(contentsOfFile: file("r.inpca.svg"), encoding: .utf8)
        XCTAssertTrue(svg.hasPrefix("<svg") && svg.contains("full model") && svg.contains("label 0"))
        XCTAssertEqual(svg.components(separatedBy: "<circle").count - 1 - Set(csv.dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false)[5] }).count, 2 * 4 * 9)
        // Refused before any work: a directory where the CSV goes, and an embedding that cannot fit
        // (2 models × 2·10⁵ samples: 5·(4·10⁵)² doubles, 6.4 TB).
        try FileManager.default.createDirectory(atPath: file("bad.inpca.csv"), withIntermediateDirectories: true)
        let blocked = try WispExecutable.run(["reduce"] + model + ["--inpca", "--output", file("bad.json")])
        XCTAssertNotEqual(blocked.status, 0)
        XCTAssertTrue(blocked.stderr.hasPrefix("wisp: error: ") && blocked.stderr.contains("bad.inpca.csv"), blocked.stderr)
        try FileManager.default.removeItem(atPath: file("bad.inpca.csv"))
        let huge = try WispExecutable.run(["reduce", "--model", file("model.safetensors"), "--samples", "200000", "--loss", "cross-entropy",
                                           "--quiet", "--keep", "1", "--inpca", "--output", file("bad.json")])
        XCTAssertNotEqual(huge.status, 0)
        XCTAssertEqual(huge.stderr.split(separator: "\n").count, 1, huge.stderr)
        XCTAssertTrue(huge.stderr.hasPrefix("wisp: error: ") && huge.stderr.contains("--inpca-samples"), huge.stderr)
        for (arguments, word) in [(["--inpca-samples", "3"], "--inpca"), (["--inpca", "--inpca-samples", "0"], "--inpca-samples")] {
            let r = try WispExecutable.run(["reduce"] + model + arguments + ["--output", file("bad.json")])
            XCTAssertNotEqual(r.status, 0, "\(arguments)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
            XCTAssertTrue(r.stderr.hasPrefix("wisp: error: ") && r.stderr.contains(word), r.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: file("bad.json")))
        }
    }
}

/// SplitMix64 (Steele et al. 2014), a seeded uniform [0, 1) stream for the test inputs.
private struct SplitMix {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) * 0x1p-53
    }
}
