import Foundation
import XCTest
@testable import Wisp
import WispTestSupport

/// Hostile cases of issue 12 about loaded models, data files and flags: a model file's
/// recorded hyperparameters win over the flags (and contradictions are errors), the record
/// describes the network that ran, layers that differ in having a bias, integer `.npy`, a CSV
/// with a byte-order mark, negative and malformed numbers, a density grid that does not
/// depend on rounding-level nodes, and eigenpairs never called converged above the tolerance.
final class HostileModelTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-hostile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
    func wisp(_ arguments: [String]) throws -> WispExecutable.Outcome { try WispExecutable.run(arguments, in: directory) }

    /// Runs `arguments` with `--output`, expects success, and returns the JSON record.
    func record(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let output = path("out-\(UUID().uuidString).json")
        let r = try wisp(arguments + ["--quiet", "--output", output])
        XCTAssertEqual(r.status, 0, "\(arguments): \(r.stderr)", file: file, line: line)
        let data = try Data(contentsOf: URL(fileURLWithPath: output))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// Asserts a failure with exactly one stderr line `wisp: error: …` naming every word.
    func assertFails(_ arguments: [String], mentioning words: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let output = path("out-\(UUID().uuidString).json")
        let r = try wisp(arguments + ["--quiet", "--output", output])
        XCTAssertNotEqual(r.status, 0, "\(arguments) should fail", file: file, line: line)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "one error line expected, got: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("wisp: error: "), r.stderr, file: file, line: line)
        for w in words { XCTAssertTrue(r.stderr.contains(w), "'\(w)' not in: \(r.stderr)", file: file, line: line) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: output), "no output on failure", file: file, line: line)
    }

    /// A network file as PyTorch writes a state dict: `<n>.weight`, `<n>.bias` for the layers
    /// with a bias, no metadata. Layer l's entries are smooth functions of their index.
    func writeForeignModel(widths: [Int], bias: [Bool], name: String) throws -> String {
        var tensors = [String: SafeTensor]()
        for l in 1..<widths.count {
            let (fanIn, fanOut) = (widths[l - 1], widths[l])
            let w = (0..<(fanIn * fanOut)).map { sin(Double($0 + 7 * l) * 0.37) * 1.3 / Double(fanIn).squareRoot() }
            tensors["\(2 * (l - 1)).weight"] = SafeTensor(dtype: .f32, shape: [fanOut, fanIn], values: w.map { Double(Float($0)) })
            if bias[l - 1] {
                tensors["\(2 * (l - 1)).bias"] = SafeTensor(dtype: .f32, shape: [fanOut], values: (0..<fanOut).map { Double(Float(0.1 * cos(Double($0 + l)))) })
            }
        }
        let p = path(name)
        try SafeTensorsFile(tensors: tensors, metadata: ["format": "pt"]).write(to: p)
        return p
    }

    func eigenvalues(_ record: [String: Any]) -> [Double] { (record["eigenvalues"] as? [Double]) ?? [] }
    func configuration(_ record: [String: Any]) -> [String: Any] { (record["configuration"] as? [String: Any]) ?? [:] }

    // MARK: - A model file's metadata wins

    /// A tanh network saved by Wisp and loaded without --activation is the tanh network: the
    /// same eigenvalues as the run that saved it (before: relu's, silently).
    func testSavedModelKeepsItsActivationAndSigmas() throws {
        let model = path("tanh.safetensors")
        let base = ["top", "--samples", "9", "--k", "2", "--matrix", "ntk"]
        let saved = try record(base + ["--width", "12", "--input-dim", "5", "--activation", "tanh", "--sigma-b2", "0.3",
                                       "--normalization", "layernorm", "--outputs", "3", "--save-model", model])
        let loaded = try record(base + ["--model", model])
        let c = configuration(loaded)
        XCTAssertEqual(c["activation"] as? String, "tanh")
        XCTAssertEqual(c["sigma_b2"] as? Double, 0.3)
        XCTAssertEqual(c["normalization"] as? String, "layernorm")
        let (a, b) = (eigenvalues(saved), eigenvalues(loaded))
        XCTAssertEqual(a.count, 2)
        // Same network, inputs and operator: equal to rounding of the same computation.
        XCTAssertLessThan(DenseReference.relativeError(b, a), 1e-12, "\(a) vs \(b)")
        // The flags that agree with the file are accepted.
        _ = try record(base + ["--model", model, "--activation", "tanh", "--sigma-b2", "0.3"])
    }

    /// A flag that contradicts the file is one error naming the flag, the file and both values.
    func testFlagContradictingTheFileIsAnError() throws {
        let model = path("m.safetensors")
        _ = try record(["top", "--samples", "5", "--width", "6", "--input-dim", "4", "--activation", "erf",
                        "--sigma-b2", "0.25", "--save-model", model])
        let cases: [([String], [String])] = [
            (["--activation", "relu"], ["--activation relu", "m.safetensors", "activation = erf"]),
            (["--sigma-b2", "0.5"], ["--sigma-b2 0.5", "sigma_b2 = 0.25"]),
            (["--sigma-w2", "1"], ["--sigma-w2 1.0", "sigma_w2 = 2.0"]),
            (["--parametrization", "ntk"], ["--parametrization ntk", "parametrization = standard"]),
            (["--normalization", "last-mean"], ["--normalization last-mean", "normalization = none"]),
        ]
        for (flags, words) in cases {
            try assertFails(["top", "--samples", "5", "--model", model] + flags, mentioning: words)
        }
    }

    /// A plain PyTorch state dict records no activation: --activation is required (never a
    /// silent relu); with it, the run records what it used.
    func testForeignFileNeedsActivation() throws {
        let model = try writeForeignModel(widths: [4, 6, 2], bias: [true, true], name: "pt.safetensors")
        try assertFails(["top", "--samples", "5", "--model", model], mentioning: ["pt.safetensors", "does not record its activation", "--activation"])
        let r = try record(["top", "--samples", "5", "--model", model, "--activation", "softplus"])
        XCTAssertEqual(configuration(r)["activation"] as? String, "softplus")
        XCTAssertEqual(configuration(r)["parametrization"] as? String, "standard")
    }

    /// --parametrization ntk (or --beta) on a file that records no parametrization would
    /// rescale its weights and drop its biases (σ_b² = 0): refused, naming what would happen.
    func testNTKParametrizationOfForeignWeightsIsRefused() throws {
        let model = try writeForeignModel(widths: [4, 6, 2], bias: [true, true], name: "pt.safetensors")
        for flags in [["--parametrization", "ntk"], ["--beta", "0"]] {
            try assertFails(["top", "--samples", "5", "--model", model, "--activation", "tanh"] + flags,
                            mentioning: ["pt.safetensors", "records no parametrization", "σ_w/√fan_in"])
        }
        // A Wisp file in the NTK parametrization loads as it was saved.
        let ntk = path("ntk.safetensors")
        let a = try record(["top", "--samples", "6", "--width", "7", "--input-dim", "3", "--beta", "0.5", "--k", "2", "--save-model", ntk])
        let b = try record(["top", "--samples", "6", "--model", ntk, "--k", "2"])
        XCTAssertEqual(configuration(b)["parametrization"] as? String, "ntk")
        XCTAssertLessThan(DenseReference.relativeError(eigenvalues(b), eigenvalues(a)), 1e-12)
    }

    /// The library's resolution: metadata wins, a missing key takes the given value, an
    /// unreadable value is an error naming the file.
    func testHyperparameterResolution() throws {
        let file = ["activation": "tanh", "sigma_w2": "1.5"]
        let r = try NetworkHyperparameters(sigmaB2: 0.2).resolved(metadata: file, file: "f")
        XCTAssertEqual(r, NetworkHyperparameters.Resolved(activation: .tanh, parametrization: .standard, sigmaW2: 1.5, sigmaB2: 0.2, normalization: .none))
        XCTAssertThrowsError(try NetworkHyperparameters().resolved(metadata: ["activation": "swish"], file: "f")) {
            XCTAssertTrue("\($0)".contains("activation = 'swish'"), "\($0)")
        }
        XCTAssertThrowsError(try NetworkHyperparameters().resolved(metadata: ["activation": "relu", "sigma_w2": "nan"], file: "f"))
    }

    // MARK: - The record describes the network that ran

    /// With --model, `configuration` holds the file's layer widths, input dimension, outputs,
    /// biases per layer and hyperparameters (before: the CLI defaults depth 3, width 512,
    /// outputs 1), for every command that builds a network.
    func testRecordDescribesTheLoadedNetwork() throws {
        let model = try writeForeignModel(widths: [5, 7, 3, 2], bias: [true, false, true], name: "mixed.safetensors")
        let common = ["--samples", "6", "--model", model, "--activation", "tanh"]
        let commands: [[String]] = [
            ["top", "--k", "2"], ["moments"], ["density", "--probes", "2", "--steps", "4", "--grid-points", "20"],
            ["align"], ["reduce", "--keep", "2"],
        ]
        for command in commands {
            let c = configuration(try record(command + common))
            XCTAssertEqual(c["widths"] as? [Int], [5, 7, 3, 2], "\(command)")
            XCTAssertEqual(c["depth"] as? Int, 3, "\(command)")
            XCTAssertNil(c["width"] as? Int, "hidden widths differ: \(command)")
            XCTAssertEqual(c["input_dim"] as? Int, 5, "\(command)")
            XCTAssertEqual(c["outputs"] as? Int, 2, "\(command)")
            XCTAssertEqual(c["layer_bias"] as? [Bool], [true, false, true], "\(command)")
            XCTAssertEqual(c["bias"] as? Bool, false, "\(command)")
            XCTAssertEqual(c["activation"] as? String, "tanh", "\(command)")
        }
        // A network built from flags records its widths too.
        let c = configuration(try record(["top", "--samples", "4", "--width", "6", "--depth", "2", "--input-dim", "3", "--no-bias"]))
        XCTAssertEqual(c["widths"] as? [Int], [3, 6, 1])
        XCTAssertEqual(c["width"] as? Int, 6)
        XCTAssertEqual(c["layer_bias"] as? [Bool], [false, false])
    }

    // MARK: - Layers that differ in having a bias

    /// The NTK (all layers and per layer) and the per-sample gradient norms of mixed-bias
    /// networks against the explicit Jacobian (scalar loops, independent of the passes).
    /// Float64 rounding O(ε · depth · fan-in) relative; 1e-12 leaves a wide margin.
    func testMixedBiasKernelsAndGradientNormsAgainstExplicitJacobian() throws {
        let cases = NetworkCase.all.filter { $0.architecture.hasMixedBias }
        XCTAssertGreaterThanOrEqual(cases.count, 8)
        let T = 4
        for c in cases {
            let a = c.architecture
            let net = Network<Double>(architecture: a, seed: 3)
            let data = try Dataset.gaussian(totalSamples: T, dimension: a.inputDimension, seed: 3)
            let jac = try BatchedJacobian(network: net, inputs: data)
            let J = DenseReference.jacobian(architecture: a, parameters: net.parameters, inputs: data)
            let n = T * a.outputs, P = a.parameterCount
            XCTAssertEqual(P, (1...a.depth).reduce(0) { $0 + a.widths[$1] * a.widths[$1 - 1] + (a.hasBias($1) ? a.widths[$1] : 0) })
            func gram(_ columns: Range<Int>) -> [Double] {
                var k = [Double](repeating: 0, count: n * n)
                for i in 0..<n { for j in 0..<n { for p in columns { k[i * n + j] += J[i * P + p] * J[j * P + p] } } }
                return k
            }
            XCTAssertLessThan(DenseReference.relativeError(jac.tangentKernel(), gram(0..<P)), 1e-12, "\(c)")
            for l in 1...a.depth {
                let range = a.weightOffset(l)..<(a.weightOffset(l) + a.layerParameterCount(l))
                XCTAssertLessThan(DenseReference.relativeError(jac.tangentKernel(layers: [l]), gram(range)), 1e-12, "\(c) layer \(l)")
            }
            let norms = (0..<n).map { i in (0..<P).reduce(0.0) { $0 + J[i * P + $1] * J[i * P + $1] } }
            XCTAssertLessThan(DenseReference.relativeError(jac.squaredGradientNorms(), norms), 1e-12, "\(c)")
        }
    }

    /// A mixed-bias network survives save → load: the same θ, no `.bias` tensor for a layer
    /// without one, PyTorch's names; and the explicit Jacobian of the loaded file against
    /// central differences (the layout of θ is the one the passes use).
    func testMixedBiasSaveLoadRoundTrip() throws {
        let a = try Architecture(widths: [3, 4, 5, 2], activation: .softplus, layerBias: [false, true, false], sigmaB2: 0.1)
        let net = Network<Double>(architecture: a, seed: 11)
        let file = path("mixed.safetensors")
        try net.save(safetensors: file)
        let stored = try SafeTensorsFile.read(path: file)
        XCTAssertEqual(Set(stored.tensors.keys), ["0.weight", "2.weight", "2.bias", "4.weight"])
        let back = try Network<Double>.load(safetensors: file, given: NetworkHyperparameters())
        XCTAssertEqual(back.architecture, a)
        XCTAssertEqual(back.parameters, net.parameters)
        let data = try Dataset.gaussian(totalSamples: 3, dimension: 3, seed: 1)
        let J = DenseReference.jacobian(architecture: a, parameters: back.parameters, inputs: data)
        let fd = DenseReference.finiteDifferenceJacobian(architecture: a, parameters: back.parameters, inputs: data)
        XCTAssertLessThan(DenseReference.relativeError(J, fd), 1e-7)
    }

    /// The mean-field theory has one σ_b² for every layer: a mixed-bias network is "not
    /// covered", with the reason, never predicted as if it had all or no biases.
    func testMixedBiasTheoryIsNotCovered() throws {
        let a = try Architecture(widths: [50, 50, 50, 1], activation: .tanh, layerBias: [true, false, true], sigmaB2: 0.1)
        XCTAssertThrowsError(try MeanFieldPrediction(architecture: a, samples: 10)) { XCTAssertTrue("\($0)".contains("not covered"), "\($0)") }
        XCTAssertThrowsError(try OrderParameters(architecture: a)) { XCTAssertTrue("\($0)".contains("not covered"), "\($0)") }
        var ntk = a
        ntk.parametrization = .ntk
        XCTAssertThrowsError(try LimitingNTK.gram(architecture: ntk, inputs: [Double](repeating: 0.5, count: 100), samples: 2)) {
            XCTAssertTrue("\($0)".contains("not covered"), "\($0)")
        }
    }

    /// A PyTorch model with `bias=False` on some layers runs end to end (before: refused), and
    /// its Fisher λ_max equals the NTK's (same nonzero spectrum) to the solver tolerance.
    func testMixedBiasModelThroughTheCLI() throws {
        let model = try writeForeignModel(widths: [4, 9, 6, 3], bias: [false, true, false], name: "nobias.safetensors")
        let common = ["--samples", "7", "--model", model, "--activation", "relu", "--k", "2", "--tol", "1e-10"]
        let f = try record(["top", "--matrix", "fisher"] + common)
        let k = try record(["top", "--matrix", "ntk"] + common)
        XCTAssertEqual(f["parameters"] as? Int, 4 * 9 + 9 * 6 + 6 + 6 * 3)
        XCTAssertLessThan(DenseReference.relativeError(eigenvalues(f), eigenvalues(k)), 1e-9)
    }

    // MARK: - Integer .npy

    /// Every integer dtype and bool round-trips exactly, extremes included.
    func testIntegerNPYRoundTripEveryDType() throws {
        let cases: [(NPYDType, [Double])] = [
            (.int8, [-128, -1, 0, 127]), (.int16, [-32768, 5, 32767]), (.int32, [-2147483648, 7, 2147483647]),
            (.int64, [-9007199254740992, 3, 9007199254740992, -0x1p63]), (.uint8, [0, 255]), (.uint16, [0, 65535]),
            (.uint32, [0, 4294967295]), (.uint64, [0, 9007199254740993.0.nextDown, 0x1p64.nextDown]), (.bool, [0, 1, 1]),
        ]
        for (dtype, values) in cases {
            let data = NPY.encode(values: values, shape: [values.count], dtype: dtype)
            XCTAssertEqual(try NPY.decode(data, name: "x.npy"), NPYArray(shape: [values.count], dtype: dtype, values: values), "\(dtype)")
            XCTAssertEqual(try NPY.decode(data, name: "x.npy", rows: 1..<2).values, [values[1]], "\(dtype)")
        }
        // numpy writes one-byte types with '|'; '<' and '=' mean the same for one byte.
        for descr in ["<u1", "=i1", "<b1"] {
            XCTAssertNotNil(NPYDType(descr: descr), descr)
        }
    }

    /// An int64 no double equals (2⁵³ + 1) and a bool byte other than 0/1 are errors naming
    /// the file and the element, never a rounded value.
    func testUnrepresentableIntegersAreErrors() throws {
        var bytes = NPY.encode(values: [1, 2], shape: [2], dtype: .int64)
        bytes.replaceSubrange((bytes.count - 8)..<bytes.count, with: withUnsafeBytes(of: (Int64(1) << 53 + 1).littleEndian) { Data($0) })
        XCTAssertThrowsError(try NPY.decode(bytes, name: "big.npy")) {
            XCTAssertTrue("\($0)".contains("big.npy") && "\($0)".contains("element 1") && "\($0)".contains("9007199254740993"), "\($0)")
        }
        var b = NPY.encode(values: [1, 0], shape: [2], dtype: .bool)
        b[b.count - 1] = 2
        XCTAssertThrowsError(try NPY.decode(b, name: "flags.npy")) { XCTAssertTrue("\($0)".contains("flags.npy"), "\($0)") }
        XCTAssertThrowsError(try NPY.write(values: [1.5], shape: [1], dtype: .int32, to: path("x.npy")))
    }

    /// numpy's default labels (int64) and int32/uint8 inputs through the CLI give the same
    /// result as the same values stored as float64.
    func testIntegerLabelsAndInputsThroughTheCLI() throws {
        let T = 12, d = 5
        let inputs = (0..<(T * d)).map { Double(($0 * 7) % 11) - 5 }
        let labels = (0..<T).map { Double($0 % 3) }
        try NPY.write(values: inputs, shape: [T, d], dtype: .float64, to: path("x64.npy"))
        try NPY.write(values: inputs, shape: [T, d], dtype: .int32, to: path("x32.npy"))
        try NPY.write(values: labels, shape: [T], dtype: .float64, to: path("y64.npy"))
        try NPY.write(values: labels, shape: [T], dtype: .int64, to: path("yint.npy"))
        try NPY.write(values: labels, shape: [T], dtype: .uint8, to: path("yu8.npy"))
        let base = ["top", "--width", "8", "--k", "2", "--matrix", "ntk"]
        let reference = eigenvalues(try record(base + ["--inputs", path("x64.npy"), "--labels", path("y64.npy")]))
        for (x, y) in [("x32.npy", "yint.npy"), ("x64.npy", "yu8.npy")] {
            XCTAssertEqual(eigenvalues(try record(base + ["--inputs", path(x), "--labels", path(y)])), reference, "\(x) \(y)")
        }
    }

    // MARK: - CSV with a byte-order mark

    /// A BOM before a headerless first row keeps that row as data; before a header, it is not
    /// part of the first column's name.
    func testCSVByteOrderMark() throws {
        let bom = Data([0xEF, 0xBB, 0xBF])
        let plain = try CSV.parse(bom + Data("1,2\n3,4\n5,6\n".utf8), name: "bom.csv")
        XCTAssertNil(plain.header)
        XCTAssertEqual(plain.rows, 3)
        XCTAssertEqual(plain.values, [1, 2, 3, 4, 5, 6])
        let named = try CSV.parse(bom + Data("a,b\r\n1,2\r\n".utf8), name: "bom.csv")
        XCTAssertEqual(named.header, ["a", "b"])
        XCTAssertEqual(try named.columnIndex("a", name: "bom.csv"), 0)
    }

    // MARK: - Negative and malformed numbers

    /// Every numeric flag, given a negative or malformed value, says which flag and what it
    /// accepts (before: "Missing value for '--width'" for -5, and no range for 'abc').
    func testNegativeAndMalformedNumbers() throws {
        let flags: [(String, String, String)] = [
            ("top", "--width", "an integer ≥ 1"), ("top", "--depth", "an integer ≥ 1"), ("top", "--samples", "an integer ≥ 1"),
            ("top", "--k", "an integer ≥ 1"), ("top", "--tol", "a finite number > 0"), ("top", "--seed", "an integer 0…"),
            ("top", "--sigma-w2", "a finite number ≥ 0"), ("top", "--input-dim", "an integer ≥ 1"),
            ("density", "--grid-points", "an integer ≥ 2"), ("density", "--probes", "an integer ≥ 1"),
            ("train", "--lr", "a finite number > 0"), ("train", "--steps", "an integer ≥ 0"),
            ("data-spectrum", "--dense-limit", "an integer ≥ 0"), ("density", "--moments", "an integer ≥ 1"),
        ]
        for (command, flag, range) in flags {
            for value in ["-5", "abc", "1e999", "2.5x"] where !(value == "1e999" && range.contains("integer")) {
                try assertFails([command, flag, value], mentioning: [flag, range, "'\(value)'"])
            }
            try assertFails([command, "\(flag)=-7"], mentioning: [flag, range, "'-7'"])
        }
    }

    /// No numeric flag of any subcommand is left to the parser's message: every option that
    /// takes a value and is not a name, path or list answers 'abc' with its accepted range.
    func testEveryNumericFlagHasADomain() throws {
        let textual: Set<String> = ["--activation", "--parametrization", "--loss", "--normalization", "--inputs", "--targets",
                                    "--labels", "--target-column", "--model", "--precision", "--save-model", "--save-dtype",
                                    "--checkpoint", "--output", "--matrix", "--which", "--save-eigenvectors", "--method",
                                    "--grid", "--kernel", "--eigensolver", "--output-dir", "--at-steps", "--measure", "--density-matrix",
                                    "--density-grid", "--keep", "--sweep", "--variant", "--init", "--save-reduced", "--optimizer",
                                    "--validation-inputs", "--validation-targets", "--validation-labels", "--architecture"]
        for command in ["run", "top", "density", "moments", "theory", "train", "data-spectrum", "align", "reduce"] {
            let help = try wisp(["help", command]).stdout
            var numeric = [String]()
            let words = help.split(whereSeparator: { " \n[],".contains($0) }).map(String.init)
            for (i, w) in words.enumerated() where w.hasPrefix("--") && i + 1 < words.count && words[i + 1].hasPrefix("<") {
                if !textual.contains(w) { numeric.append(w) }
            }
            XCTAssertFalse(numeric.isEmpty, command)
            for flag in Set(numeric) {
                let r = try wisp([command, flag, "abc", "--quiet"])
                XCTAssertNotEqual(r.status, 0, "\(command) \(flag)")
                XCTAssertTrue(r.stderr.contains("\(flag) must be "), "\(command) \(flag): \(r.stderr)")
            }
        }
    }

    /// A negative value where one is legal reaches the parser (before: "Missing value").
    func testLegalNegativeValueIsAccepted() throws {
        let r = try record(["density", "--method", "kpm", "--lower-bound", "-0.5", "--width", "6", "--depth", "2",
                            "--samples", "5", "--moments", "16", "--probes", "2", "--grid", "linear", "--grid-points", "20"])
        XCTAssertEqual(r["command"] as? String, "density")
    }

    // MARK: - A density grid independent of rounding-level nodes

    /// Nodes whose weights are at rounding level (Lanczos past the rank of F: ~1e-35, at
    /// positions that differ by rank count) do not move the grid; their mass is negligible.
    func testDensityGridIgnoresRoundingLevelNodes() throws {
        let nodes = [2.0, 3.0, 40.0], weights = [0.5, 0.3, 0.2]
        let settings = DensitySettings(scale: .log, points: 50)
        let clean = try SpectralDensity(nodes: nodes, weights: weights, settings: settings)
        for ghost in [1e-3, 0.07, 0.16, 1e3] {
            let noisy = try SpectralDensity(nodes: nodes + [ghost], weights: weights + [3e-35], settings: settings)
            XCTAssertEqual(noisy.grid, clean.grid, "ghost at \(ghost)")
            XCTAssertLessThan(DenseReference.relativeError(noisy.density, clean.density), 1e-30)
        }
        // A node with a real weight still extends the grid.
        let real = try SpectralDensity(nodes: nodes + [0.01], weights: [0.5, 0.3, 0.1999, 1e-4], settings: settings)
        XCTAssertLessThan(real.grid[0], 0.01)
    }

    // MARK: - Converged means the tolerance was met

    /// An operator whose passes have unit roundoff 1e-6 (like Float32): with tol 1e-12 the
    /// solver stops at the floor 100·ε·‖A‖ and reports the pairs as not converged, at the
    /// floor (before: converged).
    func testPairAboveToleranceIsNotConverged() throws {
        final class Rounded: LinearOperator {
            let base: MatrixOperator
            init(_ base: MatrixOperator) { self.base = base }
            var space: VectorSpace { base.space }
            var unitRoundoff: Double { 1e-6 }
            func apply(_ x: UnsafePointer<Double>, into y: UnsafeMutablePointer<Double>) {
                base.apply(x, into: y)
                // Perturb at the stated roundoff, deterministically.
                for i in 0..<space.localDimension { y[i] *= 1 + 1e-6 * sin(Double(i) * 12.9898 + x[i] * 78.233) }
            }
        }
        let op = Rounded(MatrixOperator(diagonal: (1...60).map { Double($0) * 0.5 }))
        let pairs = try Lanczos.solve(op, settings: LanczosSettings(count: 2, tolerance: 1e-12, maxApplications: 2000))
        XCTAssertGreaterThan(pairs.residualFloor, 0)
        for i in 0..<2 {
            let met = pairs.residuals[i] <= 1e-12 * abs(pairs.values[i])
            XCTAssertEqual(pairs.converged[i], met, "pair \(i): residual \(pairs.residuals[i])")
            if !met { XCTAssertEqual(pairs.atRoundingFloor[i], pairs.residuals[i] <= pairs.residualFloor) }
        }
        XCTAssertFalse(pairs.allConverged)
    }

    /// float32 `top` with --tol 1e-8: a warning up front, the floor in the JSON, the pairs not
    /// converged and a non-zero exit; without --tol the default is the float32 floor and it
    /// converges honestly (every residual ≤ tol·|θ|).
    func testFloat32TopReportsTheFloor() throws {
        let base = ["top", "--method", "lanczos", "--width", "32", "--samples", "23", "--k", "2", "--precision", "float32", "--quiet"]
        let output = path("f32.json")
        let r = try wisp(base + ["--tol", "1e-8", "--output", output])
        XCTAssertNotEqual(r.status, 0)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 2, r.stderr)
        XCTAssertTrue(lines.first?.hasPrefix("wisp: warning: --tol 1e-08 is below the rounding floor") ?? false, r.stderr)
        XCTAssertTrue(lines.last?.contains("rounding floor") ?? false, r.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output))) as? [String: Any])
        XCTAssertEqual(json["tolerance_below_floor"] as? Bool, true)
        XCTAssertEqual(json["converged"] as? [Bool], [false, false])
        XCTAssertGreaterThan(json["residual_floor"] as? Double ?? 0, 0)

        let ok = try record(Array(base.dropLast()))
        let tol = try XCTUnwrap(ok["tolerance"] as? Double)
        XCTAssertEqual(tol, 100 * Double(Float.ulpOfOne))
        for (value, residual) in zip(eigenvalues(ok), ok["residuals"] as? [Double] ?? []) {
            XCTAssertLessThanOrEqual(residual, tol * abs(value))
        }
    }
}
