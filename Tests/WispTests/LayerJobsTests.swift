import Foundation
import XCTest
@testable import Wisp
import WispTestSupport

/// The MLP path's jobs on a network given as layers (``CurvatureProblem``): KPM and SLQ against
/// the exact spectrum of the same CNN (``LayerArchitectureTests/cnn``: conv, max pool, a residual
/// block with a strided conv projection, average pool, linear), checkpoints that resume to the
/// uninterrupted run's bits, and the command line's records.
final class LayerJobsTests: XCTestCase {
    static let T = 10

    func problem() throws -> LayerProblem {
        try LayerProblem(architecture: try LayerArchitecture.parse(Data(LayerArchitectureTests.cnn.utf8), name: "cnn.json"),
                         totalSamples: Self.T, seed: 3)
    }

    /// KPM's and SLQ's moments tr(Fᵏ)/P against the exact ones from every eigenvalue of K
    /// (LAPACK on the formed matrix). The estimates are random: each must lie within 4 of its own
    /// standard errors (plus 1e-10 relative for the exactly known first moment of SLQ, whose probes
    /// in sample space have variance from the off-diagonal of K only).
    func testKPMAndSLQOnLayersAgreeWithTheExactSpectrum() throws {
        let p = try problem()
        let solver = ReplicatedLAPACKEigensolver(communicator: p.communicator)
        let (exact, _) = try DensityJob.runExact(p, matrix: .ntk, grid: DensitySettings(), solver: solver)
        let (kpm, _) = try KPMDensityJob.run(p, matrix: .ntk, settings: KPMSettings(probes: 30, moments: 64, seed: 1),
                                             options: KPMJobOptions(deflate: 1), grid: DensitySettings())
        let (slq, _) = try DensityJob.run(p, matrix: .ntk, settings: SLQSettings(probes: 30, steps: 12, seed: 1), grid: DensitySettings())
        XCTAssertEqual(kpm.deflated.count, 1)
        // The deflated pair is λ_max, to Lanczos' residual.
        XCTAssertEqual(kpm.deflated[0].eigenvalue, exact.largestNode, accuracy: 1e-8 * exact.largestNode)
        for (name, moments) in [("KPM", kpm.moments), ("SLQ", slq.moments)] {
            for k in 0..<4 {
                let e = exact.moments[k].estimate, m = moments[k]
                XCTAssertLessThanOrEqual(abs(m.estimate - e), 4 * m.standardError + 1e-10 * abs(e), "\(name) tr(F^\(k + 1))/P")
            }
        }
        // The exact tr F / P from the per-sample gradient norms (``LayerProblem/exactFisherTrace(withinProducts:)``)
        // stands beside the estimates, equal to the first moment of the exact spectrum (1e-12 relative).
        for (name, moments) in [("KPM", kpm.moments), ("SLQ", slq.moments)] {
            let e = exact.moments[0].estimate
            XCTAssertEqual(try XCTUnwrap(moments[0].exact, name), e, accuracy: 1e-12 * e, name)
        }
        XCTAssertEqual(slq.densityOf, "F")
    }

    /// SLQ and Lanczos with `--checkpoint` on a layer network: two probes, then four from the same
    /// directory, equal a fresh four-probe run bit for bit; a Lanczos run stopped by its budget
    /// resumes to the uninterrupted eigenpairs' bits. A checkpoint of another architecture is refused
    /// naming the differing setting.
    func testCheckpointsResumeOnLayersFromTheCommandLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-layer-jobs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(LayerArchitectureTests.cnn.utf8).write(to: dir.appendingPathComponent("cnn.json"))
        let common = ["density", "--architecture", "cnn.json", "--samples", "\(Self.T)", "--seed", "3", "--method", "slq", "--steps", "8", "--quiet"]
        func density(_ extra: [String], _ out: String) throws -> [String: Any] {
            let run = try WispExecutable.run(common + extra + ["--output", out], in: dir)
            XCTAssertEqual(run.status, 0, run.stderr)
            return try ExactJSON.object(file: dir.appendingPathComponent(out).path)
        }
        _ = try density(["--probes", "2", "--checkpoint", "ck"], "two.json")
        let resumed = try density(["--probes", "4", "--checkpoint", "ck"], "resumed.json")
        let fresh = try density(["--probes", "4"], "fresh.json")
        XCTAssertEqual(resumed["resumed_probes"] as? Int, 2)
        XCTAssertEqual(fresh["resumed_probes"] as? Int, 0)
        XCTAssertEqual(resumed["density"] as? [Double], fresh["density"] as? [Double])
        XCTAssertEqual(try XCTUnwrap(resumed["moments"] as? [[String: Any]]).map { $0["estimate"] as? Double },
                       try XCTUnwrap(fresh["moments"] as? [[String: Any]]).map { $0["estimate"] as? Double })

        let top = ["top", "--architecture", "cnn.json", "--samples", "\(Self.T)", "--seed", "3", "--method", "lanczos", "--k", "2",
                   "--basis", "6", "--tol", "1e-10", "--quiet"]
        let stopped = try WispExecutable.run(top + ["--max-applications", "8", "--checkpoint", "topck", "--output", "stopped.json"], in: dir)
        XCTAssertNotEqual(stopped.status, 0, "a budget of 8 products cannot converge: \(stopped.stderr)")
        let finished = try WispExecutable.run(top + ["--checkpoint", "topck", "--output", "finished.json"], in: dir)
        XCTAssertEqual(finished.status, 0, finished.stderr)
        let whole = try WispExecutable.run(top + ["--output", "whole.json"], in: dir)
        XCTAssertEqual(whole.status, 0, whole.stderr)
        let a = try ExactJSON.object(file: dir.appendingPathComponent("finished.json").path)
        let b = try ExactJSON.object(file: dir.appendingPathComponent("whole.json").path)
        XCTAssertEqual(a["eigenvalues"] as? [Double], b["eigenvalues"] as? [Double])
        XCTAssertEqual(a["residuals"] as? [Double], b["residuals"] as? [Double])

        // Another network in the same directory: refused, naming what differs.
        let other = LayerArchitectureTests.cnn.replacingOccurrences(of: "\"out_channels\": 3", with: "\"out_channels\": 2")
            .replacingOccurrences(of: "\"in_channels\": 3", with: "\"in_channels\": 2")
        try Data(other.utf8).write(to: dir.appendingPathComponent("other.json"))
        let foreign = try WispExecutable.run(["density", "--architecture", "other.json", "--samples", "\(Self.T)", "--seed", "3", "--method", "slq",
                                              "--steps", "8", "--probes", "2", "--checkpoint", "ck", "--output", "x.json", "--quiet"], in: dir)
        XCTAssertNotEqual(foreign.status, 0)
        XCTAssertTrue(foreign.stderr.contains("architecture"), foreign.stderr)
        XCTAssertEqual(foreign.stderr.split(separator: "\n").count, 1, foreign.stderr)
    }

    /// `density --method kpm --compare-exact` on a layer network: the record has KPM's fields,
    /// the comparison with the exact spectrum, and the moments labelled as F's.
    func testKPMWithCompareExactFromTheCommandLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-layer-kpm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(LayerArchitectureTests.cnn.utf8).write(to: dir.appendingPathComponent("cnn.json"))
        let run = try WispExecutable.run(["density", "--architecture", "cnn.json", "--samples", "\(Self.T)", "--seed", "3", "--method", "kpm",
                                          "--probes", "4", "--moments", "32", "--deflate", "1", "--compare-exact", "--output", "k.json"], in: dir)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("tr(F^1)/P") && run.stdout.contains("deflated"), run.stdout)
        let record = try ExactJSON.object(file: dir.appendingPathComponent("k.json").path)
        XCTAssertEqual(record["chebyshev_moment_count"] as? Int, 32)
        XCTAssertEqual((record["deflated"] as? [Any])?.count, 1)
        let comparison = try XCTUnwrap(record["exact_comparison"] as? [String: Any])
        XCTAssertNotNil(comparison["wasserstein_1"] as? Double)
        XCTAssertEqual((record["settings"] as? [String: Any]).flatMap { ($0["kpm"] as? [String: Any])?["moments"] as? Int }, 32)
        XCTAssertNotNil(record["architecture"])
        for file in ["k.csv", "k.svg"] { XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(file).path), file) }
    }

    /// `MomentsJob` on a layer network against the dense references: tr F and tr(F²)/P exactly
    /// from the formed K (to 1e-12 relative: sums of the same products in another order), every
    /// tr(Fᵖ)/P from its eigenvalues against LAPACK on the dense K; Hutchinson (sample space for F,
    /// parameter space for H of cross-entropy with teacher labels) within 4 of its standard errors
    /// of the traces of the dense matrices.
    func testMomentsOnLayersAgainstDenseReferences() throws {
        let p = try problem()
        let P = Double(p.parameterCount)
        let K = DenseReference.dense(try p.makeOperator(.ntk))
        let n = p.sampleSpaceDimension
        let lambdas = try LAPACK.symmetricEigen(K, n: n).values
        let (exact, _) = try MomentsJob.run(sampleSpaceOf: p, exactLimit: 1000, probes: 10, seed: 1)
        XCTAssertEqual(exact.trace, lambdas.reduce(0, +), accuracy: 1e-12 * exact.trace)
        XCTAssertEqual(exact.secondMoment, lambdas.reduce(0) { $0 + $1 * $1 } / P, accuracy: 1e-12 * exact.secondMoment)
        let powers = try XCTUnwrap(exact.powerMoments)
        for k in 1...4 {
            let reference = lambdas.reduce(0) { $0 + Foundation.pow(max($1, 0), Double(k)) } / P
            XCTAssertEqual(powers[k - 1], reference, accuracy: 1e-10 * reference, "tr(F^\(k))/P")
        }
        XCTAssertEqual(exact.largestEigenvalue!, lambdas.max()!, accuracy: 1e-12 * lambdas.max()!)
        XCTAssertNil(exact.probes)

        let (estimate, timings) = try MomentsJob.run(sampleSpaceOf: p, exactLimit: 0, probes: 40, seed: 1)
        XCTAssertEqual(timings.operatorApplications, 40)
        // Above the limit tr F still comes exactly from the per-sample gradient norms.
        XCTAssertEqual(estimate.traceMethod, MomentsResult.gradientNormTrace)
        XCTAssertEqual(estimate.traceStandardError, 0)
        XCTAssertEqual(estimate.trace, exact.trace, accuracy: 1e-12 * exact.trace)
        XCTAssertLessThanOrEqual(abs(estimate.secondMoment - exact.secondMoment), 4 * estimate.secondMomentStandardError)

        let withLoss = try LayerProblem(architecture: p.architecture, inputs: LayerInputs(
            dataset: try Dataset.gaussian(totalSamples: Self.T, dimension: p.architecture.input.count, seed: 3, samples: 0..<Self.T), source: .gaussian),
                                        weights: .initial, seed: 3, loss: .crossEntropy)
        let H = DenseReference.dense(try withLoss.makeOperator(.hessian))
        let m = p.parameterCount
        let traceH = (0..<m).reduce(0.0) { $0 + H[$1 * m + $1] }
        let (hessian, _) = try MomentsJob.run(sampleSpaceOf: withLoss, matrix: .hessian, exactLimit: 1000, probes: 40, seed: 2)
        XCTAssertEqual(hessian.matrix, .hessian)
        XCTAssertLessThanOrEqual(abs(hessian.trace - traceH), 4 * hessian.traceStandardError)
        XCTAssertTrue(hessian.traceMethod.contains("parameter space"), hessian.traceMethod)
    }
}
