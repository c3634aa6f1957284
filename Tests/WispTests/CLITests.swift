import Foundation
import XCTest
@testable import Wisp
import WispTestSupport

/// The `wisp` executable end to end: outputs and their fields, determinism, and one clear
/// error line with a non-zero exit (and no output file) for every kind of bad input.
final class CLITests: XCTestCase {
    var directory: URL!
    let small = ["--width", "24", "--samples", "12", "--quiet"]

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// Runs the `wisp` built next to this test bundle in the test's directory.
    func wisp(_ arguments: [String]) throws -> WispExecutable.Outcome { try WispExecutable.run(arguments, in: directory) }

    /// Asserts a failure: non-zero exit, exactly one stderr line that mentions `words`, and
    /// no JSON written.
    func assertFails(_ arguments: [String], mentioning words: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let output = path("out-\(UUID().uuidString).json")
        let r = try wisp(arguments + ["--output", output])
        XCTAssertNotEqual(r.status, 0, "\(arguments) should fail", file: file, line: line)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "one error line expected, got: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("wisp: error: "), r.stderr, file: file, line: line)
        for w in words { XCTAssertTrue(r.stderr.contains(w), "'\(w)' not in: \(r.stderr)", file: file, line: line) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: output), "no output on failure", file: file, line: line)
    }

    func json(_ file: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as! [String: Any]
    }

    func testTopWritesEigenvaluesResidualsAndRecord() throws {
        let out = path("top.json")
        let r = try wisp(["top", "--k", "3"] + small + ["--output", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        let j = try json(out)
        let values = j["eigenvalues"] as! [Double], residuals = j["residuals"] as! [Double]
        XCTAssertEqual(values.count, 3)
        XCTAssertEqual(values, values.sorted(by: >))
        for (v, res) in zip(values, residuals) { XCTAssertLessThanOrEqual(res, 1e-8 * v) }
        XCTAssertEqual(j["wisp_version"] as? String, wispVersion)
        // The commit the binary was built from (BuildInfo plugin) and the host it ran on.
        XCTAssertEqual(j["wisp_commit"] as? String, wispBuildCommit)
        XCTAssertTrue(wispBuildCommit == "unknown" || wispBuildCommit.range(of: "^[0-9a-f]{40}(-dirty)?$", options: .regularExpression) != nil, wispBuildCommit)
        XCTAssertEqual((j["machine"] as? [String: Any])?["host"] as? String, ProcessInfo.processInfo.hostName)
        XCTAssertNotNil(j["peak_memory_bytes"])
        let timings = j["timings"] as! [String: Any]
        for key in ["total_seconds", "operator_seconds", "operator_applications"] { XCTAssertNotNil(timings[key], key) }
        let config = j["configuration"] as! [String: Any]
        XCTAssertEqual(config["width"] as? Int, 24)
        XCTAssertEqual(j["parameters"] as? Int, 24 * 24 + 24 + 24 * 24 + 24 + 24 + 1)
    }

    /// Every measurement carries the mean-field predictions and the measured/predicted ratios;
    /// configurations the theory does not cover say why.
    func testTheoryBlocks() throws {
        let out = path("t.json")
        XCTAssertEqual(try wisp(["top", "--width", "64", "--samples", "16", "--quiet", "--matrix", "ntk", "--output", out]).status, 0)
        let theory = try json(out)["theory"] as! [String: Any]
        XCTAssertEqual(theory["covered"] as? Bool, true)
        let predictions = theory["predictions"] as! [String: Double], ratios = theory["measured_over_predicted"] as! [String: Double]
        let measured = (try json(out)["eigenvalues"] as! [Double])[0]
        XCTAssertEqual(ratios["lambda_max"]!, measured / predictions["lambda_max"]!, accuracy: 1e-12)
        let theoryOut = path("theory.json")
        let r = try wisp(["theory", "--width", "64", "--samples", "16", "--normalization", "last-mean", "--output", theoryOut])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("λ_max lower bound"), r.stdout)
        let inputs = path("x.npy")
        try NPY.write(values: (0..<64).map { Double($0 % 7) }, shape: [16, 4], dtype: .float64, to: inputs)
        let m = path("m.json")
        XCTAssertEqual(try wisp(["moments", "--inputs", inputs, "--width", "8", "--quiet", "--output", m]).status, 0)
        let uncovered = try json(m)["theory"] as! [String: Any]
        XCTAssertEqual(uncovered["covered"] as? Bool, false)
        XCTAssertTrue((uncovered["reason"] as! String).contains("Gaussian inputs"))
        try assertFails(["theory", "--parametrization", "ntk", "--width", "16", "--samples", "8"], mentioning: ["theory does not cover"])
    }

    func testDensityWritesJSONCSVAndSVG() throws {
        let out = path("d.json")
        let r = try wisp(["density", "--method", "slq", "--probes", "4", "--steps", "10"] + small + ["--output", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        let j = try json(out)
        XCTAssertEqual((j["grid"] as! [Double]).count, 400)
        XCTAssertEqual((j["density"] as! [Double]).count, 400)
        XCTAssertEqual((j["moments"] as! [[String: Any]]).count, 4)
        XCTAssertEqual(j["probes"] as? Int, 4)
        // SLQ's measure is in the record: 4 probes × 10 Gauss nodes and the null-space node at 0,
        // weights summing to 1, and its moments are the record's moments (the same sums, so to a
        // few ε relative; 1e-12 leaves room for the summation order).
        let nodes = try XCTUnwrap(j["nodes"] as? [Double]), weights = try XCTUnwrap(j["weights"] as? [Double])
        XCTAssertEqual(nodes.count, 4 * 10 + 1)
        XCTAssertEqual(weights.count, nodes.count)
        XCTAssertEqual(weights.reduce(0, +), 1, accuracy: 1e-12)
        for m in j["moments"] as! [[String: Any]] {
            let p = m["order"] as! Int, estimate = m["estimate"] as! Double
            let fromMeasure = zip(nodes, weights).reduce(0) { $0 + $1.1 * pow($1.0, Double(p)) }
            XCTAssertEqual(fromMeasure, estimate, accuracy: 1e-12 * abs(estimate), "tr(F^\(p))/P")
        }
        XCTAssertTrue(try String(contentsOfFile: path("d.csv"), encoding: .utf8).contains("lambda,density"))
        XCTAssertTrue(try String(contentsOfFile: path("d.svg"), encoding: .utf8).hasPrefix("<svg"))
    }

    func testMomentsFields() throws {
        let out = path("m.json")
        XCTAssertEqual(try wisp(["moments"] + small + ["--output", out]).status, 0)
        let j = try json(out)
        for key in ["trace", "mean_eigenvalue", "second_moment", "parameters"] { XCTAssertNotNil(j[key], key) }
        XCTAssertEqual((j["trace"] as! Double) / Double(j["parameters"] as! Int), j["mean_eigenvalue"] as! Double, accuracy: 1e-15)
    }

    func testDefaultJobRunsWithoutArguments() throws {
        let r = try wisp(["run", "--width", "32", "--samples", "16", "--quiet", "--probes", "3", "--steps", "8"])
        XCTAssertEqual(r.status, 0, r.stderr)
        for word in ["λ_max", "residual", "mean λ", "density.svg"] { XCTAssertTrue(r.stdout.contains(word), word) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("wisp-output/run.json")))
    }

    /// Same seed → identical numbers; a different seed → different ones.
    func testDeterminism() throws {
        var results = [[Double]]()
        for seed in ["1", "1", "2"] {
            let out = path("s\(results.count).json")
            XCTAssertEqual(try wisp(["top", "--k", "2", "--seed", seed] + small + ["--output", out]).status, 0)
            results.append(try json(out)["eigenvalues"] as! [Double])
        }
        XCTAssertEqual(results[0], results[1])
        XCTAssertNotEqual(results[0], results[2])
    }

    /// --save-model then --model reproduces the spectrum (F64 exactly; F32 to float rounding).
    func testSafetensorsRoundTripThroughCLI() throws {
        let model = path("net.safetensors"), a = path("a.json"), b = path("b.json"), c = path("c.json")
        XCTAssertEqual(try wisp(["top"] + small + ["--save-model", model, "--output", a]).status, 0)
        XCTAssertEqual(try wisp(["top", "--samples", "12", "--quiet", "--model", model, "--output", b]).status, 0)
        XCTAssertEqual(try json(a)["eigenvalues"] as! [Double], try json(b)["eigenvalues"] as! [Double])
        let model32 = path("net32.safetensors")
        XCTAssertEqual(try wisp(["top"] + small + ["--save-model", model32, "--save-dtype", "f32"]).status, 0)
        XCTAssertEqual(try wisp(["top", "--samples", "12", "--quiet", "--model", model32, "--output", c]).status, 0)
        let x = (try json(a)["eigenvalues"] as! [Double])[0], y = (try json(c)["eigenvalues"] as! [Double])[0]
        XCTAssertEqual(x, y, accuracy: 1e-5 * x)
    }

    func testBadFlagValues() throws {
        try assertFails(["top", "--activation", "swish"], mentioning: ["swish", "--activation"])
        try assertFails(["top", "--width", "0"], mentioning: ["--width", "≥ 1"])
        try assertFails(["top", "--samples", "0", "--width", "8"], mentioning: ["--samples"])
        try assertFails(["top", "--depth", "0", "--width", "8"], mentioning: ["--depth"])
        try assertFails(["top", "--matrix", "laplacian"], mentioning: ["laplacian"])
        try assertFails(["top", "--matrix", "ntk", "--k", "13"] + small, mentioning: ["--k 13 exceeds the matrix dimension 12"])
        try assertFails(["top", "--sigma-w2", "nan"] + small, mentioning: ["--sigma-w2"])
        try assertFails(["top", "--bogus"], mentioning: ["--bogus"])
        try assertFails(["density", "--probes", "0"] + small, mentioning: ["--probes"])
    }

    func testBadInputFiles() throws {
        try assertFails(["top", "--inputs", path("missing.npy")] + ["--quiet"], mentioning: ["missing.npy"])
        // NaN in inputs.
        let nan = path("nan.npy")
        try NPY.write(values: [1, 2, .nan, 4, 5, 6], shape: [3, 2], dtype: .float64, to: nan)
        try assertFails(["top", "--inputs", nan, "--width", "4", "--quiet"], mentioning: ["nan"])
        // Inf in inputs.
        let inf = path("inf.npy")
        try NPY.write(values: [1, 2, 3, .infinity], shape: [2, 2], dtype: .float32, to: inf)
        try assertFails(["top", "--inputs", inf, "--width", "4", "--quiet"], mentioning: ["inf"])
        // Truncated npy.
        let good = NPY.encode(values: Array(repeating: 0.5, count: 12), shape: [6, 2], dtype: .float64)
        let truncated = path("trunc.npy")
        try good.prefix(good.count - 5).write(to: URL(fileURLWithPath: truncated))
        try assertFails(["top", "--inputs", truncated, "--width", "4", "--quiet"], mentioning: ["truncated"])
        // 1-D inputs.
        let flat = path("flat.npy")
        try NPY.write(values: [1, 2, 3], shape: [3], dtype: .float64, to: flat)
        try assertFails(["top", "--inputs", flat, "--quiet"], mentioning: ["2-D"])
        // More samples than rows.
        let rows = path("rows.npy")
        try NPY.write(values: Array(repeating: 0.1, count: 8), shape: [4, 2], dtype: .float64, to: rows)
        try assertFails(["top", "--inputs", rows, "--samples", "5", "--width", "4", "--quiet"], mentioning: ["exceeds the 4 rows"])
    }

    func testBadModelFiles() throws {
        let model = path("m.safetensors")
        let arch = try Architecture(widths: [5, 7, 1])
        try Network<Double>(architecture: arch, seed: 1).save(safetensors: model)
        // Shapes that disagree with the inputs.
        let inputs = path("x.npy")
        try NPY.write(values: Array(repeating: 0.3, count: 12), shape: [4, 3], dtype: .float64, to: inputs)
        try assertFails(["top", "--model", model, "--inputs", inputs, "--quiet"], mentioning: ["3 features", "takes 5"])
        // Flags that contradict the file.
        try assertFails(["top", "--model", model, "--width", "9", "--quiet"], mentioning: ["--width", "--model"])
        // Truncated and corrupt files.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: model))
        let cut = path("cut.safetensors")
        try bytes.prefix(bytes.count - 3).write(to: URL(fileURLWithPath: cut))
        try assertFails(["top", "--model", cut, "--samples", "4", "--quiet"], mentioning: ["cut.safetensors"])
        let junk = path("junk.safetensors")
        try Data("not a safetensors file at all".utf8).write(to: URL(fileURLWithPath: junk))
        try assertFails(["top", "--model", junk, "--samples", "4", "--quiet"], mentioning: ["junk.safetensors"])
        // NaN weights.
        var theta = Network<Double>(architecture: arch, seed: 1).parameters
        theta[3] = .nan
        let bad = path("nan.safetensors")
        try SafeTensorsFile(tensors: ["0.weight": SafeTensor(dtype: .f64, shape: [7, 5], values: Array(theta[0..<35])),
                                      "0.bias": SafeTensor(dtype: .f64, shape: [7], values: Array(theta[35..<42])),
                                      "2.weight": SafeTensor(dtype: .f64, shape: [1, 7], values: Array(theta[42..<49])),
                                      "2.bias": SafeTensor(dtype: .f64, shape: [1], values: [theta[49]])]).write(to: bad)
        try assertFails(["top", "--model", bad, "--samples", "4", "--quiet"], mentioning: ["0.weight", "nan"])
        // A layer chain that does not connect.
        let broken = path("broken.safetensors")
        try SafeTensorsFile(tensors: ["0.weight": SafeTensor(dtype: .f64, shape: [7, 5], values: Array(repeating: 0.1, count: 35)),
                                      "2.weight": SafeTensor(dtype: .f64, shape: [1, 6], values: Array(repeating: 0.1, count: 6))]).write(to: broken)
        try assertFails(["top", "--model", broken, "--samples", "4", "--quiet"], mentioning: ["takes 6 inputs"])
    }

    func testUnwritableOutputFailsBeforeComputing() throws {
        let blocker = path("file")
        try Data().write(to: URL(fileURLWithPath: blocker))
        let r = try wisp(["top"] + small + ["--output", blocker + "/out.json"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("out.json") || r.stderr.contains(blocker), r.stderr)
        XCTAssertEqual(r.stdout, "", "nothing computed before the output path was checked")
    }

    /// The loss Hessian from the command line: indefinite, solved at the largest magnitude, with
    /// the loss and end recorded; unsupported combinations fail with one line.
    func testHessianCommand() throws {
        let out = path("hessian.json")
        let r = try wisp(["top", "--width", "12", "--samples", "8", "--outputs", "3", "--quiet", "--matrix", "hessian",
                          "--which", "largest-magnitude", "--k", "2", "--loss", "cross-entropy", "--activation", "normalized-softplus",
                          "--beta", "0.1", "--output", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        let j = try json(out)
        let configuration = j["configuration"] as! [String: Any]
        XCTAssertEqual(configuration["loss"] as? String, "cross-entropy")
        XCTAssertEqual(configuration["parametrization"] as? String, "ntk")
        XCTAssertEqual(configuration["sigma_b2"] as? Double ?? 0, 0.01, accuracy: 1e-15)
        XCTAssertEqual((j["settings"] as! [String: Any])["which"] as? String, "largest-magnitude")
        XCTAssertEqual((j["theory"] as! [String: Any])["covered"] as? Bool, false)
        XCTAssertEqual((j["eigenvalues"] as! [Double]).count, 2)
        try assertFails(["top", "--matrix", "hessian", "--normalization", "layernorm"] + small, mentioning: ["normalization"])
        try assertFails(["top", "--matrix", "ggn", "--loss", "cross-entropy"] + small, mentioning: ["cross-entropy", "2 outputs"])
        try assertFails(["top", "--loss", "hinge"] + small, mentioning: ["hinge"])
        try assertFails(["top", "--beta", "-1"] + small, mentioning: ["--beta"])
    }

    /// `wisp train` end to end: the time series and figures, the recorded settings, and one
    /// error line for bad training flags.
    func testTrainCommand() throws {
        let dir = path("train")
        let r = try wisp(["train", "--width", "12", "--samples", "16", "--input-dim", "4", "--outputs", "3", "--quiet",
                          "--activation", "softplus", "--steps", "10", "--every", "5", "--lr", "0.05",
                          "--measure", "moments,grid,density", "--top", "4", "--grid", "1,2", "--grid-points", "3",
                          "--probes", "3", "--slq-steps", "6", "--output-dir", dir])
        XCTAssertEqual(r.status, 0, r.stderr)
        for file in ["train.json", "train.csv", "loss.csv", "loss.svg", "moments.svg", "spectra.svg", "spectra.csv", "spectra-nodes.csv",
                     "grid-step-000000005.csv", "grid-step-000000005.svg", "rayleigh-step-000000010.csv",
                     "spectrum-step-000000000.svg", "models/step-000000010.safetensors"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/" + file), file)
        }
        // Every CSV starts with its column names (pandas.read_csv, numpy.genfromtxt(names=True)
        // read it as is): no comment line, names that are not numbers, as many fields on every row.
        for file in try FileManager.default.contentsOfDirectory(atPath: dir) where file.hasSuffix(".csv") {
            let lines = try String(contentsOfFile: dir + "/" + file, encoding: .utf8).split(separator: "\n")
            let names = lines[0].split(separator: ",", omittingEmptySubsequences: false)
            XCTAssertFalse(lines[0].hasPrefix("#"), file)
            XCTAssertTrue(names.allSatisfy { Double(String($0)) == nil && !$0.isEmpty }, "\(file): \(lines[0])")
            for row in lines.dropFirst() { XCTAssertEqual(row.split(separator: ",", omittingEmptySubsequences: false).count, names.count, "\(file): \(row)") }
        }
        let j = try json(dir + "/train.json")
        XCTAssertEqual(j["command"] as? String, "train")
        XCTAssertEqual((j["series"] as! [Any]).count, 3)
        // Each checkpoint's spectrum keeps SLQ's measure (3 probes × 6 nodes, the null-space node), weights summing to 1.
        for c in j["series"] as! [[String: Any]] {
            let s = c["spectrum"] as! [String: Any], weights = s["weights"] as! [Double]
            XCTAssertEqual((s["nodes"] as! [Double]).count, 3 * 6 + 1)
            XCTAssertEqual(weights.count, 3 * 6 + 1)
            XCTAssertEqual(weights.reduce(0, +), 1, accuracy: 64 * Double.ulpOfOne)
        }
        XCTAssertEqual((j["loss_curve"] as! [Any]).count, 10)
        XCTAssertEqual((j["training"] as! [String: Any])["learning_rate"] as? Double, 0.05)
        let csvLines = try String(contentsOfFile: dir + "/train.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csvLines.count, 4)
        XCTAssertTrue(csvLines[0].hasPrefix("step,loss,accuracy,gradient_norm,ggn_m1"))
        try assertFails(["train", "--lr", "0"] + small, mentioning: ["--lr"])
        try assertFails(["train", "--measure", "moments,everything"] + small, mentioning: ["everything"])
        try assertFails(["train", "--batch-size", "0"] + small, mentioning: ["--batch-size"])
        try assertFails(["train", "--measure", "grid", "--grid", "2,2"] + small, mentioning: ["--grid"])
        try assertFails(["train", "--measure", "grid", "--grid", "x"] + small, mentioning: ["--grid"])
    }
}
