import Foundation
import XCTest
@testable import Wisp
import WispTestSupport

/// `align` on networks given as layers: the per-layer kernels K_l of ``LayerTangentKernel``
/// against the explicit Jacobian restricted to each layer's columns and summing to K; the
/// matrix-free ``LayerGramOperator`` restricted to the layer's block against the exact K_l; exact against Hutchinson
/// alignments; the command line.
final class LayerAlignmentTests: XCTestCase {
    /// conv → tanh → residual(conv, tanh, conv | conv projection) → flatten →
    /// residual(dense, tanh | bias-free dense projection) → residual(dense, softplus) → dense.
    static var residualCase: LayerExactSpectrumTests.Case {
        LayerExactSpectrumTests.catalogue.first { $0.name == "residual with projections" }!
    }

    /// The blocks named by state-dict prefix, in θ's order, are the kernel's sites; each site's
    /// K_l (forced into each form and the chosen one) against J_l J_lᵀ of the explicit Jacobian's
    /// columns in the block, and Σ_l K_l against the whole K. Sums of a few hundred products in
    /// other orders: ~1e-14 relative to the largest entry; 1e-12 (K_l) and 1e-13 (Σ_l K_l) allow
    /// for that and fail at any missing or misplaced term.
    func testLayerKernelsAgainstRestrictedJacobianAndSumToK() throws {
        for c in LayerExactSpectrumTests.catalogue {
            let (seq, _) = try LayerExactSpectrumTests.network(c)
            let J = LayerOperatorTests.explicitJacobian(seq)
            let n = LayerExactSpectrumTests.samples * seq.outputCount, P = seq.parameterCount
            let kernel = try LayerTangentKernel(network: seq)
            let blocks = LayerProblem.blocks(names: seq.parameterNames, counts: seq.parameterTensors.map(\.count))
            XCTAssertEqual(blocks.map(\.name), kernel.sites.map(\.name), c.name)
            XCTAssertEqual(blocks.map(\.range.count), kernel.sites.map(\.parameterCount), c.name)
            XCTAssertEqual(blocks.last?.range.upperBound, P, c.name)
            if c.name == Self.residualCase.name {
                XCTAssertEqual(blocks.map(\.name), ["0", "2.body.0", "2.body.2", "2.projection", "4.body.0", "4.projection", "5.body.0", "6"])
            }
            let whole = kernel.rows { local, _, _ in local }
            for forms in [nil] + LayerKernelForm.allCases.map({ [LayerKernelForm](repeating: $0, count: kernel.sites.count) }) {
                var sum = [Double](repeating: 0, count: n * n)
                var visited: [Int] = []
                kernel.layerRows(forms: forms, gather: { local, _, _ in local }) { i, rows in
                    visited.append(i)
                    let Jl = AlignmentTests.columns(J, rows: n, P: P, blocks[i].range)
                    let reference = DenseReference.gram(jacobian: Jl, rows: n, parameters: blocks[i].range.count, totalSamples: 1)
                    XCTAssertLessThan(DenseReference.relativeError(rows, reference), 1e-12, "\(c.name) \(blocks[i].name)")
                    for j in sum.indices { sum[j] += rows[j] }
                }
                XCTAssertEqual(visited, Array(blocks.indices), c.name)
                XCTAssertLessThan(DenseReference.relativeError(sum, whole), 1e-13, "\(c.name) Σ_l K_l")
            }
        }
    }

    /// The matrix-free K_l = (1/T) J_l J_lᵀ applied to a few vectors against the exact rows: the
    /// same sums in another order (one VJP, one JVP), 1e-12 relative.
    func testBlockOperatorAgainstExactLayerKernel() throws {
        for c in LayerExactSpectrumTests.catalogue {
        let (seq, _) = try LayerExactSpectrumTests.network(c)
        let T = LayerExactSpectrumTests.samples, n = T * seq.outputCount
        let kernel = try LayerTangentKernel(network: seq)
        let blocks = LayerProblem.blocks(names: seq.parameterNames, counts: seq.parameterTensors.map(\.count))
        var exact: [[Double]] = []
        kernel.layerRows(gather: { local, _, _ in local }) { _, rows in exact.append(rows.map { $0 / Double(T) }) }
        for (i, block) in blocks.enumerated() {
            let op = LayerGramOperator(network: seq, block: block.range, samples: 0..<T, totalSamples: T)
            for v in 0..<3 {
                let x = (0..<n).map { CounterRandom(seed: 7, stream: .probe(v)).normal($0) }
                var y = [Double](repeating: 0, count: n)
                op.apply(x, into: &y)
                let reference = DenseReference.multiply(exact[i], x, rows: n, inner: n, cols: 1)
                XCTAssertLessThan(DenseReference.relativeError(y, reference), 1e-12, "\(c.name) \(block.name) vector \(v)")
            }
        }
        }
    }

    static func problem(_ c: LayerExactSpectrumTests.Case, samples T: Int, classes: Int) throws -> LayerProblem {
        let architecture = LayerArchitecture(input: c.input, layers: c.specs)
        let data = try Dataset.gaussian(totalSamples: T, dimension: c.input.count, seed: 5, samples: 0..<T)
        var values = [Double](repeating: 0, count: T * classes)
        for t in 0..<T { values[t * classes + (t * 7 + 3) % classes] = 1 }
        let targets = try Targets(columns: classes, samples: 0..<T, values: values, classes: classes, source: "test labels")
        return try LayerProblem(architecture: architecture, inputs: LayerInputs(dataset: data, source: .gaussian, targets: targets),
                                weights: .initial, seed: 5)
    }

    /// Exact A_l against eq. 6 formed densely from the explicit J_l, and the Hutchinson
    /// estimates (400 probes) within 4 of their standard errors of the exact values; the layer
    /// names in the result.
    func testExactAndHutchinsonAlignmentsAgree() throws {
        let c = Self.residualCase
        let T = 8
        let problem = try Self.problem(c, samples: T, classes: 2)
        let exact = try AlignJob.run(problem, settings: AlignSettings(exactLimit: 4096, probes: 2, seed: 1))
        XCTAssertEqual(exact.method, "exact")
        XCTAssertEqual(exact.layers.map(\.name), problem.parameterBlocks.map(\.name))
        XCTAssertEqual(exact.layers.map(\.parameters), problem.parameterBlocks.map(\.range.count))
        XCTAssertTrue(exact.layers.allSatisfy { $0.forwardAlignment == nil && $0.backwardAlignment == nil })
        // Eq. 6 densely from J_l.
        let layers = try LayerSpec.makeChain(c.specs, input: c.input, as: Double.self)
        let network = try LayerSequence(layers: layers, parameters: problem.parameters())
        try network.forward(try Dataset.gaussian(totalSamples: T, dimension: c.input.count, seed: 5, samples: 0..<T))
        let J = LayerOperatorTests.explicitJacobian(network)
        let n = T * 2, P = problem.parameterCount
        let y = try problem.alignmentTargets().values
        for (i, block) in problem.parameterBlocks.enumerated() {
            let K = DenseReference.gram(jacobian: AlignmentTests.columns(J, rows: n, P: P, block.range), rows: n, parameters: block.range.count,
                                        totalSamples: T)
            XCTAssertEqual(exact.layers[i].alignment, AlignmentTests.denseCKA(K, y), accuracy: 1e-12, block.name)
        }
        let estimate = try AlignJob.run(problem, settings: AlignSettings(exactLimit: 0, probes: 400, seed: 1))
        XCTAssertEqual(estimate.method, "hutchinson")
        XCTAssertEqual(estimate.layers.map(\.name), problem.parameterBlocks.map(\.name))
        for (e, h) in zip(exact.layers, estimate.layers) {
            XCTAssertGreaterThan(h.alignmentStandardError, 0, e.name ?? "")
            XCTAssertEqual(h.alignment, e.alignment, accuracy: 4 * h.alignmentStandardError, e.name ?? "")
            XCTAssertEqual(h.labelProjection, e.labelProjection, accuracy: 1e-12 * abs(e.labelProjection), e.name ?? "")
            XCTAssertEqual(h.lambdaMax, e.lambdaMax, accuracy: 1e-6 * e.lambdaMax, e.name ?? "")
        }
    }

    static func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-layer-align-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    static func record(_ dir: URL, _ file: String) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent(file))) as? [String: Any])
    }

    /// An MLP and the same network given as layers (dense → tanh → dense → tanh → dense, θ from
    /// the MLP's --save-model, the same digits and labels): A_l, ‖C K_l C‖_F and the stable ranks
    /// agree to 1e-12 relative on both paths (exact: the eq. 9 factors against per-layer factors,
    /// the same sums in other orders, a few ε; Hutchinson: the same probes, the same products).
    func testDenseLayerNetworkMatchesTheMLP() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let digits = DataTests.dataDirectory + "/digits"
        let data = ["--inputs", digits + "/digits-images.idx3-ubyte", "--labels", digits + "/digits-labels.idx1-ubyte", "--scale-pixels",
                    "--samples", "20", "--quiet"]
        try Data(#"""
        {"input": [64], "layers": [{"kind": "Linear", "in_features": 64, "out_features": 8}, {"kind": "Tanh"},
         {"kind": "Linear", "in_features": 8, "out_features": 8}, {"kind": "Tanh"}, {"kind": "Linear", "in_features": 8, "out_features": 10}]}
        """#.utf8).write(to: dir.appendingPathComponent("mlp.json"))
        for (name, method) in [("exact", [String]()), ("hutchinson", ["--exact-limit", "0", "--probes", "4"])] {
            let mlp = try WispExecutable.run(["align", "--depth", "3", "--width", "8", "--activation", "tanh", "--save-model", "m.safetensors",
                                              "--output", "mlp-\(name).json"] + data + method, in: dir)
            XCTAssertEqual(mlp.status, 0, mlp.stderr)
            let layers = try WispExecutable.run(["align", "--architecture", "mlp.json", "--model", "m.safetensors", "--output", "layers-\(name).json"]
                                                + data + method, in: dir)
            XCTAssertEqual(layers.status, 0, layers.stderr)
            let a = try XCTUnwrap(try Self.record(dir, "mlp-\(name).json")["layers"] as? [[String: Any]])
            let b = try XCTUnwrap(try Self.record(dir, "layers-\(name).json")["layers"] as? [[String: Any]])
            XCTAssertEqual(a.count, 3)
            XCTAssertEqual(b.compactMap { $0["name"] as? String }, ["0", "2", "4"])
            XCTAssertTrue(a.allSatisfy { $0["name"] == nil })
            for (x, y) in zip(a, b) {
                for key in ["alignment", "centered_frobenius_norm", "label_projection", "stable_rank"] {
                    let (u, v) = (try XCTUnwrap(x[key] as? Double), try XCTUnwrap(y[key] as? Double))
                    XCTAssertEqual(u, v, accuracy: 1e-12 * abs(u), "\(name) layer \(x["layer"] ?? "?") \(key)")
                }
                XCTAssertEqual(x["parameters"] as? Int, y["parameters"] as? Int)
            }
        }
    }

    /// `align --architecture` and `--model` from the command line: JSON, CSV (with a name column)
    /// and SVG, the record's layer names; the saved model gives the same record; labels whose
    /// class count is not the network's outputs are one error line and no output.
    func testCommandLine() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(LayerArchitectureTests.cnn.utf8).write(to: dir.appendingPathComponent("cnn.json"))
        let common = ["--samples", "7", "--seed", "2", "--quiet"]
        let run = try WispExecutable.run(["align", "--architecture", "cnn.json", "--output", "a.json", "--save-model", "m.safetensors"] + common, in: dir)
        XCTAssertEqual(run.status, 0, run.stderr)
        for file in ["a.json", "a.csv", "a.svg"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(file).path), file)
        }
        let record = try Self.record(dir, "a.json")
        XCTAssertEqual(record["command"] as? String, "align")
        XCTAssertNotNil(record["architecture"])
        XCTAssertEqual(record["method"] as? String, "exact")
        let layers = try XCTUnwrap(record["layers"] as? [[String: Any]])
        XCTAssertEqual(layers.compactMap { $0["name"] as? String }, ["0", "3.body.0", "3.projection", "6"])
        XCTAssertEqual(layers.compactMap { $0["layer"] as? Int }, [1, 2, 3, 4])
        let csv = try String(contentsOf: dir.appendingPathComponent("a.csv"), encoding: .utf8).split(separator: "\n")
        XCTAssertTrue(csv[0].hasSuffix(",name"), String(csv[0]))
        XCTAssertTrue(csv[2].hasSuffix(",3.body.0"), String(csv[2]))

        let loaded = try WispExecutable.run(["align", "--model", "m.safetensors", "--output", "b.json"] + common, in: dir)
        XCTAssertEqual(loaded.status, 0, loaded.stderr)
        let again = try XCTUnwrap(try Self.record(dir, "b.json")["layers"] as? [[String: Any]])
        XCTAssertEqual(again.compactMap { $0["alignment"] as? Double }, layers.compactMap { $0["alignment"] as? Double })

        let digits = DataTests.dataDirectory + "/digits"
        let bad = try WispExecutable.run(["align", "--architecture", "cnn.json", "--inputs", digits + "/digits-images.idx3-ubyte",
                                          "--labels", digits + "/digits-labels.idx1-ubyte", "--samples", "7", "--output", "c.json"], in: dir)
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.hasPrefix("wisp: error: "), bad.stderr)
        XCTAssertTrue(bad.stderr.contains("10 columns but the network has 2 outputs"), bad.stderr)
        XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, bad.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("c.json").path))
    }
}
