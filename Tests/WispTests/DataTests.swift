import CLAPACK
import Foundation
import XCTest
@testable import Wisp
import WispTestSupport

/// Real data: the IDX and CSV readers (round trips, the shipped digits and diabetes files,
/// corrupt files), labels, targets, preprocessing against hand computations, the data
/// spectrum against LAPACK on the T × T Gram matrix, and the CLI end to end.
final class DataTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-data-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// The real datasets: the copies in Tests/Data (or $WISP_DATA).
    static let dataDirectory: String = {
        if let env = ProcessInfo.processInfo.environment["WISP_DATA"] { return env }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Data").path
    }()
    var digitsImages: String { Self.dataDirectory + "/digits/digits-images.idx3-ubyte" }
    var digitsLabels: String { Self.dataDirectory + "/digits/digits-labels.idx1-ubyte" }
    var diabetes: String { Self.dataDirectory + "/diabetes/diabetes.csv" }

    func write(_ text: String, _ name: String) throws -> String {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path(name)))
        return path(name)
    }

    /// Asserts that `body` throws a ``WispError`` whose one-line message contains every word.
    func assertError<T>(_ words: [String], file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> T) {
        do {
            _ = try body()
            XCTFail("expected an error mentioning \(words)", file: file, line: line)
        } catch let error as WispError {
            let message = error.description
            XCTAssertFalse(message.contains("\n"), message, file: file, line: line)
            for w in words { XCTAssertTrue(message.contains(w), "'\(w)' not in: \(message)", file: file, line: line) }
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
    }

    // MARK: - IDX

    /// Every IDX dtype survives write → read exactly (values chosen representable in each,
    /// including negatives and the extremes), both whole and by a block of rows; the header is
    /// the big-endian magic and dimensions.
    func testIDXRoundTripEveryDType() throws {
        let shape = [5, 2, 3]
        for dtype in IDXDType.allCases {
            let values: [Double] = (0..<30).map { i in
                switch dtype {
                case .uint8: return Double([0, 1, 16, 128, 255][i % 5])
                case .int8: return Double([-128, -1, 0, 5, 127][i % 5])
                case .int16: return Double([-32768, -300, 0, 7, 32767][i % 5])
                case .int32: return Double([Int(Int32.min), -70000, 0, 9, Int(Int32.max)][i % 5])
                case .float32: return Double(Float(i) * 0.375 - 3)
                case .float64: return sin(Double(i)) * 1e-300 * (i % 2 == 0 ? 1 : 1e300)
                }
            }
            let file = path("a-\(dtype).idx")
            try IDX.write(values: values, shape: shape, dtype: dtype, to: file)
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
            XCTAssertEqual(Array(bytes.prefix(16)), [0, 0, dtype.rawValue, 3, 0, 0, 0, 5, 0, 0, 0, 2, 0, 0, 0, 3])
            XCTAssertEqual(bytes.count, 16 + 30 * dtype.itemSize)
            let whole = try IDX.read(path: file)
            XCTAssertEqual(whole.header, IDX.Header(dtype: dtype, shape: shape, dataOffset: 16))
            XCTAssertEqual(whole.values, values, "\(dtype)")
            XCTAssertEqual(try IDX.read(path: file, rows: 2..<4).values, Array(values[12..<24]), "\(dtype)")
            let opened = try ArrayFile(path: file)
            XCTAssertEqual(opened.format, .idx)
            XCTAssertEqual(opened.rowLength, 6)
            XCTAssertEqual(try opened.read(rows: 4..<5), Array(values[24..<30]))
        }
    }

    /// The shipped digits: 1797 images of 8 × 8 unsigned bytes in 0…16, the first image as in
    /// scikit-learn, and the label counts of `numpy.bincount(load_digits().target)`.
    func testRealDigitsFiles() throws {
        let images = try IDX.read(path: digitsImages)
        XCTAssertEqual(images.header.dtype, .uint8)
        XCTAssertEqual(images.header.shape, [1797, 8, 8])
        XCTAssertEqual(images.values.count, 1797 * 64)
        XCTAssertEqual(images.values.max(), 16)
        XCTAssertEqual(images.values.min(), 0)
        XCTAssertEqual(Array(images.values.prefix(16)), [0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0])
        let labels = try IDX.read(path: digitsLabels)
        XCTAssertEqual(labels.header.shape, [1797])
        var counts = [Int](repeating: 0, count: 10)
        for v in labels.values { counts[Int(v)] += 1 }
        XCTAssertEqual(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])
        // A block of rows reads the same bytes as the whole file.
        XCTAssertEqual(try IDX.read(path: digitsImages, rows: 1000..<1010).values, Array(images.values[64_000..<64_640]))
    }

    /// Truncated, padded and corrupt IDX files: one-line errors naming the file and the problem.
    func testTruncatedAndCorruptIDX() throws {
        let good = IDX.encode(values: (0..<24).map(Double.init), shape: [4, 6], dtype: .int16)
        func file(_ bytes: Data, _ name: String) throws -> String {
            try bytes.write(to: URL(fileURLWithPath: path(name)))
            return path(name)
        }
        let truncated = try file(good.prefix(good.count - 1), "truncated.idx")
        assertError(["truncated.idx", "truncated", "dimensions [4, 6]", "need 48 bytes", "found 47"]) { try IDX.read(path: truncated) }
        assertError(["truncated.idx", "truncated"]) { try ArrayFile(path: truncated) }
        let header = try file(good.prefix(7), "header.idx")
        assertError(["header.idx", "truncated", "2 dimensions"]) { try IDX.read(path: header) }
        let extra = try file(good + Data([1, 2]), "extra.idx")
        assertError(["extra.idx", "2 extra bytes"]) { try IDX.read(path: extra) }
        var badType = good
        badType[2] = 0x07
        let type = try file(badType, "type.idx")
        assertError(["type.idx", "type code 0x07"]) { try ArrayFile(path: type) }
        var noDims = good
        noDims[3] = 0
        let dims = try file(noDims, "dims.idx")
        assertError(["dims.idx", "0 dimensions"]) { try IDX.read(path: dims) }
        let ok = try file(good, "ok.idx")
        assertError(["ok.idx", "rows 3..<5", "outside"]) { try IDX.read(path: ok, rows: 3..<5) }
        // The real digits file cut short.
        let images = try Data(contentsOf: URL(fileURLWithPath: digitsImages))
        let cut = try file(images.prefix(1000), "digits-cut.idx3-ubyte")
        assertError(["digits-cut.idx3-ubyte", "dimensions [1797, 8, 8]", "need 115008 bytes", "found 984"]) { try ArrayFile(path: cut) }
        let unknown = try write("hello", "x.bin")
        assertError(["x.bin", "not a .npy file"]) { try ArrayFile(path: unknown) }
    }

    // MARK: - CSV

    /// Header detection, quoting of names, CRLF, comments and blank lines; columns by name or number.
    func testCSVParsing() throws {
        let withHeader = try CSV.parse(Data("\"a\", b ,c\r\n1,2,3\r\n\r\n# comment\n4.5,-6e-1, 7\n".utf8), name: "h.csv")
        XCTAssertEqual(withHeader.header, ["a", "b", "c"])
        XCTAssertEqual(withHeader.rows, 2)
        XCTAssertEqual(withHeader.values, [1, 2, 3, 4.5, -0.6, 7])
        XCTAssertEqual(try withHeader.columnIndex("c", name: "h.csv"), 2)
        XCTAssertEqual(try withHeader.columnIndex("1", name: "h.csv"), 1)
        let plain = try CSV.parse(Data("1,2\n3,4".utf8), name: "p.csv")
        XCTAssertNil(plain.header)
        XCTAssertEqual(plain.values, [1, 2, 3, 4])
        assertError(["p.csv", "no column 'x'", "no header row"]) { try plain.columnIndex("x", name: "p.csv") }
    }

    /// Parse errors name the file, the line and the column.
    func testCSVErrors() throws {
        assertError(["bad.csv", "line 3 has 2 fields, expected 3"]) { try CSV.parse(Data("a,b,c\n1,2,3\n4,5\n".utf8), name: "bad.csv") }
        assertError(["bad.csv", "line 2, column 2 ('b')", "'x' is not a finite number"]) {
            try CSV.parse(Data("a,b\n1,x\n".utf8), name: "bad.csv")
        }
        assertError(["bad.csv", "line 3, column 1", "'nan'"]) { try CSV.parse(Data("a\n1\nnan\n".utf8), name: "bad.csv") }
        assertError(["bad.csv", "line 2, column 2", "''"]) { try CSV.parse(Data("1,2\n3,\n".utf8), name: "bad.csv") }
        assertError(["bad.csv", "empty"]) { try CSV.parse(Data("\n\n".utf8), name: "bad.csv") }
        assertError(["bad.csv", "no data rows"]) { try CSV.parse(Data("a,b\n".utf8), name: "bad.csv") }
    }

    /// The diabetes CSV: 442 rows, the 10 feature columns as inputs and `target` as the one
    /// target column; the first row as in the file.
    func testDiabetesInputsAndTargetColumn() throws {
        var c = ProblemConfiguration()
        c.samples = nil
        c.inputsPath = diabetes
        c.targetColumns = ["target"]
        let data = try DataLoader.load(c, gaussianDimension: 1, communicator: SerialCommunicator())
        XCTAssertEqual(data.dataset.totalSamples, 442)
        XCTAssertEqual(data.dataset.dimension, 10)
        XCTAssertEqual(data.inputFormat, "csv")
        XCTAssertEqual(data.dataset.values[0], 0.03807590643)
        XCTAssertEqual(data.dataset.values[9], -0.01764612516)
        let targets = try XCTUnwrap(data.targets)
        XCTAssertEqual(targets.columns, 1)
        XCTAssertNil(targets.classes)
        XCTAssertEqual(Array(targets.values.prefix(3)), [151, 75, 141])
        // Column by number; a separate targets file given as the same path.
        c.targetColumns = ["10"]
        c.targetsPath = diabetes
        let again = try DataLoader.load(c, gaussianDimension: 1, communicator: SerialCommunicator())
        XCTAssertEqual(again.dataset.values, data.dataset.values)
        XCTAssertEqual(again.targets?.values, targets.values)
        // Without --target-column the CSV cannot be both.
        c.targetColumns = nil
        assertError(["diabetes.csv", "\(Setting.targetColumns)"]) { try DataLoader.load(c, gaussianDimension: 1, communicator: SerialCommunicator()) }
    }

    // MARK: - Labels and targets

    /// Integer labels → one-hot rows, C = max + 1 or --classes; the first T samples; each
    /// process's block; invalid labels are errors naming the sample.
    func testLabelsOneHot() throws {
        let labels = path("labels.idx")
        try IDX.write(values: [2, 0, 1, 2, 4], shape: [5], dtype: .uint8, to: labels)
        let inputs = path("x.npy")
        try NPY.write(values: (0..<15).map(Double.init), shape: [5, 3], dtype: .float64, to: inputs)
        var c = ProblemConfiguration()
        c.samples = nil
        c.inputsPath = inputs
        c.labelsPath = labels
        let all = try XCTUnwrap(try DataLoader.load(c, gaussianDimension: 1, communicator: SerialCommunicator()).targets)
        XCTAssertEqual(all.columns, 5)
        XCTAssertEqual(all.classes, 5)
        XCTAssertEqual(all.values, [0, 0, 1, 0, 0,  1, 0, 0, 0, 0,  0, 1, 0, 0, 0,  0, 0, 1, 0, 0,  0, 0, 0, 0, 1])
        c.classes = 7
        c.samples = 2
        let two = try XCTUnwrap(try DataLoader.readLocal(c, gaussianDimension: 1, communicator: SerialCommunicator()).targets)
        XCTAssertEqual(two.columns, 7)
        XCTAssertEqual(two.values, [0, 0, 1, 0, 0, 0, 0,  1, 0, 0, 0, 0, 0, 0])
        c.classes = 4
        assertError(["labels.idx", "label 4 of sample 4", "\(Setting.classes) 4"]) { try DataLoader.readLocal(c, gaussianDimension: 1, communicator: SerialCommunicator()) }
        c.classes = nil
        for (bad, word) in [(-1.0, "-1.0"), (1.5, "1.5")] {
            let file = path("bad\(word).npy")
            try NPY.write(values: [0, 1, bad, 0, 1], shape: [5], dtype: .float64, to: file)
            c.labelsPath = file
            assertError(["label \(word) of sample 2", "not a non-negative integer"]) {
                try DataLoader.readLocal(c, gaussianDimension: 1, communicator: SerialCommunicator())
            }
        }
        let short = path("short.npy")
        try NPY.write(values: [0, 1, 1], shape: [3], dtype: .float64, to: short)
        c.labelsPath = short
        assertError(["short.npy has 3 rows", "x.npy have 5"]) { try DataLoader.readLocal(c, gaussianDimension: 1, communicator: SerialCommunicator()) }
        c.labelsPath = labels
        c.targetsPath = inputs
        assertError(["\(Setting.targets) and \(Setting.labels)"]) { try DataLoader.readLocal(c, gaussianDimension: 1, communicator: SerialCommunicator()) }
    }

    /// A Problem with digit labels: C defaults to the 10 classes, file targets replace the
    /// teacher's, and --outputs or a model that disagree are errors.
    func testProblemUsesFileTargets() throws {
        var c = ProblemConfiguration()
        c.width = 8
        c.samples = 20
        c.outputs = nil
        c.inputsPath = digitsImages
        c.labelsPath = digitsLabels
        let problem = try Problem(c)
        XCTAssertEqual(problem.architecture.outputs, 10)
        XCTAssertEqual(problem.architecture.inputDimension, 64)
        let targets = try problem.targets()
        XCTAssertEqual(targets.classes, 10)
        XCTAssertEqual(Array(targets.values[10..<20]), [0, 1, 0, 0, 0, 0, 0, 0, 0, 0])  // sample 1 is a "1"
        c.outputs = 3
        assertError(["\(Setting.outputs) 3", "10 columns"]) { try Problem(c) }
        c.labelsPath = nil
        c.outputs = 2
        XCTAssertTrue(try Problem(c).targets().source.hasPrefix("teacher network"))
    }

    /// Targets from a .npy file (T × 2) with a model file: a model with C = 2 runs, a model
    /// with another C is an error; 3-D .npy inputs are images that --pool accepts.
    func testNPYTargetsImagesAndModelOutputs() throws {
        let images = path("images.npy"), targets = path("y.npy")
        try NPY.write(values: (0..<(6 * 16)).map { Double($0 % 7) }, shape: [6, 4, 4], dtype: .float32, to: images)
        try NPY.write(values: (0..<12).map { Double($0) / 3 }, shape: [6, 2], dtype: .float64, to: targets)
        var c = ProblemConfiguration()
        c.samples = nil
        c.outputs = nil
        c.width = 5
        c.inputsPath = images
        c.targetsPath = targets
        c.pool = 2
        let problem = try Problem(c)
        XCTAssertEqual(problem.architecture.inputDimension, 4)
        XCTAssertEqual(problem.architecture.outputs, 2)
        XCTAssertEqual(try problem.targets().values, (0..<12).map { Double($0) / 3 })
        XCTAssertNil(try problem.targets().classes)
        let two = path("two.safetensors"), three = path("three.safetensors")
        try problem.network().save(safetensors: two)
        var other = c
        other.outputs = 3
        other.targetsPath = nil
        try Problem(other).network().save(safetensors: three)
        var withModel = c
        withModel.modelPath = two
        XCTAssertEqual(try Problem(withModel).architecture.outputs, 2)
        withModel.modelPath = three
        assertError(["three.safetensors", "3 outputs", "2 columns"]) { try Problem(withModel) }
    }

    // MARK: - Preprocessing

    /// Average pooling of a 4 × 4 image by 2 (hand-computed window means); factors that do not
    /// divide the image are errors.
    func testAveragePool() throws {
        let image = (0..<16).map(Double.init) + (0..<16).map { Double($0) * 2 }
        let pooled = try Preprocessing.averagePool(image, rows: 2, height: 4, width: 4, factor: 2)
        // Windows {0,1,4,5}, {2,3,6,7}, {8,9,12,13}, {10,11,14,15}.
        XCTAssertEqual(pooled, [2.5, 4.5, 10.5, 12.5, 5, 9, 21, 25])
        XCTAssertEqual(try Preprocessing.averagePool(image, rows: 2, height: 4, width: 4, factor: 4), [7.5, 15])
        assertError(["\(Setting.pool) 3", "4 × 4"]) { try Preprocessing.averagePool(image, rows: 2, height: 4, width: 4, factor: 3) }
    }

    /// --scale-pixels divides by the global maximum; --standardize gives zero mean and unit
    /// population variance per feature (hand-computed), constant features become 0.
    func testScaleAndStandardize() throws {
        var x: [Double] = [0, 5, 2,
                           4, 5, 4,
                           8, 5, 9]
        let scaled = try Preprocessing(scalePixels: true).applyCollective(&x, rows: 3, columns: 3, totalSamples: 3,
                                                                           communicator: SerialCommunicator())
        XCTAssertEqual(scaled.scaleDivisor, 9)
        let raw: [Double] = [0, 5, 2, 4, 5, 4, 8, 5, 9]
        XCTAssertEqual(x, raw.map { $0 / 9 })
        var y: [Double] = [0, 5.1, 2,
                           4, 5.1, 4,
                           8, 5.1, 9]
        let standardized = try Preprocessing(standardize: true).applyCollective(&y, rows: 3, columns: 3, totalSamples: 3,
                                                                                 communicator: SerialCommunicator())
        XCTAssertEqual(standardized.constantFeatures, [1])
        // Column 0: mean 4, population sd √(32/3); column 2: mean 5, sd √(26/3).
        let s0 = (32.0 / 3).squareRoot(), s2 = (26.0 / 3).squareRoot()
        let expected: [Double] = [-4 / s0, 0, -3 / s2, 0, 0, -1 / s2, 4 / s0, 0, 4 / s2]
        // 1e-15: a few roundings of numbers of order 1.
        for (a, b) in zip(y, expected) { XCTAssertEqual(a, b, accuracy: 1e-15) }
        var negative: [Double] = [1, -2]
        assertError(["\(Setting.scalePixels)", "non-negative", "-2"]) {
            try Preprocessing(scalePixels: true).applyCollective(&negative, rows: 2, columns: 1, totalSamples: 2, communicator: SerialCommunicator())
        }
    }

    /// The loader on the digits: pool 2 gives 4 × 4 images, scale divides by 16, and pooling
    /// commutes with the window means computed by hand from the raw file.
    func testDigitsPreprocessingThroughLoader() throws {
        var c = ProblemConfiguration()
        c.samples = 3
        c.inputsPath = digitsImages
        c.pool = 2
        c.scalePixels = true
        let data = try DataLoader.load(c, gaussianDimension: 1, communicator: SerialCommunicator())
        XCTAssertEqual(data.dataset.dimension, 16)
        XCTAssertEqual(data.imageShape, [4, 4])
        let raw = try IDX.read(path: digitsImages, rows: 0..<3).values
        var pooled = [Double]()
        for t in 0..<3 { for i in 0..<4 { for j in 0..<4 {
            let p = { (r: Int, c: Int) in raw[t * 64 + (2 * i + r) * 8 + 2 * j + c] }
            pooled.append((p(0, 0) + p(0, 1) + p(1, 0) + p(1, 1)) / 4)
        } } }
        let divisor = try XCTUnwrap(data.preprocessing.scaleDivisor)
        XCTAssertEqual(divisor, pooled.max())
        XCTAssertEqual(data.dataset.values, pooled.map { $0 / divisor })
        // Window (0, 1) of image 0 holds the grey levels 5, 13, 13, 15.
        XCTAssertEqual(pooled[1], (5 + 13 + 13 + 15) / 4)
    }

    // MARK: - Data spectrum

    /// Small random data (T > d and T < d): the dense and Lanczos eigenvalues of (1/T) XᵀX and
    /// of the covariance equal the nonzero eigenvalues of the T × T matrices (1/T) X Xᵀ and
    /// (1/T) X_c X_cᵀ formed entry by entry and solved by LAPACK. Tolerances: 1e-12 of λ_max for
    /// the dense path (both sides backward stable, errors ~ d ε ‖A‖); 1e-10 for Lanczos
    /// (converged to a relative residual of 1e-12, eigenvalue error ≤ residual).
    func testDataSpectrumAgainstLAPACKOnRandomData() throws {
        for (T, d) in [(30, 8), (6, 9)] {
            var x = [Double](repeating: 0, count: T * d)
            x.withUnsafeMutableBufferPointer { CounterRandom(seed: 7, stream: .inputs).fillNormal($0, first: 0) }
            for i in x.indices { x[i] = x[i] * Double(1 + i % d) + 0.5 }   // uneven scales and a nonzero mean
            let data = LoadedData(dataset: try Dataset(dimension: d, totalSamples: T, samples: 0..<T, values: x), targets: nil,
                                  imageShape: nil, inputFormat: "test", preprocessing: .init())
            let mean = (0..<d).map { j in (0..<T).reduce(0.0) { $0 + x[$1 * d + j] } / Double(T) }
            func gramEigenvalues(centered: Bool) throws -> [Double] {
                var g = [Double](repeating: 0, count: T * T)
                for s in 0..<T { for t in 0..<T {
                    g[s * T + t] = (0..<d).reduce(0.0) { acc, j in
                        let a = x[s * d + j] - (centered ? mean[j] : 0), b = x[t * d + j] - (centered ? mean[j] : 0)
                        return acc + a * b
                    } / Double(T)
                } }
                return Array(try LAPACK.symmetricEigen(g, n: T).values.reversed())
            }
            let references = [try gramEigenvalues(centered: false), try gramEigenvalues(centered: true)]
            let (dense, _) = try DataSpectrumJob.run(data, settings: DataSpectrumSettings(method: .dense), communicator: SerialCommunicator())
            let (lanczos, _) = try DataSpectrumJob.run(data, settings: DataSpectrumSettings(method: .lanczos, count: 3, tolerance: 1e-12),
                                                       communicator: SerialCommunicator())
            for (i, reference) in references.enumerated() {
                let denseSpectrum = i == 0 ? dense.correlation : dense.covariance
                let lanczosSpectrum = i == 0 ? lanczos.correlation : lanczos.covariance
                let top = reference[0], nonzero = min(T, d) - (i == 1 && T <= d ? 1 : 0)
                XCTAssertEqual(denseSpectrum.eigenvalues.count, d)
                for j in 0..<nonzero { XCTAssertEqual(denseSpectrum.eigenvalues[j], reference[j], accuracy: 1e-12 * top, "T=\(T) d=\(d) \(i) \(j)") }
                for j in nonzero..<d { XCTAssertEqual(denseSpectrum.eigenvalues[j], 0, accuracy: 1e-12 * top) }
                XCTAssertEqual(denseSpectrum.eigenvalues.reduce(0, +), denseSpectrum.trace, accuracy: 1e-12 * top * Double(d))
                XCTAssertEqual(reference.reduce(0, +), denseSpectrum.trace, accuracy: 1e-12 * top * Double(T))
                XCTAssertEqual(lanczosSpectrum.converged, [true, true, true])
                for j in 0..<3 { XCTAssertEqual(lanczosSpectrum.eigenvalues[j], reference[j], accuracy: 1e-10 * top) }
            }
            XCTAssertEqual(dense.gramZeroEigenvalues, max(T - d, 0))
        }
    }

    /// The digits (T = 1797, d = 64): the dense spectrum equals LAPACK on the 1797 × 1797
    /// matrix (1/T) X Xᵀ (tolerance 1e-11 of λ_max: dsyevd on n = 1797 is backward stable to
    /// ~n ε ‖A‖), and Lanczos' top 5 equal the dense ones.
    func testDataSpectrumOnDigitsAgainstLAPACK() throws {
        var c = ProblemConfiguration()
        c.samples = nil
        c.inputsPath = digitsImages
        let data = try DataLoader.load(c, gaussianDimension: 1, communicator: SerialCommunicator())
        let x = data.dataset.values, T = 1797, d = 64
        var g = [Double](repeating: 0, count: T * T)
        x.withUnsafeBufferPointer { xp in
            Double.gemm(transA: false, transB: true, m: T, n: T, k: d, alpha: 1 / Double(T), a: xp.baseAddress!, lda: d,
                        b: xp.baseAddress!, ldb: d, beta: 0, c: &g, ldc: T)
        }
        let reference = Array(try LAPACK.symmetricEigen(g, n: T).values.reversed())
        let (dense, _) = try DataSpectrumJob.run(data, settings: DataSpectrumSettings(), communicator: SerialCommunicator())
        XCTAssertTrue(dense.correlation.method.hasPrefix("dense"))
        let top = reference[0]
        for j in 0..<d { XCTAssertEqual(dense.correlation.eigenvalues[j], reference[j], accuracy: 1e-11 * top, "λ_\(j)") }
        XCTAssertEqual(dense.gramZeroEigenvalues, T - d)
        let (lanczos, _) = try DataSpectrumJob.run(data, settings: DataSpectrumSettings(method: .lanczos, count: 5), communicator: SerialCommunicator())
        for j in 0..<5 {
            XCTAssertEqual(lanczos.correlation.eigenvalues[j], dense.correlation.eigenvalues[j], accuracy: 1e-9 * top)
            XCTAssertEqual(lanczos.covariance.eigenvalues[j], dense.covariance.eigenvalues[j], accuracy: 1e-9 * top)
        }
        // The covariance's trace is the total pixel variance, Σ_j σ_j².
        let (_, sd) = Preprocessing.moments(x, rows: T, columns: d, totalSamples: T, communicator: SerialCommunicator())
        XCTAssertEqual(dense.covariance.trace, sd.reduce(0) { $0 + $1 * $1 }, accuracy: 1e-10 * dense.covariance.trace)
    }

    // MARK: - CLI

    func wisp(_ arguments: [String]) throws -> WispExecutable.Outcome { try WispExecutable.run(arguments, in: directory) }

    /// Read exactly (``ExactJSON``): `JSONSerialization` on Linux rounds some doubles wrongly.
    func json(_ file: String) throws -> [String: Any] { try ExactJSON.object(file: file) }

    /// `wisp top` on the digits with labels: C = 10, P counted with d = 16 after pooling, the
    /// data flags recorded in the configuration.
    func testTopOnDigitsWithLabels() throws {
        let output = path("top.json")
        let r = try wisp(["top", "--quiet", "--width", "16", "--inputs", digitsImages, "--labels", digitsLabels, "--samples", "200",
                          "--pool", "2", "--scale-pixels", "--standardize", "--k", "2", "--matrix", "ntk", "--output", output])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("C=10"), r.stdout)
        XCTAssertTrue(r.stdout.contains("targets \(digitsLabels) (labels, 10 classes)"), r.stdout)
        let record = try json(output)
        XCTAssertEqual(record["parameters"] as? Int, (16 * 16 + 16) + (16 * 16 + 16) + (16 * 10 + 10))
        XCTAssertEqual(record["samples"] as? Int, 200)
        let c = try XCTUnwrap(record["configuration"] as? [String: Any])
        XCTAssertEqual(c["labels"] as? String, digitsLabels)
        XCTAssertEqual(c["pool"] as? Int, 2)
        XCTAssertEqual(c["scale_pixels"] as? Bool, true)
        XCTAssertEqual(c["standardize"] as? Bool, true)
        XCTAssertEqual(c["outputs"] as? Int, 10, "the record holds the network's C, from the labels")
        XCTAssertEqual((record["eigenvalues"] as? [Double])?.count, 2)
    }

    /// `wisp data-spectrum` writes JSON and CSV whose eigenvalues agree, on the diabetes features.
    func testDataSpectrumCLI() throws {
        let output = path("spectrum/diabetes.json")
        let r = try wisp(["data-spectrum", "--quiet", "--inputs", diabetes, "--target-column", "target", "--output", output])
        XCTAssertEqual(r.status, 0, r.stderr)
        let record = try json(output)
        XCTAssertEqual(record["command"] as? String, "data-spectrum")
        XCTAssertEqual(record["samples"] as? Int, 442)
        XCTAssertEqual(record["dimension"] as? Int, 10)
        let correlation = try XCTUnwrap((record["correlation"] as? [String: Any])?["eigenvalues"] as? [Double])
        XCTAssertEqual(correlation.count, 10)
        // The diabetes features are scaled to unit norm per column: tr (1/T) XᵀX = 10/442.
        XCTAssertEqual(correlation.reduce(0, +), 10.0 / 442, accuracy: 1e-9)
        let csv = try String(contentsOfFile: path("spectrum/diabetes.csv"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv[0], "index,correlation,covariance")
        XCTAssertEqual(csv.count, 11)
        XCTAssertEqual(Double(csv[1].split(separator: ",")[1]), correlation[0])
    }

    /// Bad data flags and files end with one error line and a non-zero exit, with no output.
    func testCLIDataErrors() throws {
        let badCSV = try write("a,b\n1,2\n3,oops\n", "bad.csv")
        let cases: [([String], [String])] = [
            (["top", "--inputs", digitsImages, "--labels", digitsLabels, "--outputs", "3"], ["--outputs 3", "10 columns"]),
            (["top", "--inputs", digitsImages, "--pool", "3"], ["--pool 3", "8 × 8"]),
            (["top", "--inputs", diabetes, "--target-column", "nope"], ["no column 'nope'"]),
            (["top", "--inputs", diabetes, "--pool", "2", "--target-column", "target"], ["--pool needs images"]),
            (["top", "--inputs", badCSV], ["bad.csv", "line 3, column 2 ('b')", "'oops'"]),
            (["top", "--inputs", digitsImages, "--targets", diabetes], ["442 rows", "1797"]),
            (["top", "--inputs", digitsImages, "--labels", diabetes], ["labels must be one integer per sample"]),
            (["top", "--inputs", digitsImages, "--target-column", "x"], ["--target-column", "IDX file"]),
            (["top", "--inputs", digitsImages, "--samples", "2000"], ["--samples 2000 exceeds the 1797 rows"]),
            (["data-spectrum", "--inputs", path("missing.idx")], ["missing.idx"]),
            (["data-spectrum", "--inputs", digitsImages, "--method", "lanczos", "--k", "65"], ["--k must be between 1 and d = 64"]),
        ]
        for (arguments, words) in cases {
            let output = path("out-\(UUID().uuidString).json")
            let r = try wisp(arguments + (arguments[0] == "top" ? ["--width", "8"] : []) + ["--quiet", "--output", output])
            XCTAssertNotEqual(r.status, 0, "\(arguments)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "one line expected: \(r.stderr)")
            XCTAssertTrue(r.stderr.hasPrefix("wisp: error: "), r.stderr)
            for w in words { XCTAssertTrue(r.stderr.contains(w), "'\(w)' not in: \(r.stderr)") }
            XCTAssertFalse(FileManager.default.fileExists(atPath: output))
        }
    }
}
