import Foundation
import XCTest
@testable import Wisp
import WispTestSupport

/// The exact sample-space path through normalization layers: LayerNorm in the factor walk of
/// ``LayerTangentKernel`` (K and each K_l, γ's and β's included, against the explicit Jacobian),
/// BatchNorm networks' K formed column by column from the matrix-free operator
/// (``LayerExactKernel``: against the explicit Jacobian of all outputs over the batch, LAPACK,
/// and 1–2 ranks), and the exact tr F of ``LayerProblem/exactFisherTrace(withinProducts:)``.
final class LayerNormalizationExactTests: XCTestCase {
    typealias Case = LayerExactSpectrumTests.Case

    /// dense → LayerNorm → tanh → dense; conv → LayerNorm over the whole image → tanh →
    /// LayerNorm over the last dimension (15 groups per sample, no β) → flatten → dense; a
    /// residual block with a LayerNorm in its body and a LayerNorm without affine parameters.
    static let layerNormCases: [Case] = [
        Case(name: "dense layernorm", input: .features(5), specs: [
            .dense(inFeatures: 5, outFeatures: 6, bias: true),
            .layerNorm(normalizedShape: nil, epsilon: 1e-5, elementwiseAffine: true, bias: true), .activation(.tanh),
            .dense(inFeatures: 6, outFeatures: 3, bias: true),
        ]),
        Case(name: "conv layernorm", input: .image(channels: 2, height: 5, width: 5), specs: [
            .conv2D(inChannels: 2, outChannels: 3, kernel: [3], stride: [1], padding: [1], bias: true),
            .layerNorm(normalizedShape: nil, epsilon: 1e-5, elementwiseAffine: true, bias: true), .activation(.tanh),
            .layerNorm(normalizedShape: [5], epsilon: 1e-5, elementwiseAffine: true, bias: false), .flatten,
            .dense(inFeatures: 75, outFeatures: 2, bias: true),
        ]),
        Case(name: "residual layernorm", input: .features(4), specs: [
            .dense(inFeatures: 4, outFeatures: 5, bias: true), .activation(.tanh),
            .residual(body: [.dense(inFeatures: 5, outFeatures: 5, bias: false),
                             .layerNorm(normalizedShape: nil, epsilon: 1e-5, elementwiseAffine: true, bias: true), .activation(.softplus)],
                      projection: nil),
            .layerNorm(normalizedShape: nil, epsilon: 1e-5, elementwiseAffine: false, bias: true),
            .dense(inFeatures: 5, outFeatures: 2, bias: true),
        ]),
    ]

    static func network(_ c: Case) throws -> (LayerSequence<Double>, [Double]) {
        let (seq, _) = try LayerExactSpectrumTests.network(c)
        return (seq, LayerOperatorTests.explicitJacobian(seq))
    }

    /// Rows r of J restricted to the parameter columns `range`, times its transpose: J_l J_lᵀ.
    static func blockGram(_ J: [Double], rows: Int, parameters P: Int, range: Range<Int>) -> [Double] {
        let block = (0..<rows).flatMap { r in J[(r * P + range.lowerBound)..<(r * P + range.upperBound)] }
        return DenseReference.gram(jacobian: block, rows: rows, parameters: range.count, totalSamples: 1)
    }

    /// K from the factor walk (chosen and both forced forms) against J Jᵀ of the explicit
    /// Jacobian; each site's K_l (LayerNorm's γ, β site among them) against J_l J_lᵀ of its
    /// columns; Σ_l K_l = K; the walk's trace against tr(J Jᵀ). 1e-12 relative to the largest
    /// entry: the same products summed in other orders (a few hundred terms, ~1e-14).
    func testLayerNormKernelFromFactorsEqualsExplicitJacobianGram() throws {
        for c in Self.layerNormCases {
            let (seq, J) = try Self.network(c)
            let rows = LayerExactSpectrumTests.samples * seq.outputCount, P = seq.parameterCount
            let reference = DenseReference.gram(jacobian: J, rows: rows, parameters: P, totalSamples: 1)
            let kernel = try LayerTangentKernel(network: seq)
            XCTAssertEqual(kernel.sites.reduce(0) { $0 + $1.parameterCount }, P, c.name)
            XCTAssertTrue(kernel.sites.contains { $0.kind == "layernorm" && $0.elementwise }, c.name)
            for forms in [nil] + LayerKernelForm.allCases.map({ [LayerKernelForm](repeating: $0, count: kernel.sites.count) }) {
                let K = kernel.rows(forms: forms) { local, _, _ in local }
                XCTAssertLessThan(DenseReference.relativeError(K, reference), 1e-12, "\(c.name), forms \(forms.map { "\($0[0])" } ?? "chosen")")
            }
            var sum = [Double](repeating: 0, count: rows * rows), offset = 0
            kernel.layerRows(gather: { local, _, _ in local }) { i, Kl in
                let range = offset..<(offset + kernel.sites[i].parameterCount)
                offset = range.upperBound
                let expected = Self.blockGram(J, rows: rows, parameters: P, range: range)
                XCTAssertLessThan(DenseReference.relativeError(Kl, expected), 1e-12, "\(c.name) K_\(kernel.sites[i].name) (\(kernel.sites[i].kind))")
                for j in sum.indices { sum[j] += Kl[j] }
            }
            XCTAssertLessThan(DenseReference.relativeError(sum, reference), 1e-13, "\(c.name): Σ K_l = K")
            let trace = (0..<rows).reduce(0.0) { $0 + reference[$1 * rows + $1] }
            XCTAssertEqual(kernel.localTrace(), trace, accuracy: 1e-12 * trace, c.name)
        }
    }

    /// Without the walk's LayerNorm site the γ, β columns are missing: the test above would see
    /// K − K_γβ. (The check can fail: dropping the site's block leaves an error of order one.)
    func testLayerNormSiteCarriesItsParameters() throws {
        let (seq, J) = try Self.network(Self.layerNormCases[0])
        let rows = LayerExactSpectrumTests.samples * seq.outputCount, P = seq.parameterCount
        let kernel = try LayerTangentKernel(network: seq)
        let site = try XCTUnwrap(kernel.sites.firstIndex { $0.kind == "layernorm" })
        XCTAssertEqual(kernel.sites[site].name, "1")
        XCTAssertEqual(kernel.sites[site].parameterCount, 12)
        var layerNormBlock: [Double] = []
        kernel.layerRows(gather: { local, _, _ in local }) { i, Kl in if i == site { layerNormBlock = Kl } }
        let start = kernel.sites[..<site].reduce(0) { $0 + $1.parameterCount }
        let gamma = Self.blockGram(J, rows: rows, parameters: P, range: start..<(start + 6))
        let beta = Self.blockGram(J, rows: rows, parameters: P, range: (start + 6)..<(start + 12))
        XCTAssertLessThan(DenseReference.relativeError(layerNormBlock, zip(gamma, beta).map { $0 + $1 }), 1e-12, "K_γ + K_β")
        XCTAssertGreaterThan(DenseReference.relativeError(layerNormBlock, gamma), 1e-3, "β's block is not negligible")
    }

    // MARK: BatchNorm

    static func batchNormNetwork(block: Range<Int>? = nil, reduction: (any SampleReduction)? = nil) throws -> LayerSequence<Double> {
        try LayerHessianTests.network(LayerHessianTests.batchNormSpecs, block: block, reduction: reduction)
    }

    /// The factor walk refuses the batch-normalized network, naming the layer and why; K by
    /// columns of the operator equals J Jᵀ of the explicit Jacobian of all outputs over the
    /// whole batch (1e-12: each column is one VJP + JVP pair, the reference the same products
    /// in another order), and its trace tr(J Jᵀ).
    func testBatchNormKernelByColumnsEqualsExplicitJacobianGram() throws {
        let seq = try Self.batchNormNetwork()
        XCTAssertThrowsError(try LayerTangentKernel(network: seq)) { e in
            XCTAssertTrue("\(e)".contains("layer 1 (batchnorm2d) has no exact sample-space factor"), "\(e)")
            XCTAssertTrue("\(e)".contains("batch statistics couple the samples"), "\(e)")
        }
        let T = LayerHessianTests.samples, rows = T * seq.outputCount, P = seq.parameterCount
        let J = LayerOperatorTests.explicitJacobian(seq)
        let reference = DenseReference.gram(jacobian: J, rows: rows, parameters: P, totalSamples: 1)
        let exact = LayerExactKernel(network: seq, totalSamples: T, communicator: SerialCommunicator())
        XCTAssertTrue(exact.columns)
        XCTAssertNil(exact.reason)
        XCTAssertNotNil(exact.layerReason)
        XCTAssertLessThan(DenseReference.relativeError(exact.rows(), reference), 1e-12)
        let trace = (0..<rows).reduce(0.0) { $0 + reference[$1 * rows + $1] }
        XCTAssertEqual(exact.trace(), trace, accuracy: 1e-12 * trace)
    }

    /// Two thread ranks (samples split, batch statistics summed over the ranks) form the same
    /// rows as one, and the same trace: 1e-13 (the same products; only the allreduce order differs).
    func testBatchNormColumnsOnTwoRanksEqualOne() throws {
        let T = LayerHessianTests.samples
        let serial = LayerExactKernel(network: try Self.batchNormNetwork(), totalSamples: T, communicator: SerialCommunicator())
        let (rows, trace) = (serial.rows(), serial.trace())
        let parts = try ThreadGroup.run(size: 2) { comm -> ([Double], Double) in
            let block = comm.block(of: T)
            let exact = LayerExactKernel(network: try Self.batchNormNetwork(block: block, reduction: comm), totalSamples: T, communicator: comm)
            return (exact.rows(), exact.trace())
        }
        XCTAssertLessThan(DenseReference.relativeError(parts.flatMap { $0.0 }, rows), 1e-13)
        for part in parts { XCTAssertEqual(part.1, trace, accuracy: 1e-13 * trace) }
    }

    static let batchNormArchitecture = #"""
    {"input": [1, 5, 5], "layers": [
      {"kind": "Conv2d", "out_channels": 2, "kernel_size": 3, "bias": false},
      {"kind": "BatchNorm2d", "num_features": 2},
      {"kind": "tanh"},
      {"kind": "flatten"},
      {"kind": "Linear", "out_features": 2}]}
    """#

    static let layerNormArchitecture = #"""
    {"input": [6], "layers": [
      {"kind": "Linear", "out_features": 7},
      {"kind": "LayerNorm", "normalized_shape": [7]},
      {"kind": "tanh"},
      {"kind": "Linear", "out_features": 3}]}
    """#

    /// `top --method exact` on a BatchNorm network: K by columns, the method says so and why,
    /// and the top eigenvalues equal LAPACK on the dense F of the matrix-free operator (1e-10
    /// relative: two dense solves of matrices formed in different orders).
    func testBatchNormExactTopAgainstLAPACK() throws {
        let architecture = try LayerArchitecture.parse(Data(Self.batchNormArchitecture.utf8), name: "bn.json")
        let problem = try LayerProblem(architecture: architecture, totalSamples: 6, seed: 3)
        XCTAssertNil(problem.exactUnsupportedReason(.ntk))
        XCTAssertEqual(problem.exactFormFlops(), Double(problem.sampleSpaceDimension) * problem.productFlops)
        let (top, _) = try TopJob.runExact(problem, matrix: .fisher, count: 3, which: .largest, tolerance: 1e-10, solver: ReplicatedLAPACKEigensolver())
        XCTAssertTrue(top.method.contains("formed column by column from the matrix-free operator, K e_j for all 12 columns"), top.method)
        XCTAssertTrue(top.method.contains("batch statistics couple the samples"), top.method)
        let F = DenseReference.dense(try problem.makeOperator(.fisher))
        let dense = try LAPACK.symmetricEigen(F, n: problem.parameterCount).values.sorted(by: >)
        for i in 0..<3 {
            XCTAssertEqual(top.eigenvalues[i], dense[i], accuracy: 1e-10 * dense[0], "λ_\(i + 1)")
            XCTAssertLessThan(top.residuals[i], 1e-12 * dense[0])
        }
        // The per-layer blocks have no column form: align keeps its matrix-free fallback.
        XCTAssertNotNil(problem.exactLayerKernelsUnavailable)
    }

    /// The LayerNorm network's exact path forms K from the factors and align gets its blocks.
    func testLayerNormExactTopAndLayerBlocks() throws {
        let architecture = try LayerArchitecture.parse(Data(Self.layerNormArchitecture.utf8), name: "ln.json")
        let problem = try LayerProblem(architecture: architecture, totalSamples: 5, seed: 3)
        XCTAssertNil(problem.exactLayerKernelsUnavailable)
        XCTAssertEqual(problem.exactSites.map(\.name), ["0", "1", "3"])
        let (top, _) = try TopJob.runExact(problem, matrix: .fisher, count: 3, which: .largest, tolerance: 1e-10, solver: ReplicatedLAPACKEigensolver())
        XCTAssertTrue(top.method.contains("1 layernorm: per-sample gradients"), top.method)
        let F = DenseReference.dense(try problem.makeOperator(.fisher))
        let dense = try LAPACK.symmetricEigen(F, n: problem.parameterCount).values.sorted(by: >)
        for i in 0..<3 { XCTAssertEqual(top.eigenvalues[i], dense[i], accuracy: 1e-10 * dense[0], "λ_\(i + 1)") }
    }

    /// `moments` on the BatchNorm network: K by columns (TC products) only when TC ≤ limit/8, as
    /// for the MLP; tr F there against the dense F's trace (1e-12), and above it Hutchinson whose
    /// method says why the trace is not exact.
    func testBatchNormMomentsFormByColumnsWithinAnEighthOfTheLimit() throws {
        let problem = try LayerProblem(architecture: try LayerArchitecture.parse(Data(Self.batchNormArchitecture.utf8), name: "bn.json"),
                                       totalSamples: 6, seed: 5)
        let TC = problem.sampleSpaceDimension
        XCTAssertEqual(problem.exactFormProducts, TC)
        let F = DenseReference.dense(try problem.makeOperator(.fisher))
        let P = problem.parameterCount
        let trace = (0..<P).reduce(0.0) { $0 + F[$1 * P + $1] }
        let (exact, _) = try MomentsJob.run(sampleSpaceOf: problem, exactLimit: 8 * TC, probes: 4, seed: 1)
        XCTAssertTrue(exact.traceMethod.contains("formed column by column"), exact.traceMethod)
        XCTAssertEqual(exact.trace, trace, accuracy: 1e-12 * trace)
        let (estimate, _) = try MomentsJob.run(sampleSpaceOf: problem, exactLimit: 8 * TC - 1, probes: 4, seed: 1)
        XCTAssertTrue(estimate.traceMethod.hasSuffix("(batch statistics make the exact trace cost TC products)"), estimate.traceMethod)
        XCTAssertGreaterThan(estimate.traceStandardError, 0)
    }

    /// exactFisherTrace against tr F of the dense F (from the matrix-free operator, i.e.
    /// tr(JᵀJ)/T of the explicit Jacobian) on the conv/residual CNN, the LayerNorm network and
    /// the BatchNorm network: 1e-12 relative. The BatchNorm network's column fallback is refused
    /// (nil) when TC exceeds the products allowed.
    func testExactFisherTraceOnLayers() throws {
        for (name, text) in [("cnn", LayerArchitectureTests.cnn), ("layernorm", Self.layerNormArchitecture),
                             ("batchnorm", Self.batchNormArchitecture)] {
            let problem = try LayerProblem(architecture: try LayerArchitecture.parse(Data(text.utf8), name: "\(name).json"),
                                           totalSamples: 6, seed: 5)
            let F = DenseReference.dense(try problem.makeOperator(.fisher))
            let P = problem.parameterCount
            let trace = (0..<P).reduce(0.0) { $0 + F[$1 * P + $1] }
            let exact = try XCTUnwrap(problem.exactFisherTrace(withinProducts: 256), name)
            XCTAssertEqual(exact, trace, accuracy: 1e-12 * trace, name)
            if name == "batchnorm" {
                XCTAssertNil(problem.exactFisherTrace(withinProducts: problem.sampleSpaceDimension - 1))
            } else {
                XCTAssertNil(problem.exactFisherTrace(withinProducts: problem.outputCount))
            }
        }
    }
}
