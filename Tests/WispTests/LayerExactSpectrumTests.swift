import Foundation
import XCTest
@testable import Wisp
import WispTestSupport

/// The exact sample-space path on networks given as layers: K from the per-layer factors of
/// ``LayerTangentKernel`` against J Jᵀ from an explicit Jacobian (built column by column with
/// JVPs) on a catalogue of tiny nets, in both forms of every layer; 1–4 ranks against one; the
/// exact eigenvalues against LAPACK on the dense reference and Lanczos on the matrix-free
/// ``LayerGramOperator``; `--method exact|auto` from the command line.
final class LayerExactSpectrumTests: XCTestCase {
    struct Case {
        let name: String
        let input: TensorShape
        let specs: [LayerSpec]
    }

    static let samples = 5

    /// Dense only; a convolution with every stride and padding in {1, 2} × {0, 1} (and a
    /// rectangular kernel, biasless); pooling (max and average); residual blocks with a conv and
    /// a dense projection and with the identity.
    static let catalogue: [Case] = {
        var cases = [Case(name: "dense", input: .features(5), specs: [
            .dense(inFeatures: 5, outFeatures: 4, bias: true), .activation(.tanh),
            .dense(inFeatures: 4, outFeatures: 4, bias: false), .activation(.softplus),
            .dense(inFeatures: 4, outFeatures: 3, bias: true),
        ])]
        for stride in [1, 2] {
            for padding in [0, 1] {
                for (kernel, bias) in [([3], true), ([2, 3], false)] {
                    let conv = try! Conv2D<Double>(input: .image(channels: 2, height: 5, width: 5), outChannels: 3,
                                                   kernel: (kernel[0], kernel.last!), stride: (stride, stride), padding: (padding, padding), bias: bias)
                    cases.append(Case(name: "conv k\(kernel) s\(stride) p\(padding) bias \(bias)", input: .image(channels: 2, height: 5, width: 5), specs: [
                        .conv2D(inChannels: 2, outChannels: 3, kernel: kernel, stride: [stride], padding: [padding], bias: bias),
                        .activation(.tanh), .flatten,
                        .dense(inFeatures: conv.outputShape.count, outFeatures: 2, bias: true),
                    ]))
                }
            }
        }
        cases.append(Case(name: "pooling", input: .image(channels: 1, height: 6, width: 6), specs: [
            .conv2D(inChannels: 1, outChannels: 2, kernel: [3], stride: [1], padding: [1], bias: true), .activation(.relu),
            .maxPool2D(kernel: [2], stride: nil, padding: [0]),
            .conv2D(inChannels: 2, outChannels: 3, kernel: [2], stride: [1], padding: [0], bias: true), .activation(.tanh),
            .averagePool2D(kernel: [2], stride: [1], padding: [0]), .flatten,
            .dense(inFeatures: 3, outFeatures: 2, bias: false),
        ]))
        cases.append(Case(name: "residual with projections", input: .image(channels: 2, height: 6, width: 6), specs: [
            .conv2D(inChannels: 2, outChannels: 3, kernel: [3], stride: [1], padding: [1], bias: true), .activation(.tanh),
            .residual(body: [.conv2D(inChannels: 3, outChannels: 4, kernel: [3], stride: [2], padding: [1], bias: true), .activation(.tanh),
                             .conv2D(inChannels: 4, outChannels: 4, kernel: [3], stride: [1], padding: [1], bias: false)],
                      projection: .conv2D(inChannels: 3, outChannels: 4, kernel: [1], stride: [2], padding: [0], bias: true)),
            .flatten,
            .residual(body: [.dense(inFeatures: 36, outFeatures: 5, bias: true), .activation(.tanh)],
                      projection: .dense(inFeatures: 36, outFeatures: 5, bias: false)),
            .residual(body: [.dense(inFeatures: 5, outFeatures: 5, bias: true), .activation(.softplus)], projection: nil),
            .dense(inFeatures: 5, outFeatures: 2, bias: true),
        ]))
        cases.append(Case(name: "identity residual CNN", input: LayerOperatorTests.input, specs: LayerOperatorTests.specs))
        return cases
    }()

    static func network(_ c: Case, block: Range<Int>? = nil) throws -> (LayerSequence<Double>, Dataset) {
        let layers = try LayerSpec.makeChain(c.specs, input: c.input, as: Double.self)
        let P = layers.reduce(0) { $0 + $1.parameterCount }
        let theta = (0..<P).map { 0.6 * CounterRandom(seed: 31, stream: .weights(layer: 2)).normal($0) }
        let seq = try LayerSequence(layers: layers, parameters: theta)
        let data = try Dataset.gaussian(totalSamples: samples, dimension: c.input.count, seed: 31, samples: block)
        try seq.forward(data)
        return (seq, data)
    }

    /// K (no 1/T) from the layer factors, forced into each form and in the chosen one, against
    /// J Jᵀ of the explicit Jacobian: the same products summed in other orders, 1e-12 relative to
    /// the largest entry (a few hundred terms of size 1 at ε = 2.2e-16 leave ~1e-14).
    func testKernelFromLayerFactorsEqualsExplicitJacobianGram() throws {
        for c in Self.catalogue {
            let (seq, _) = try Self.network(c)
            let J = LayerOperatorTests.explicitJacobian(seq)
            let rows = Self.samples * seq.outputCount, P = seq.parameterCount
            let reference = DenseReference.gram(jacobian: J, rows: rows, parameters: P, totalSamples: 1)
            let kernel = try LayerTangentKernel(network: seq)
            XCTAssertEqual(kernel.sites.reduce(0) { $0 + $1.parameterCount }, P, c.name)
            for forms in [nil] + LayerKernelForm.allCases.map({ [LayerKernelForm](repeating: $0, count: kernel.sites.count) }) {
                let K = kernel.rows(forms: forms) { local, _, _ in local }
                let error = DenseReference.relativeError(K, reference)
                XCTAssertLessThan(error, 1e-12, "\(c.name), forms \(forms.map { "\($0[0])" } ?? "chosen")")
            }
            // The network's own passes still give J after the kernel walked its layers.
            XCTAssertLessThan(DenseReference.relativeError(LayerOperatorTests.explicitJacobian(seq), J), 1e-15, c.name)
        }
    }

    /// Dense layers take the Hadamard (position-pair, Q = 1) form; convolutions with many output
    /// positions per-sample gradients; a convolution to a single position with a long patch the
    /// position pairs. The flop counts of the doc comment decide.
    func testFormChoiceFollowsTheFlopCount() {
        let dense = LayerKernelSite(name: "0", kind: "dense", outChannels: 64, positions: 1, patchLength: 64, hasBias: true)
        XCTAssertEqual(dense.cheaperForm(localSamples: 100, totalSamples: 100, outputs: 10), .positionPairs)
        let conv = LayerKernelSite(name: "0", kind: "conv2d", outChannels: 16, positions: 28 * 28, patchLength: 9, hasBias: true)
        XCTAssertEqual(conv.cheaperForm(localSamples: 100, totalSamples: 100, outputs: 10), .perSampleGradient)
        let head = LayerKernelSite(name: "0", kind: "conv2d", outChannels: 16, positions: 1, patchLength: 64 * 9, hasBias: true)
        XCTAssertEqual(head.cheaperForm(localSamples: 100, totalSamples: 100, outputs: 10), .positionPairs)
        let small = LayerKernelSite(name: "0", kind: "conv2d", outChannels: 8, positions: 4, patchLength: 72, hasBias: false)
        let (a, b) = (small.cost(.perSampleGradient, localSamples: 10, totalSamples: 10, outputs: 2),
                      small.cost(.positionPairs, localSamples: 10, totalSamples: 10, outputs: 2))
        let gradients: Double = 2 * 20 * 8 * 4 * 72, gradientGram: Double = 2 * 20 * 20 * 8 * 72
        XCTAssertEqual(a.flops, gradients + gradientGram)
        let signalGram: Double = 2 * 80 * 80 * 8, patchGram: Double = 2 * 40 * 40 * 72, contraction: Double = 20 * 20 * 16
        XCTAssertEqual(b.flops, signalGram + patchGram + contraction)
        XCTAssertEqual(small.cheaperForm(localSamples: 10, totalSamples: 10, outputs: 2), .positionPairs)
    }

    /// Each of 2–4 ranks (threads) forms its rows against all samples: concatenated, they equal
    /// the one-rank K to 1e-13 (the same products; only the GEMM blocking differs). On 6 ranks
    /// for T = 5 one rank has no samples and still takes part in every gather.
    func testRowsShardedOverRanksEqualOneRank() throws {
        for c in [Self.catalogue[1], Self.catalogue[Self.catalogue.count - 2]] {
            let (seq, _) = try Self.network(c)
            let serial = try LayerTangentKernel(network: seq).rows { local, _, _ in local }
            for size in [2, 3, 4, 6] {
                let parts = try ThreadGroup.run(size: size) { comm -> [Double] in
                    let block = comm.block(of: Self.samples)
                    let (seq, _) = try Self.network(c, block: block)
                    return LayerExactKernel(network: seq, totalSamples: Self.samples, communicator: comm).rows()
                }
                XCTAssertLessThan(DenseReference.relativeError(parts.flatMap { $0 }, serial), 1e-13, "\(c.name) on \(size) ranks")
            }
        }
    }

    /// Every layer kind of the descriptions has a factor (no reason for fisher); `--method exact`
    /// on ggn without a loss is refused naming the loss setting, and on H (indefinite, no
    /// sample-space dual) with the shared reason. (ggn with a loss: ``LayerGaussNewtonExactTests``.)
    func testUnsupportedMatricesAreRefused() throws {
        let problem = try LayerProblem(architecture: try LayerArchitecture.parse(Data(LayerArchitectureTests.cnn.utf8), name: "cnn.json"),
                                       totalSamples: 4, seed: 2)
        XCTAssertNil(problem.exactUnsupportedReason(.fisher))
        XCTAssertThrowsError(try ExactSpectrumJob.run(problem, matrix: .ggn, selection: .all, vectors: false,
                                                      solver: ReplicatedLAPACKEigensolver())) { error in
            XCTAssertTrue("\(error)".contains("G needs a loss (\(Setting.loss))"), "\(error)")
        }
        XCTAssertThrowsError(try ExactSpectrumJob.run(problem, matrix: .hessian, selection: .all, vectors: false,
                                                      solver: ReplicatedLAPACKEigensolver())) { error in
            XCTAssertTrue("\(error)".contains("no sample-space dual"), "\(error)")
        }
    }

    /// `--method exact` with a K that cannot fit (TC = 10⁶: 8 TB) is refused before anything is
    /// formed, naming the bytes; `auto` falls back to the iterative method and says why.
    func testTooLargeExactIsRefusedNamingTheMemory() throws {
        let tiny = try LayerArchitecture.parse(Data(#"{"input": [2], "layers": [{"kind": "Linear", "in_features": 2, "out_features": 1}]}"#.utf8),
                                               name: "tiny.json")
        let problem = try LayerProblem(architecture: tiny, totalSamples: 1_000_000, seed: 1)
        let solver = ReplicatedLAPACKEigensolver()
        XCTAssertThrowsError(try MethodChoice.choose(problem, matrix: .ntk, requested: "exact", iterative: "slq", iterativeApplications: 10,
                                                     selection: .all, vectors: false, solver: solver)) { error in
            XCTAssertTrue("\(error)".contains("1000000 × 1000000 sample-space matrix needs"), "\(error)")
        }
        let auto = try MethodChoice.choose(problem, matrix: .ntk, requested: "auto", iterative: "slq", iterativeApplications: 10,
                                           selection: .all, vectors: false, solver: solver)
        XCTAssertEqual(auto.method, "slq")
        XCTAssertTrue(auto.reason.contains("more than half the available memory"), auto.reason)
    }

    /// Float32 passes (signals and patches widened, Grams in Float64): the top eigenvalues agree
    /// with the Float64 run to the Float32 rounding of the passes (1e-4 relative, ~1000 ε₃₂).
    func testFloat32ExactAgreesWithFloat64() throws {
        let architecture = try LayerArchitecture.parse(Data(LayerArchitectureTests.cnn.utf8), name: "cnn.json")
        let solver = ReplicatedLAPACKEigensolver()
        let values = try [Precision.float64, .float32].map { precision in
            try TopJob.runExact(try LayerProblem(architecture: architecture, totalSamples: 9, seed: 6, precision: precision), matrix: .ntk,
                                count: 3, which: .largest, tolerance: 1e-4, solver: solver).0.eigenvalues
        }
        for i in 0..<3 { XCTAssertEqual(values[1][i], values[0][i], accuracy: 1e-4 * values[0][0], "λ_\(i + 1)") }
    }

    /// The exact path on the CNN of ``LayerArchitectureTests``: the top eigenvalues equal LAPACK
    /// on the dense F (from the matrix-free operator) and Lanczos on the matrix-free K; every
    /// nonzero eigenvalue equals LAPACK on the dense K; residuals come from the matrix-free
    /// operator and are at rounding level. 1e-10 relative: two dense solves of the same matrix
    /// formed in different orders, ε·TC·‖K‖ apart, and Lanczos converged to 1e-11.
    func testExactEigenvaluesAgainstLAPACKAndLanczos() throws {
        let T = 12
        let problem = try LayerProblem(architecture: try LayerArchitecture.parse(Data(LayerArchitectureTests.cnn.utf8), name: "cnn.json"),
                                       totalSamples: T, seed: 4)
        let solver = ReplicatedLAPACKEigensolver()
        let (top, _) = try TopJob.runExact(problem, matrix: .fisher, count: 4, which: .largest, tolerance: 1e-10, solver: solver)
        XCTAssertTrue(top.method.hasPrefix("exact: K = (1/T) J Jᵀ formed from per-layer factors (0 conv2d: per-sample gradients"), top.method)
        let F = DenseReference.dense(try problem.makeOperator(.fisher))
        let dense = try LAPACK.symmetricEigen(F, n: problem.parameterCount).values.sorted(by: >)
        let lanczos = try Lanczos.solve(try problem.makeOperator(.ntk), settings: LanczosSettings(count: 4, tolerance: 1e-11))
        for i in 0..<4 {
            XCTAssertEqual(top.eigenvalues[i], dense[i], accuracy: 1e-10 * dense[0], "λ_\(i + 1) against LAPACK on F")
            XCTAssertEqual(top.eigenvalues[i], lanczos.values[i], accuracy: 1e-10 * dense[0], "λ_\(i + 1) against Lanczos on K")
            XCTAssertTrue(top.converged[i])
            XCTAssertLessThan(top.residuals[i], 1e-12 * dense[0])
        }
        let K = DenseReference.dense(try problem.makeOperator(.ntk))
        let all = try LAPACK.symmetricEigen(K, n: problem.sampleSpaceDimension).values.sorted(by: >)
        let (density, _) = try DensityJob.runExact(problem, matrix: .fisher, grid: DensitySettings(), solver: solver)
        let exact = try XCTUnwrap(density.exactEigenvalues)
        XCTAssertEqual(exact.count, problem.sampleSpaceDimension)
        XCTAssertLessThan(zip(exact, all).map { abs($0 - $1) }.max()!, 1e-10 * all[0])
        XCTAssertEqual(density.moments[0].exact!, all.reduce(0, +) / Double(problem.parameterCount), accuracy: 1e-10 * all[0])
        // auto at this size: exact, with the reason and both modelled costs recorded.
        let choice = try MethodChoice.choose(problem, matrix: .fisher, requested: "auto", iterative: "lanczos", iterativeApplications: 80,
                                             selection: .indices((T * 2 - 4)..<(T * 2)), vectors: true, solver: solver)
        XCTAssertEqual(choice.method, "exact", choice.reason)
        XCTAssertNotNil(choice.exactFlops)
        XCTAssertNotNil(choice.exactBytes)
    }

    func testExactAndAutoFromTheCommandLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-layer-exact-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(LayerArchitectureTests.cnn.utf8).write(to: dir.appendingPathComponent("cnn.json"))
        let T = 10
        let problem = try LayerProblem(architecture: try LayerArchitecture.parse(Data(LayerArchitectureTests.cnn.utf8), name: "cnn.json"),
                                       totalSamples: T, seed: 3)
        let K = DenseReference.dense(try problem.makeOperator(.ntk))
        let reference = try LAPACK.symmetricEigen(K, n: problem.sampleSpaceDimension).values.sorted(by: >)

        for method in ["exact", "auto"] {
            let run = try WispExecutable.run(["top", "--architecture", "cnn.json", "--samples", "\(T)", "--seed", "3", "--k", "3",
                                              "--method", method, "--output", "top-\(method).json", "--quiet"], in: dir)
            XCTAssertEqual(run.status, 0, run.stderr)
            let record = try ExactJSON.object(file: dir.appendingPathComponent("top-\(method).json").path)
            let result = record
            let choice = try XCTUnwrap(result["method_choice"] as? [String: Any])
            XCTAssertEqual(choice["method"] as? String, "exact")
            XCTAssertEqual(choice["requested"] as? String, method)
            XCTAssertNotNil(choice["reason"] as? String)
            XCTAssertTrue((result["method"] as? String ?? "").hasPrefix("exact:"), "\(result["method"] ?? "")")
            let values = try XCTUnwrap(result["eigenvalues"] as? [Double])
            XCTAssertEqual((result["residuals"] as? [Double])?.count, 3)
            for i in 0..<3 { XCTAssertEqual(values[i], reference[i], accuracy: 1e-10 * reference[0], "λ_\(i + 1) (\(method))") }
        }
        let density = try WispExecutable.run(["density", "--architecture", "cnn.json", "--samples", "\(T)", "--seed", "3", "--method", "exact",
                                              "--output", "d.json", "--quiet"], in: dir)
        XCTAssertEqual(density.status, 0, density.stderr)
        for file in ["d.json", "d.csv", "d.svg", "d.eigenvalues.csv"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(file).path), file)
        }
        let record = try ExactJSON.object(file: dir.appendingPathComponent("d.json").path)
        let result = record
        XCTAssertEqual(result["eigenvalue_count"] as? Int, T * 2)
        XCTAssertEqual((result["method_choice"] as? [String: Any])?["method"] as? String, "exact")
        // slq stays available and is recorded as requested.
        let slq = try WispExecutable.run(["density", "--architecture", "cnn.json", "--samples", "\(T)", "--method", "slq", "--probes", "2",
                                          "--steps", "8", "--output", "s.json", "--quiet"], in: dir)
        XCTAssertEqual(slq.status, 0, slq.stderr)
        let slqResult = try ExactJSON.object(file: dir.appendingPathComponent("s.json").path)
        XCTAssertEqual((slqResult["method_choice"] as? [String: Any])?["method"] as? String, "slq")
    }
}
