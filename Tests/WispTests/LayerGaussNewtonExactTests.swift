import Foundation
import XCTest
@testable import Wisp
import WispTestSupport

/// The exact sample-space path for G = (1/T) Jᵀ H_ℓ J on networks given as layers: the rows of
/// B K B, B = H_ℓ^(1/2) block-diagonal over samples, share G's nonzero eigenvalues (Jacot et al.
/// §3.1), so `top|density|moments --matrix ggn --method exact` run on layers as on an MLP.
/// References: G formed densely from the matrix-free operator (``LayerFisherOperator`` with the
/// loss's H_ℓ, itself tested against J H_ℓ Jᵀ in ``LayerLossCLITests``) and LAPACK.
final class LayerGaussNewtonExactTests: XCTestCase {
    /// A conv network (factor walk) and a BatchNorm one (K by columns), each with cross-entropy
    /// (H_ℓ = diag p − p pᵀ, singular) and mse (H_ℓ = I: G = F).
    static let architectures = [
        ("conv", #"""
        {"input": [1, 5, 5], "layers": [
          {"kind": "Conv2d", "out_channels": 2, "kernel_size": 3},
          {"kind": "tanh"}, {"kind": "flatten"}, {"kind": "Linear", "out_features": 3}]}
        """#),
        ("batchnorm", #"""
        {"input": [1, 5, 5], "layers": [
          {"kind": "Conv2d", "out_channels": 2, "kernel_size": 3, "bias": false},
          {"kind": "BatchNorm2d", "num_features": 2}, {"kind": "tanh"}, {"kind": "flatten"},
          {"kind": "Linear", "out_features": 3}]}
        """#),
    ]

    static func problem(_ json: String, loss: Loss, samples T: Int = 6, seed: UInt64 = 4,
                        communicator: any Communicator = SerialCommunicator()) throws -> LayerProblem {
        let architecture = try LayerArchitecture.parse(Data(json.utf8), name: "net.json")
        let inputs = LayerInputs(dataset: try Dataset.gaussian(totalSamples: T, dimension: architecture.input.count, seed: seed,
                                                               samples: communicator.block(of: T)), source: .gaussian)
        return try LayerProblem(architecture: architecture, inputs: inputs, weights: .initial, seed: seed, communicator: communicator, loss: loss)
    }

    /// Every eigenvalue of G by the exact path against LAPACK on the dense G (1e-10·λ_max: two
    /// dense solves of matrices formed in different orders), the residuals against the
    /// matrix-free B K B, and the moments' tr G, tr(G²)/P and tr(Gᵖ)/P against the dense G's.
    func testExactGaussNewtonAgainstDenseG() throws {
        for (name, json) in Self.architectures {
            for loss in [Loss.crossEntropy, .mse] {
                let problem = try Self.problem(json, loss: loss)
                XCTAssertNil(problem.exactUnsupportedReason(.ggn), name)
                let P = problem.parameterCount, TC = problem.sampleSpaceDimension
                let G = DenseReference.dense(try problem.makeOperator(.ggn))
                let dense = try LAPACK.symmetricEigen(G, n: P).values.sorted(by: >)
                let (top, _) = try TopJob.runExact(problem, matrix: .ggn, count: 4, which: .largest, tolerance: 1e-10,
                                                   solver: ReplicatedLAPACKEigensolver())
                if loss == .crossEntropy { XCTAssertTrue(top.method.contains("B K B with B = H_ℓ^(1/2)"), top.method) }
                for i in 0..<4 {
                    XCTAssertEqual(top.eigenvalues[i], dense[i], accuracy: 1e-10 * dense[0], "\(name) \(loss) λ_\(i + 1)")
                    XCTAssertLessThan(top.residuals[i], 1e-11 * dense[0], "\(name) \(loss)")
                }
                let (m, _) = try MomentsJob.run(sampleSpaceOf: problem, matrix: .ggn, exactLimit: 8 * TC, probes: 4, seed: 1)
                XCTAssertTrue(m.traceMethod.hasPrefix("exact: tr G"), m.traceMethod)
                XCTAssertEqual(m.traceStandardError, 0)
                let trace = (0..<P).reduce(0.0) { $0 + G[$1 * P + $1] }, squares = G.reduce(0.0) { $0 + $1 * $1 }
                XCTAssertEqual(m.trace, trace, accuracy: 1e-12 * trace, "\(name) \(loss)")
                XCTAssertEqual(m.secondMoment, squares / Double(P), accuracy: 1e-12 * squares / Double(P), "\(name) \(loss)")
                let powers = try XCTUnwrap(m.powerMoments, "\(name) \(loss)")
                for p in 1...4 {
                    let reference = dense.reduce(0.0) { $0 + pow(max($1, 0), Double(p)) } / Double(P)
                    XCTAssertEqual(powers[p - 1], reference, accuracy: 1e-9 * reference, "\(name) \(loss) tr(G^\(p))/P")
                }
                if loss == .crossEntropy {
                    // The softmax's H_ℓ shrinks G below F: the sandwich was applied.
                    let F = try LAPACK.symmetricEigen(DenseReference.dense(try problem.makeOperator(.fisher)), n: P).values.max()!
                    XCTAssertLessThan(top.eigenvalues[0], 0.9 * F, name)
                }
            }
        }
    }

    /// 1, 2 and 3 thread ranks give the same exact G spectrum (the blocks of B gathered over
    /// ranks; batch statistics summed over them): 1e-12 relative.
    func testRanksAgree() throws {
        for (name, json) in Self.architectures {
            let serial = try TopJob.runExact(try Self.problem(json, loss: .crossEntropy, samples: 7), matrix: .ggn, count: 3, which: .largest,
                                             tolerance: 1e-10, solver: ReplicatedLAPACKEigensolver()).0.eigenvalues
            for ranks in 2...3 {
                let results = try ThreadGroup.run(size: ranks) { c in
                    try TopJob.runExact(try Self.problem(json, loss: .crossEntropy, samples: 7, communicator: c), matrix: .ggn, count: 3,
                                        which: .largest, tolerance: 1e-10, solver: ReplicatedLAPACKEigensolver(communicator: c)).0.eigenvalues
                }
                for r in results { for i in 0..<3 { XCTAssertEqual(r[i], serial[i], accuracy: 1e-12 * serial[0], "\(name) \(ranks) ranks") } }
            }
        }
    }

    /// H and S stay refused by the exact path (indefinite, no sample-space dual), naming why.
    func testHessianHasNoExactPath() throws {
        let problem = try Self.problem(Self.architectures[0].1, loss: .crossEntropy)
        XCTAssertNotNil(problem.exactUnsupportedReason(.hessian))
        XCTAssertThrowsError(try problem.exactSampleSpaceRows(.residual)) { XCTAssertTrue("\($0)".contains("no sample-space dual"), "\($0)") }
    }
}
