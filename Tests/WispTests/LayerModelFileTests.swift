import Foundation
import XCTest
@testable import Wisp
import WispTestSupport

/// Layer networks on real data and saved models: `--inputs` reshaped to the architecture's
/// input, `--model` by state-dict names (``LayerModelFile``), `--save-model` and its round
/// trip, Fashion-MNIST through a tiny CNN, and `python/wisp_export.py`'s files.
final class LayerModelFileTests: XCTestCase {
    /// Conv, a residual block with a strided 1×1 projection without bias, pooling, flatten, dense.
    static let cnn = """
    {"input": [2, 6, 6],
     "layers": [
       {"kind": "Conv2d", "in_channels": 2, "out_channels": 3, "kernel_size": 3, "padding": 1},
       {"kind": "ReLU"},
       {"kind": "residual",
        "body": [{"kind": "conv2d", "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1}, {"kind": "tanh"}],
        "projection": {"kind": "conv2d", "out_channels": 4, "kernel_size": 1, "stride": 2, "bias": false}},
       {"kind": "avgpool2d", "kernel_size": 3},
       {"kind": "Flatten"},
       {"kind": "Linear", "in_features": 4, "out_features": 2}
     ]}
    """

    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-layerio-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data(Self.cnn.utf8).write(to: dir.appendingPathComponent("cnn.json"))
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    func architecture() throws -> LayerArchitecture { try LayerArchitecture.parse(Data(Self.cnn.utf8), name: "cnn.json") }

    func eigenvalues(_ file: String) throws -> [Double] {
        let record = try ExactJSON.object(file: path(file))
        return try XCTUnwrap(record["eigenvalues"] as? [Double])
    }

    /// A file of the cnn's tensors, with `change` applied to the name → tensor map first.
    func writeModel(_ name: String, change: (inout [String: SafeTensor]) -> Void = { _ in }) throws {
        let slots = try LayerModelFile.slots(try architecture())
        var tensors = [String: SafeTensor]()
        for (k, s) in slots.enumerated() {
            tensors[s.name] = SafeTensor(dtype: .f32, shape: s.shape, values: (0..<s.count).map { 0.3 * sin(0.37 * Double($0) + Double(k)) })
        }
        change(&tensors)
        try SafeTensorsFile(tensors: tensors).write(to: path(name))
    }

    /// The state-dict names and shapes: PyTorch's, residual blocks included.
    func testSlotsAreTheStateDictNamesAndShapes() throws {
        let slots = try LayerModelFile.slots(try architecture())
        XCTAssertEqual(slots.map(\.name), ["0.weight", "0.bias", "2.body.0.weight", "2.body.0.bias", "2.projection.weight", "5.weight", "5.bias"])
        XCTAssertEqual(slots.map(\.shape), [[3, 2, 3, 3], [3], [4, 3, 3, 3], [4], [4, 3, 1, 1], [2, 4], [2]])
        XCTAssertEqual(slots.map(\.layer), ["0", "0", "2.body.0", "2.body.0", "2.projection", "5", "5"])
        let layers = try architecture().makeLayers(as: Double.self)
        let theta: [Double] = try architecture().initialParameters(for: layers, seed: 1)
        XCTAssertEqual(slots.map(\.name), try LayerSequence(layers: layers, parameters: theta).parameterNames)
        XCTAssertEqual(slots.last!.offset + slots.last!.count, theta.count)
    }

    /// A missing tensor, an extra one, a mis-shaped one, a non-finite entry and an architecture
    /// that disagrees with the file's: one line naming the layer (and both shapes).
    func testBadModelFilesAreRefusedNamingTheLayer() throws {
        let a = try architecture()
        try writeModel("good.safetensors")
        let good = try LayerModelFile.load(path: path("good.safetensors"), architecture: a)
        XCTAssertEqual(good.dtype, "F32")
        XCTAssertFalse(good.recordsArchitecture)
        XCTAssertEqual(good.parameters[0], Double(Float(0.3 * sin(0.0))))
        XCTAssertEqual(good.parameters[1], Double(Float(0.3 * sin(0.37))))
        try writeModel("missing.safetensors") { $0["2.body.0.bias"] = nil }
        try writeModel("extra.safetensors") { $0["1.weight"] = SafeTensor(dtype: .f64, shape: [3], values: [1, 2, 3]) }
        try writeModel("stray.safetensors") { $0["running_mean"] = SafeTensor(dtype: .f64, shape: [3], values: [1, 2, 3]) }
        try writeModel("shape.safetensors") { $0["2.projection.weight"]!.shape = [4, 3, 1, 1, 1] }
        try writeModel("transposed.safetensors") { $0["5.weight"]!.shape = [4, 2] }
        try writeModel("nan.safetensors") { $0["5.bias"]!.values[1] = .infinity }
        let cases: [(String, String)] = [
            ("missing", "layer 2.body.0 (conv2d): missing tensor '2.body.0.bias' of shape [4]"),
            ("extra", "tensor '1.weight' [3] belongs to no layer of the architecture (layer 1 is relu, which has no parameters)"),
            ("stray", "tensor 'running_mean' [3] belongs to no layer of the architecture"),
            ("shape", "layer 2.projection (conv2d): '2.projection.weight' has shape [4, 3, 1, 1, 1] in the file but the architecture needs [4, 3, 1, 1]"),
            ("transposed", "layer 5 (dense): '5.weight' has shape [4, 2] in the file but the architecture needs [2, 4]"),
            ("nan", "layer 5 (dense): '5.bias' entry 1 is inf"),
        ]
        for (name, expected) in cases {
            XCTAssertThrowsError(try LayerModelFile.load(path: path("\(name).safetensors"), architecture: a), name) { error in
                let message = "\(error)"
                XCTAssertTrue(message.hasPrefix("\(path("\(name).safetensors")): \(expected)"), "got: \(message)\nexpected: \(expected)")
                XCTAssertFalse(message.contains("\n"), message)
            }
        }
        // No architecture anywhere.
        XCTAssertThrowsError(try LayerModelFile.load(path: path("good.safetensors"), architecture: nil)) { error in
            XCTAssertTrue("\(error)".contains("records no architecture"), "\(error)")
        }
        // From the command line: one line, non-zero exit, no output.
        let run = try WispExecutable.run(["top", "--architecture", "cnn.json", "--model", "transposed.safetensors", "--samples", "5",
                                          "--output", "t.json"], in: dir)
        XCTAssertNotEqual(run.status, 0)
        XCTAssertEqual(run.stderr, "wisp: error: transposed.safetensors: layer 5 (dense): '5.weight' has shape [4, 2] in the file but the architecture needs [2, 4]\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("t.json")))
    }

    /// `--save-model` writes θ under the state-dict names with the description in the metadata,
    /// and `--model FILE` alone rebuilds the same network: bit-identical eigenvalues (float64,
    /// and float32 passes saved as f32). The loaded file also agrees with `--architecture`.
    func testSaveModelRoundTripIsBitIdentical() throws {
        for precision in ["float64", "float32"] {
            // float32 passes reach ~1e-5 relative residuals (100 ε‖F‖ = 1.2e-5 ‖F‖): --tol 1e-3.
            let common = ["--samples", "9", "--seed", "4", "--k", "3", "--quiet", "--precision", precision, "--tol", precision == "float32" ? "1e-3" : "1e-8"]
            let save = try WispExecutable.run(["top", "--architecture", "cnn.json", "--save-model", "m-\(precision).safetensors",
                                               "--save-dtype", precision == "float32" ? "f32" : "f64", "--output", "a.json"] + common, in: dir)
            XCTAssertEqual(save.status, 0, save.stderr)
            let file = try SafeTensorsFile.read(path: path("m-\(precision).safetensors"))
            XCTAssertEqual(Set(file.tensors.keys), ["0.weight", "0.bias", "2.body.0.weight", "2.body.0.bias", "2.projection.weight", "5.weight", "5.bias"])
            XCTAssertEqual(try LayerArchitecture.parse(Data(try XCTUnwrap(file.metadata["wisp.architecture"]).utf8), name: "m"), try architecture())
            XCTAssertTrue(LayerModelFile.recordsArchitecture(path: path("m-\(precision).safetensors")))
            let load = try WispExecutable.run(["top", "--model", "m-\(precision).safetensors", "--output", "b.json"] + common, in: dir)
            XCTAssertEqual(load.status, 0, load.stderr)
            XCTAssertEqual(try eigenvalues("b.json"), try eigenvalues("a.json"), precision)
            let both = try WispExecutable.run(["top", "--architecture", "cnn.json", "--model", "m-\(precision).safetensors", "--output", "c.json"] + common, in: dir)
            XCTAssertEqual(both.status, 0, both.stderr)
            XCTAssertEqual(try eigenvalues("c.json"), try eigenvalues("a.json"), precision)
            let record = try ExactJSON.object(file: path("b.json"))
            XCTAssertEqual((record["configuration"] as? [String: Any])?["weights"] as? String,
                           "loaded from m-\(precision).safetensors (\(precision == "float32" ? "F32" : "F64"))")
        }
        // The file's description against another one: refused, naming the first difference.
        try Data(Self.cnn.replacingOccurrences(of: "\"out_features\": 2", with: "\"out_features\": 3").utf8).write(to: dir.appendingPathComponent("other.json"))
        let other = try WispExecutable.run(["top", "--architecture", "other.json", "--model", "m-float64.safetensors", "--samples", "4"], in: dir)
        XCTAssertNotEqual(other.status, 0)
        XCTAssertTrue(other.stderr.hasPrefix("wisp: error: m-float64.safetensors records an architecture that differs from other.json (layer 5:"), other.stderr)
        // Other commands and the MLP loader refuse a layer file in one line.
        let theory = try WispExecutable.run(["theory", "--model", "m-float64.safetensors"], in: dir)
        XCTAssertNotEqual(theory.status, 0)
        XCTAssertTrue(theory.stderr.contains("holds a network given as layers"), theory.stderr)
        XCTAssertThrowsError(try Network<Double>.load(safetensors: path("m-float64.safetensors"), given: NetworkHyperparameters())) { error in
            XCTAssertTrue("\(error)".contains("holds a network given as layers"), "\(error)")
        }
    }

    /// Data files reshaped to the input shape: a .npy T × 72 and a T × 2 × 36 .npy run as
    /// [2, 6, 6] samples (the same numbers as built in-process); a sample size that differs, and
    /// images whose h × w is not the input's, are refused with one line naming both shapes.
    func testInputsAreReshapedOrRefusedNamingBothShapes() throws {
        let T = 7
        let values = (0..<(T * 72)).map { sin(0.21 * Double($0)) + 0.1 * Double($0 % 5) }
        try NPY.encode(values: values, shape: [T, 72], dtype: .float64).write(to: dir.appendingPathComponent("x.npy"))
        try NPY.encode(values: values, shape: [T, 2, 36], dtype: .float64).write(to: dir.appendingPathComponent("x3.npy"))
        try NPY.encode(values: values, shape: [T, 12, 6], dtype: .float64).write(to: dir.appendingPathComponent("x12.npy"))
        try NPY.encode(values: Array(values.prefix(T * 50)), shape: [T, 50], dtype: .float64).write(to: dir.appendingPathComponent("x50.npy"))
        let run = try WispExecutable.run(["top", "--architecture", "cnn.json", "--inputs", "x.npy", "--k", "2", "--tol", "1e-10",
                                          "--output", "x.json", "--quiet"], in: dir)
        XCTAssertEqual(run.status, 0, run.stderr)
        let dataset = try Dataset(dimension: 72, totalSamples: T, samples: 0..<T, values: values)
        let problem = try LayerProblem(architecture: try architecture(), inputs: LayerInputs(dataset: dataset, source: .gaussian),
                                       weights: .initial, seed: 0)
        let exact = try LAPACK.symmetricEigen(DenseReference.dense(try problem.makeOperator(.fisher)), n: problem.parameterCount).values.sorted(by: >)
        let got = try eigenvalues("x.json")
        for i in 0..<2 { XCTAssertEqual(got[i], exact[i], accuracy: 1e-9 * exact[0], "λ_\(i + 1)") }
        let record = try ExactJSON.object(file: path("x.json"))
        let data = try XCTUnwrap((record["configuration"] as? [String: Any])?["data"] as? [String: Any])
        XCTAssertEqual(data["inputs"] as? String, "x.npy")
        XCTAssertEqual(data["input_format"] as? String, "npy")
        XCTAssertEqual(record["samples"] as? Int, T)
        let channels = try WispExecutable.run(["top", "--architecture", "cnn.json", "--inputs", "x3.npy", "--k", "2", "--tol", "1e-10",
                                               "--output", "x3.json", "--quiet"], in: dir)
        XCTAssertEqual(channels.status, 0, channels.stderr)
        XCTAssertEqual(try eigenvalues("x3.json"), got)
        for (file, shape) in [("x50.npy", "[50] per sample (50 values)"), ("x12.npy", "[12, 6] per sample (72 values)")] {
            let bad = try WispExecutable.run(["top", "--architecture", "cnn.json", "--inputs", file, "--output", "bad.json"], in: dir)
            XCTAssertNotEqual(bad.status, 0)
            XCTAssertEqual(bad.stderr, "wisp: error: \(file): the inputs have shape \(shape) but the architecture's input is [2, 6, 6] (72 values)\n")
            XCTAssertFalse(FileManager.default.fileExists(atPath: path("bad.json")))
        }
        // Flags that shape an MLP still do not apply (targets and --loss do: LayerLossCLITests).
        for flags in [["--depth", "2"], ["--outputs", "3"]] {
            let bad = try WispExecutable.run(["top", "--architecture", "cnn.json", "--inputs", "x.npy"] + flags, in: dir)
            XCTAssertNotEqual(bad.status, 0)
            XCTAssertTrue(bad.stderr.hasPrefix("wisp: error: \(flags[0]) cannot be combined with --architecture"), bad.stderr)
        }
    }

    /// Fashion-MNIST (gzip IDX) through a tiny CNN with `wisp top`: the images scaled and
    /// pooled by the CLI, against F formed densely in-process from the raw file and LAPACK.
    func testFashionMNISTThroughATinyCNN() throws {
        let images = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
        guard FileManager.default.fileExists(atPath: images) else {
            throw XCTSkip("Fashion-MNIST is not installed (Debian package dataset-fashion-mnist; .ci/install-deps installs it)")
        }
        let arch = """
        {"input": [1, 14, 14], "layers": [{"kind": "Conv2d", "in_channels": 1, "out_channels": 3, "kernel_size": 3, "stride": 2},
          {"kind": "ReLU"}, {"kind": "MaxPool2d", "kernel_size": 2}, {"kind": "Flatten"}, {"kind": "Linear", "in_features": 27, "out_features": 10}]}
        """
        try Data(arch.utf8).write(to: dir.appendingPathComponent("fm.json"))
        let T = 12
        let run = try WispExecutable.run(["top", "--architecture", "fm.json", "--inputs", images, "--samples", "\(T)", "--pool", "2",
                                          "--scale-pixels", "--seed", "2", "--k", "3", "--tol", "1e-10", "--output", "fm-top.json"], in: dir)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("inputs from \(images) (idx, 14×14 per sample as [1, 14, 14], pooled 2×2, scaled by 1/"), run.stdout)
        // The reference: the raw rows, 2 × 2 means, divided by their maximum, as [1, 14, 14].
        let raw = try ArrayFile(path: images).read(rows: 0..<T)
        var x = [Double](repeating: 0, count: T * 196)
        for t in 0..<T { for r in 0..<28 { for c in 0..<28 { x[t * 196 + (r / 2) * 14 + c / 2] += raw[t * 784 + r * 28 + c] / 4 } } }
        let m = x.max()!
        x = x.map { $0 / m }
        let a = try LayerArchitecture.parse(Data(arch.utf8), name: "fm.json")
        let problem = try LayerProblem(architecture: a, inputs: LayerInputs(dataset: try Dataset(dimension: 196, totalSamples: T, samples: 0..<T, values: x),
                                                                            source: .gaussian), weights: .initial, seed: 2)
        let exact = try LAPACK.symmetricEigen(DenseReference.dense(try problem.makeOperator(.fisher)), n: problem.parameterCount).values.sorted(by: >)
        let got = try eigenvalues("fm-top.json")
        // Lanczos to --tol 1e-10 against LAPACK: both to rounding, ~1e-13 relative; 1e-9 leaves room.
        for i in 0..<3 { XCTAssertEqual(got[i], exact[i], accuracy: 1e-9 * exact[0], "λ_\(i + 1)") }
    }

    /// `python/wisp_export.py`, path (b): a small CNN from layer specs and numpy arrays, loaded
    /// by `wisp top --model` alone and with `--architecture`; F's top eigenvalues against the
    /// same network built in-process from the same formula, formed densely and solved by LAPACK.
    func testPythonExportLoadsInWisp() throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("python/wisp_export.py").path
        let probe = try WispExecutable.shell("python3 -c 'import numpy' 2>&1", in: dir)
        guard probe.status == 0 else { throw XCTSkip("python3 with numpy is needed: \(probe.stdout)") }
        // Each tensor k (state-dict order) holds 0.3 sin(0.37 i + k), i its C-order index.
        let program = """
        import sys, json, numpy as np
        sys.path.insert(0, sys.argv[1])
        import wisp_export
        arch = json.load(open("cnn.json"))
        names = wisp_export.parameter_names(arch["layers"])
        shapes = {"0.weight": (3, 2, 3, 3), "0.bias": (3,), "2.body.0.weight": (4, 3, 3, 3), "2.body.0.bias": (4,),
                  "2.projection.weight": (4, 3, 1, 1), "5.weight": (2, 4), "5.bias": (2,)}
        assert names == list(shapes), names
        arrays = {n: (0.3 * np.sin(0.37 * np.arange(int(np.prod(shapes[n]))) + k)).reshape(shapes[n]) for k, n in enumerate(names)}
        wisp_export.export(arch["layers"], arch["input"], arrays, "py", dtype="F64")
        np.savez("w.npz", **arrays)
        try:
            wisp_export.export(arch["layers"], arch["input"], {n: arrays[n] for n in names[:-1]}, "bad")
            sys.exit("a missing array was accepted")
        except ValueError as e:
            assert "missing array '5.bias'" in str(e), e
        """
        try Data(program.utf8).write(to: dir.appendingPathComponent("export.py"))
        let export = try WispExecutable.shell("python3 export.py \(URL(fileURLWithPath: script).deletingLastPathComponent().path) 2>&1", in: dir)
        XCTAssertEqual(export.status, 0, export.stdout)
        // The command-line form writes the same file from the .npz.
        let cli = try WispExecutable.shell("python3 \(script) cnn.json w.npz py-cli --dtype F64 2>&1 && cmp py.safetensors py-cli.safetensors", in: dir)
        XCTAssertEqual(cli.status, 0, cli.stdout)
        let T = 6
        let alone = try WispExecutable.run(["top", "--model", "py.safetensors", "--samples", "\(T)", "--seed", "1", "--k", "2", "--tol", "1e-10",
                                            "--output", "py.json", "--quiet"], in: dir)
        XCTAssertEqual(alone.status, 0, alone.stderr)
        let with = try WispExecutable.run(["top", "--architecture", "cnn.json", "--model", "py.safetensors", "--samples", "\(T)", "--seed", "1",
                                           "--k", "2", "--tol", "1e-10", "--output", "py2.json", "--quiet"], in: dir)
        XCTAssertEqual(with.status, 0, with.stderr)
        XCTAssertEqual(try eigenvalues("py2.json"), try eigenvalues("py.json"))
        // In-process: the same θ from the formula, in θ's order.
        let a = try architecture()
        var theta: [Double] = []
        for (k, s) in try LayerModelFile.slots(a).enumerated() { theta += (0..<s.count).map { 0.3 * sin(0.37 * Double($0) + Double(k)) } }
        let inputs = LayerInputs(dataset: try Dataset.gaussian(totalSamples: T, dimension: 72, seed: 1), source: .gaussian)
        let problem = try LayerProblem(architecture: a, inputs: inputs, weights: .loaded(path: "in-process", dtype: "F64", parameters: theta), seed: 1)
        let exact = try LAPACK.symmetricEigen(DenseReference.dense(try problem.makeOperator(.fisher)), n: problem.parameterCount).values.sorted(by: >)
        let got = try eigenvalues("py.json")
        // Python's and Swift's sin may differ in the last ulp: 1e-9 relative covers it and rounding.
        for i in 0..<2 { XCTAssertEqual(got[i], exact[i], accuracy: 1e-9 * exact[0], "λ_\(i + 1)") }
    }
}

extension LayerModelFileTests {
    /// `python/wisp_export.py`, path (a), without torch installed: a stand-in `torch` package
    /// with the attributes PyTorch's modules have (`in_channels`, `kernel_size` tuples,
    /// `padding_mode`, `state_dict()` of tensors with `detach().cpu().double().numpy()`), so the
    /// translation of an `nn.Sequential` is exercised; the file it writes loads in Wisp and its
    /// description equals the hand-written one. Unsupported modules are refused naming them.
    func testPythonExportFromATorchSequential() throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("python").path
        let probe = try WispExecutable.shell("python3 -c 'import numpy' 2>&1", in: dir)
        guard probe.status == 0 else { throw XCTSkip("python3 with numpy is needed: \(probe.stdout)") }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("fake/torch"), withIntermediateDirectories: true)
        try Data("".utf8).write(to: dir.appendingPathComponent("fake/torch/__init__.py"))
        let nn = """
        import numpy as np
        class T:
            def __init__(self, a): self.a = np.asarray(a, dtype=np.float64)
            def detach(self): return self
            def cpu(self): return self
            def double(self): return self
            def numpy(self): return self.a
        def pair(v): return tuple(v) if isinstance(v, (tuple, list)) else (v, v)
        class Module:
            def params(self): return []
            def children(self): return []
            def state_dict(self, prefix=""):
                out = {}
                for name, value in self.params():
                    if value is not None: out[prefix + name] = T(value)
                for name, child in self.children(): out.update(child.state_dict(prefix + name + "."))
                return out
        class Sequential(Module):
            def __init__(self, *m): self.m = list(m)
            def __iter__(self): return iter(self.m)
            def children(self): return [(str(i), c) for i, c in enumerate(self.m)]
        class Linear(Module):
            def __init__(self, i, o, bias=True):
                self.in_features, self.out_features = i, o
                self.weight = 0.3 * np.sin(np.arange(o * i) + 1.0).reshape(o, i)
                self.bias = 0.1 * np.cos(np.arange(o)) if bias else None
            def params(self): return [("weight", self.weight), ("bias", self.bias)]
        class Conv2d(Module):
            def __init__(self, i, o, kernel_size, stride=1, padding=0, bias=True):
                self.in_channels, self.out_channels, self.kernel_size = i, o, pair(kernel_size)
                self.stride, self.padding, self.dilation, self.groups, self.padding_mode = pair(stride), pair(padding), (1, 1), 1, "zeros"
                n = o * i * self.kernel_size[0] * self.kernel_size[1]
                self.weight = 0.3 * np.sin(0.7 * np.arange(n)).reshape(o, i, *self.kernel_size)
                self.bias = 0.1 * np.cos(np.arange(o)) if bias else None
            def params(self): return [("weight", self.weight), ("bias", self.bias)]
        class MaxPool2d(Module):
            def __init__(self, kernel_size, stride=None, padding=0):
                self.kernel_size, self.stride, self.padding = kernel_size, stride if stride is not None else kernel_size, padding
                self.dilation, self.ceil_mode = 1, False
        class AvgPool2d(Module):
            def __init__(self, kernel_size, stride=None, padding=0):
                self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
                self.ceil_mode, self.count_include_pad, self.divisor_override = False, True, None
        class Flatten(Module):
            def __init__(self, start_dim=1, end_dim=-1): self.start_dim, self.end_dim = start_dim, end_dim
        class ReLU(Module): pass
        class Tanh(Module): pass
        class Sigmoid(Module): pass
        class Identity(Module): pass
        class Dropout(Module): pass
        class LeakyReLU(Module):
            def __init__(self, negative_slope=0.01): self.negative_slope = negative_slope
        class Softplus(Module):
            def __init__(self, beta=1.0): self.beta = beta
        """
        try Data(nn.utf8).write(to: dir.appendingPathComponent("fake/torch/nn.py"))
        let program = """
        import sys, json
        sys.path.insert(0, sys.argv[1]); sys.path.insert(0, "fake")
        import torch.nn as nn, wisp_export
        class Block(nn.Module):
            def __init__(self):
                self.body = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.Tanh())
                self.projection = nn.Conv2d(3, 4, 1, stride=2, bias=False)
            def children(self): return [("body", self.body), ("projection", self.projection)]
        model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), Block(), nn.AvgPool2d(3), nn.Flatten(), nn.Linear(4, 2))
        wisp_export.export_torch(model, [2, 6, 6], "torch-cnn", dtype="F64")
        for bad, expected in [(nn.Sequential(nn.Flatten(), nn.Dropout()), "model[1]: Dropout is not a layer Wisp knows"),
                              (nn.Sequential(nn.LeakyReLU(0.2)), "model[0]: LeakyReLU with slope 0.2"),
                              (nn.Sequential(nn.Flatten(0)), "model[0]: Flatten(start_dim=0")]:
            try:
                wisp_export.export_torch(bad, [4], "bad")
                sys.exit(f"accepted: {expected}")
            except ValueError as e:
                assert str(e).startswith(expected), e
        """
        try Data(program.utf8).write(to: dir.appendingPathComponent("torch-export.py"))
        let export = try WispExecutable.shell("python3 torch-export.py \(script) 2>&1", in: dir)
        XCTAssertEqual(export.status, 0, export.stdout)
        let written = try LayerArchitecture.read(path: path("torch-cnn.json"))
        XCTAssertEqual(try LayerModelFile.slots(written), try LayerModelFile.slots(try architecture()))
        let run = try WispExecutable.run(["top", "--model", "torch-cnn.safetensors", "--samples", "5", "--k", "2", "--quiet", "--output", "t.json"], in: dir)
        XCTAssertEqual(run.status, 0, run.stderr)
        let loaded = try LayerModelFile.load(path: path("torch-cnn.safetensors"), architecture: nil)
        XCTAssertTrue(loaded.recordsArchitecture)
        // The first conv's weight is 0.3 sin(0.7 i) in C order [out, in, kh, kw]; the dense weight 0.3 sin(i + 1).
        XCTAssertEqual(loaded.parameters[5], 0.3 * sin(0.7 * 5), accuracy: 1e-15)
        let dense = try XCTUnwrap(try LayerModelFile.slots(written).first { $0.name == "5.weight" })
        XCTAssertEqual(loaded.parameters[dense.offset + 3], 0.3 * sin(4), accuracy: 1e-15)
    }
}
