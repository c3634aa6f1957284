import Foundation
import XCTest
@testable import Wisp
import WispTestSupport

/// The JSON architecture description, the He/LeCun initialization, and `wisp top`/`wisp
/// density --architecture` end to end.
final class LayerArchitectureTests: XCTestCase {
    static let cnn = """
    {"input": [1, 8, 8],
     "layers": [
       {"kind": "Conv2d", "in_channels": 1, "out_channels": 3, "kernel_size": 3, "padding": 1},
       {"kind": "ReLU"},
       {"kind": "MaxPool2d", "kernel_size": 2},
       {"kind": "residual",
        "body": [{"kind": "conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": [3, 3], "stride": 2, "padding": 1},
                 {"kind": "tanh"}],
        "projection": {"kind": "conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": 1, "stride": 2, "bias": false}},
       {"kind": "avgpool2d", "kernel_size": 2, "stride": 1},
       {"kind": "Flatten"},
       {"kind": "Linear", "in_features": 4, "out_features": 2}
     ]}
    """

    func parse(_ text: String) throws -> LayerArchitecture {
        try LayerArchitecture.parse(Data(text.utf8), name: "arch.json")
    }

    func testParsesPyTorchStyleDescriptionAndRoundTrips() throws {
        let a = try parse(Self.cnn)
        XCTAssertEqual(a.input, .image(channels: 1, height: 8, width: 8))
        XCTAssertEqual(a.layers[1], .activation(.relu))
        XCTAssertEqual(a.layers[6], .dense(inFeatures: 4, outFeatures: 2, bias: true))
        let layers = try a.makeLayers(as: Double.self)
        XCTAssertEqual(layers.last?.outputShape, .features(2))
        let seq = try LayerSequence(layers: layers, parameters: a.initialParameters(for: layers, seed: 1) as [Double])
        XCTAssertEqual(seq.parameterNames, ["0.weight", "0.bias", "3.body.0.weight", "3.body.0.bias", "3.projection.weight", "6.weight", "6.bias"])
        // The record's echo reads back as the same description.
        let again = try parse(CanonicalJSON.text(a.jsonValue))
        XCTAssertEqual(again, a)
    }

    /// Bad descriptions: one error naming the file and the layer.
    func testBadDescriptionsAreRefusedNamingTheLayer() throws {
        let cases: [(String, String)] = [
            (#"{"input": [1, 8, 8], "layers": [{"kind": "conv2d", "out_channels": 2, "kernel_size": 3}, {"kind": "Dropout"}]}"#,
             "arch.json: layer 1 (Dropout): unknown layer kind 'Dropout'"),
            (#"{"input": [2, 4, 4], "layers": [{"kind": "BatchNorm1d", "num_features": 2}]}"#,
             "arch.json: layer 0 (batchnorm1d): batchnorm1d takes a flat input [features] but receives [2, 4, 4] (use batchnorm2d for images)"),
            (#"{"input": [2, 4, 4], "layers": [{"kind": "BatchNorm2d", "num_features": 3}]}"#,
             "arch.json: layer 0 (batchnorm2d): batchnorm has num_features 3 but receives [2, 4, 4]"),
            (#"{"input": [2, 4, 4], "layers": [{"kind": "BatchNorm2d", "momentum": 0.1}]}"#,
             "arch.json: layer 0 (BatchNorm2d): unknown field 'momentum' (batchnorm2d takes num_features, eps, affine)"),
            (#"{"input": [2, 4, 4], "layers": [{"kind": "LayerNorm", "normalized_shape": [4, 2]}]}"#,
             "arch.json: layer 0 (layernorm): layernorm normalized_shape [4, 2] must be the last dimensions of its input [2, 4, 4]"),
            (#"{"input": [2, 4, 4], "layers": [{"kind": "layernorm", "eps": -1}]}"#,
             "arch.json: layer 0 (layernorm): eps must be a positive number"),
            (#"{"input": [1, 8, 8], "layers": [{"kind": "conv2d", "out_channels": 2, "kernel_size": 3}, {"kind": "flatten"}, {"kind": "dense", "in_features": 50, "out_features": 2}]}"#,
             "arch.json: layer 2 (dense): dense has in_features 50 but receives [72]"),
            (#"{"input": [1, 8, 8], "layers": [{"kind": "dense", "out_features": 2}]}"#,
             "arch.json: layer 0 (dense): dense takes a flat input [features] but receives [1, 8, 8]"),
            (#"{"input": [1, 8, 8], "layers": [{"kind": "conv2d", "out_channels": 2, "kernel": 3}]}"#,
             "arch.json: layer 0 (conv2d): unknown field 'kernel'"),
            (#"{"input": [1, 8, 8], "layers": [{"kind": "conv2d", "out_channels": 2}]}"#,
             "arch.json: layer 0 (conv2d): missing kernel_size"),
            (#"{"input": [1, 8, 8], "layers": [{"kind": "conv2d", "out_channels": 2.5, "kernel_size": 3}]}"#,
             "arch.json: layer 0 (conv2d): out_channels must be an integer"),
            (#"{"input": [1, 8, 8], "layers": [{"kind": "linear"}]}"#,
             "arch.json: layer 0 (linear): 'linear' is ambiguous"),
            (#"{"input": [1, 8, 8], "layers": [{"kind": "residual", "body": [{"kind": "flatten"}]}]}"#,
             "arch.json: layer 0 (residual): residual body maps [1, 8, 8] to [64]"),
            (#"{"input": [1, 8, 8], "layers": [{"kind": "residual", "body": [{"kind": "relu"}, {"kind": "Conv2d", "out_channels": 1, "kernel_size": 9}]}]}"#,
             "arch.json: layer 0 (residual): residual body: layer 1 (conv2d): conv2d kernel 9×9 is larger than the padded input 8×8"),
            (#"{"input": [0, 8], "layers": [{"kind": "relu"}]}"#, "arch.json: \"input\" must be [features] or [channels, height, width]"),
            (#"{"input": [4], "layers": []}"#, "arch.json: \"layers\" is empty"),
            (#"{"input": [4], "layers": [{"kind": "relu"}], "loss": "mse"}"#, "arch.json: unknown field 'loss'"),
            ("[1, 2", "arch.json: not valid JSON"),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try parse(text), expected) { error in
                let message = "\(error)"
                XCTAssertTrue(message.hasPrefix(expected), "got: \(message)\nexpected: \(expected)")
                XCTAssertFalse(message.contains("\n"), message)
            }
        }
    }

    /// Layer and batch normalization in a description: parsed with their defaults, the
    /// state-dict names and shapes of PyTorch (`weight` and `bias` of the normalized shape or
    /// [C]), γ initialized to 1 and β to 0, and the echo read back as the same description.
    func testNormalizationLayers() throws {
        let a = try parse(#"""
        {"input": [2, 4, 4], "layers": [
          {"kind": "Conv2d", "out_channels": 3, "kernel_size": 3, "padding": 1, "bias": false},
          {"kind": "BatchNorm2d", "num_features": 3},
          {"kind": "relu"},
          {"kind": "LayerNorm", "normalized_shape": [4, 4], "eps": 1e-6},
          {"kind": "layernorm", "elementwise_affine": false},
          {"kind": "flatten"},
          {"kind": "batchnorm1d", "affine": false, "eps": 0.001},
          {"kind": "dense", "out_features": 2}]}
        """#)
        XCTAssertEqual(a.layers[1], .batchNorm(dimensions: 2, features: 3, epsilon: 1e-5, affine: true))
        XCTAssertEqual(a.layers[3], .layerNorm(normalizedShape: [4, 4], epsilon: 1e-6, elementwiseAffine: true, bias: true))
        XCTAssertEqual(a.layers[6], .batchNorm(dimensions: 1, features: nil, epsilon: 0.001, affine: false))
        let layers = try a.makeLayers(as: Double.self)
        let theta: [Double] = a.initialParameters(for: layers, seed: 2)
        let seq = try LayerSequence(layers: layers, parameters: theta)
        XCTAssertEqual(seq.parameterNames, ["0.weight", "1.weight", "1.bias", "3.weight", "3.bias", "7.weight", "7.bias"])
        XCTAssertEqual(seq.parameterTensors.map(\.shape), [[3, 2, 3, 3], [3], [3], [4, 4], [4, 4], [2, 48], [2]])
        XCTAssertTrue(seq.couplesSamples)
        XCTAssertEqual(Array(theta[54..<57]), [1, 1, 1], "batchnorm γ = 1")
        XCTAssertEqual(Array(theta[57..<60]), [0, 0, 0], "batchnorm β = 0")
        XCTAssertEqual(Array(theta[60..<76]), [Double](repeating: 1, count: 16), "layernorm γ = 1")
        XCTAssertEqual(Array(theta[76..<92]), [Double](repeating: 0, count: 16), "layernorm β = 0")
        XCTAssertEqual(try parse(CanonicalJSON.text(a.jsonValue)), a)
    }

    /// Weights N(0, g²/fan_in) with g = √2 before a ReLU and 1 otherwise; biases 0; the same
    /// numbers for the same seed, other numbers for another.
    func testHeAndLeCunInitialization() throws {
        let a = try parse(#"{"input": [64], "layers": [{"kind": "dense", "out_features": 400}, {"kind": "relu"}, {"kind": "dense", "out_features": 300}, {"kind": "tanh"}]}"#)
        let layers = try a.makeLayers(as: Double.self)
        let theta: [Double] = a.initialParameters(for: layers, seed: 7)
        XCTAssertEqual(theta, a.initialParameters(for: layers, seed: 7) as [Double])
        XCTAssertNotEqual(theta, a.initialParameters(for: layers, seed: 8) as [Double])
        let w1 = theta[0..<25_600], b1 = theta[25_600..<26_000], w2 = theta[26_000..<146_000], b2 = theta[146_000...]
        XCTAssertTrue(b1.allSatisfy { $0 == 0 } && b2.allSatisfy { $0 == 0 })
        func variance(_ x: ArraySlice<Double>) -> Double { x.reduce(0) { $0 + $1 * $1 } / Double(x.count) }
        // Sample variances of n normals: relative standard error √(2/n) ≤ 0.9 %; 5 % is > 5σ.
        XCTAssertEqual(variance(w1) / (2.0 / 64), 1, accuracy: 0.05)
        XCTAssertEqual(variance(w2) / (1.0 / 400), 1, accuracy: 0.05)
    }

    /// `wisp top --architecture` against LAPACK on the dense F of the same network (same seed:
    /// the weights and inputs are functions of the seed alone), and `density` writing its files.
    func testTopAndDensityFromTheCommandLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-layers-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(Self.cnn.utf8).write(to: dir.appendingPathComponent("cnn.json"))
        let T = 10
        let run = try WispExecutable.run(["top", "--architecture", "cnn.json", "--samples", "\(T)", "--seed", "3", "--k", "3",
                                          "--tol", "1e-10", "--output", "top.json", "--quiet"], in: dir)
        XCTAssertEqual(run.status, 0, run.stderr)
        let record = try ExactJSON.object(file: dir.appendingPathComponent("top.json").path)
        let result = record
        let values = try XCTUnwrap(result["eigenvalues"] as? [Double])
        XCTAssertEqual((result["residuals"] as? [Double])?.count, 3)
        let problem = try LayerProblem(architecture: try parse(Self.cnn), totalSamples: T, seed: 3)
        XCTAssertEqual((record["configuration"] as? [String: Any])?["parameters"] as? Int, problem.parameterCount)
        let F = DenseReference.dense(try problem.makeOperator(.fisher))
        let exact = try LAPACK.symmetricEigen(F, n: problem.parameterCount).values.sorted(by: >)
        for i in 0..<3 { XCTAssertEqual(values[i], exact[i], accuracy: 1e-9 * exact[0], "λ_\(i + 1)") }

        // The default job on the same network: λ_max, the exact moments and density against the
        // dense F (tr F/P and tr(F²)/P to 1e-10 relative: sums of P terms formed two ways), SLQ
        // beside it, and no theory block (the mean-field theory is the MLP's).
        let job = try WispExecutable.run(["run", "--architecture", "cnn.json", "--samples", "\(T)", "--seed", "3", "--probes", "3",
                                          "--steps", "10", "--output-dir", "job", "--quiet"], in: dir)
        XCTAssertEqual(job.status, 0, job.stderr)
        XCTAssertTrue(job.stdout.contains("theory     none"), job.stdout)
        let runRecord = try ExactJSON.object(file: dir.appendingPathComponent("job/run.json").path)
        XCTAssertNil(runRecord["theory"])
        let top = try XCTUnwrap(runRecord["top"] as? [String: Any]), moments = try XCTUnwrap(runRecord["moments"] as? [String: Any])
        XCTAssertEqual((top["eigenvalues"] as? [Double])?.first ?? 0, exact[0], accuracy: 1e-9 * exact[0])
        let P = problem.parameterCount
        let trace = (0..<P).reduce(0.0) { $0 + F[$1 * P + $1] }, squares = F.reduce(0.0) { $0 + $1 * $1 }
        XCTAssertEqual(moments["mean_eigenvalue"] as? Double ?? 0, trace / Double(P), accuracy: 1e-10 * trace / Double(P))
        XCTAssertEqual(moments["second_moment"] as? Double ?? 0, squares / Double(P), accuracy: 1e-10 * squares / Double(P))
        for file in ["run.json", "density.json", "density.svg", "density.eigenvalues.csv", "density-slq.json", "density-slq.svg"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("job/" + file).path), file)
        }
        let exactDensity = try ExactJSON.object(file: dir.appendingPathComponent("job/density.json").path)
        XCTAssertEqual(exactDensity["eigenvalue_count"] as? Int, T * problem.outputCount)

        let density = try WispExecutable.run(["density", "--architecture", "cnn.json", "--samples", "\(T)", "--probes", "3", "--steps", "10",
                                              "--output", "d.json", "--quiet"], in: dir)
        XCTAssertEqual(density.status, 0, density.stderr)
        for file in ["d.json", "d.csv", "d.svg"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(file).path), file)
        }
        // A bad description: one error line naming the layer, non-zero exit, no output file.
        try Data(#"{"input": [1, 8, 8], "layers": [{"kind": "Dropout"}]}"#.utf8).write(to: dir.appendingPathComponent("bad.json"))
        let bad = try WispExecutable.run(["top", "--architecture", "bad.json", "--output", "bad-top.json"], in: dir)
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.hasPrefix("wisp: error: bad.json: layer 0 (Dropout): unknown layer kind 'Dropout'"), bad.stderr)
        XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, bad.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("bad-top.json").path))
        // Flags the description fixes, and commands without a layer path, are refused.
        let conflict = try WispExecutable.run(["top", "--architecture", "cnn.json", "--width", "8"], in: dir)
        XCTAssertNotEqual(conflict.status, 0)
        XCTAssertTrue(conflict.stderr.contains("--width cannot be combined with --architecture"), conflict.stderr)
        let theory = try WispExecutable.run(["theory", "--architecture", "cnn.json"], in: dir)
        XCTAssertNotEqual(theory.status, 0)
        XCTAssertTrue(theory.stderr.contains("--architecture is supported by `wisp run`, `wisp top`, `wisp density`, `wisp moments`, `wisp train`, `wisp align` and `wisp reduce` only"), theory.stderr)
    }
}
