import Foundation
import XCTest
@testable import Wisp
import WispTestSupport

/// Layerwise tangent kernels, their forward/backward factorization (Lou et al. eq. 9), the
/// centered kernel alignment (eq. 6–7) exact and by Hutchinson, and the eigenvectors of F
/// mapped from sample space, against dense references built from the explicit Jacobian.
final class AlignmentTests: XCTestCase {
    static let T = 7

    static func jacobian(_ c: NetworkCase) throws -> (BatchedJacobian<Double>, [Double], Dataset, [Double]) {
        let data = try Dataset.gaussian(totalSamples: T, dimension: c.architecture.inputDimension, seed: 3)
        let net = Network<Double>(architecture: c.architecture, seed: 3)
        let J = DenseReference.jacobian(architecture: c.architecture, parameters: net.parameters, inputs: data)
        return (try BatchedJacobian(network: net, inputs: data), net.parameters, data, J)
    }

    /// Columns `range` of a rows × P matrix.
    static func columns(_ J: [Double], rows: Int, P: Int, _ range: Range<Int>) -> [Double] {
        (0..<rows).flatMap { r in J[(r * P + range.lowerBound)..<(r * P + range.upperBound)] }
    }

    static func layerRange(_ a: Architecture, _ l: Int) -> Range<Int> { a.weightOffset(l)..<(a.weightOffset(l) + a.layerParameterCount(l)) }

    /// Layer-restricted JVP/VJP against the explicit J_l, the LayerKernelOperator against
    /// (1/T) J_l J_lᵀ, and Σ_l K_l = K, for every activation × parametrization × bias. Sums of
    /// ≤ 100 products in other orders: a few ε relative to the largest entry, so 1e-12.
    func testLayerKernelsAgainstExplicitJacobianAndSumToGram() throws {
        for c in NetworkCase.all {
            let a = c.architecture
            let (jac, _, _, J) = try Self.jacobian(c)
            let P = a.parameterCount, n = Self.T * a.outputs
            let K = DenseReference.gram(jacobian: J, rows: n, parameters: P, totalSamples: Self.T)
            let u = (0..<n).map { CounterRandom(seed: 2, stream: .probe(0)).normal($0) }
            var sumOperators = [Double](repeating: 0, count: n), sumDense = [Double](repeating: 0, count: n * n)
            for l in 1...a.depth {
                let Jl = Self.columns(J, rows: n, P: P, Self.layerRange(a, l))
                let pl = a.layerParameterCount(l)
                let v = (0..<pl).map { CounterRandom(seed: 2, stream: .probe(1)).normal($0) }
                var jv = [Double](repeating: 0, count: n), jtu = [Double](repeating: 0, count: pl)
                jac.layerJVP(layer: l, v, into: &jv)
                jac.layerVJP(layer: l, u, alpha: 1, into: &jtu)
                XCTAssertLessThan(DenseReference.relativeError(jv, DenseReference.multiply(Jl, v, rows: n, inner: pl, cols: 1)), 1e-12, "\(c) layer \(l)")
                XCTAssertLessThan(DenseReference.relativeError(jtu, DenseReference.multiply(DenseReference.transpose(Jl, rows: n, cols: pl), u, rows: pl, inner: n, cols: 1)), 1e-12, "\(c) layer \(l)")
                let Kl = DenseReference.gram(jacobian: Jl, rows: n, parameters: pl, totalSamples: Self.T)
                let op = LayerKernelOperator(jacobian: jac, layer: l, samples: 0..<Self.T, totalSamples: Self.T)
                let klu = op.apply(u)
                XCTAssertLessThan(DenseReference.relativeError(klu, DenseReference.multiply(Kl, u, rows: n, inner: n, cols: 1)), 1e-12, "\(c) layer \(l)")
                for i in 0..<n { sumOperators[i] += klu[i] }
                var rows = [Double]()
                jac.layerKernelFactors(layers: [l], gather: { m, _, _ in m }) { f in
                    rows = [Double](repeating: 0, count: f.rowCount * f.columnCount)
                    f.addKernel(into: &rows, scale: 1 / Double(Self.T))
                }
                XCTAssertLessThan(DenseReference.relativeError(rows, Kl), 1e-12, "\(c) layer \(l)")
                for i in 0..<(n * n) { sumDense[i] += rows[i] }
            }
            XCTAssertLessThan(DenseReference.relativeError(sumDense, K), 1e-12, "\(c)")
            let full = NTKGramOperator(jacobian: jac, samples: 0..<Self.T, totalSamples: Self.T).apply(u)
            XCTAssertLessThan(DenseReference.relativeError(sumOperators, full), 1e-12, "\(c)")
        }
    }

    /// With normalization layers (batch statistics couple the samples) the per-layer operators
    /// still sum to the NTK Gram operator (itself tested against finite differences).
    func testLayerOperatorsSumToGramWithNormalization() throws {
        for normalization in [Normalization.middleBatchNorm, .lastBatchNorm, .layerNorm, .lastMean] {
            let a = try Architecture(widths: [5, 9, 8, 3], activation: .tanh, sigmaW2: 1.5, sigmaB2: 0.2, normalization: normalization)
            let data = try Dataset.gaussian(totalSamples: 9, dimension: 5, seed: 4)
            let jac = try BatchedJacobian(network: Network<Double>(architecture: a, seed: 4), inputs: data)
            let u = (0..<27).map { CounterRandom(seed: 5, stream: .probe(0)).normal($0) }
            var sum = [Double](repeating: 0, count: 27)
            for l in 1...3 {
                let y = LayerKernelOperator(jacobian: jac, layer: l, samples: 0..<9, totalSamples: 9).apply(u)
                for i in 0..<27 { sum[i] += y[i] }
            }
            let full = NTKGramOperator(jacobian: jac, samples: 0..<9, totalSamples: 9).apply(u)
            XCTAssertLessThan(DenseReference.relativeError(sum, full), 1e-12, "\(normalization)")
        }
    }

    /// The factors of eq. 9 against direct computations: forward = c_l² H^(l−1) H^(l−1)ᵀ + c_b²
    /// with H from an independent scalar-loop forward pass of the truncated network, backward =
    /// ⟨δ^l_k(t), δ^l_k'(s)⟩ from the bias columns of the explicit Jacobian (∂f_k/∂b^l = c_b δ^l_k),
    /// and forward ∘ backward = J_l J_lᵀ formed directly. 1e-12 as above.
    func testForwardBackwardFactorsAgainstDirectKernels() throws {
        for c in NetworkCase.all where c.architecture.everyLayerHasBias && c.architecture.biasScale > 0 {
            let a = c.architecture
            let (jac, theta, data, J) = try Self.jacobian(c)
            let T = Self.T, C = a.outputs, n = T * C, P = a.parameterCount, d = a.inputDimension
            jac.layerKernelFactors(gather: { m, _, _ in m }) { f in
                let l = f.layer
                // H^(l−1): the inputs, or φ of the outputs of the first l−1 layers.
                var h = [[Double]]()
                for t in 0..<T {
                    let x = Array(data.values[(t * d)..<((t + 1) * d)])
                    if l == 1 { h.append(x); continue }
                    let sub = try! Architecture(widths: Array(a.widths[0...(l - 1)]), activation: a.activation, layerBias: Array(a.layerBias[0..<(l - 1)]),
                                                parametrization: a.parametrization, sigmaW2: a.sigmaW2, sigmaB2: a.sigmaB2)
                    let u = DenseReference.outputs(architecture: sub, parameters: Array(theta[0..<a.weightOffset(l)]), input: x)
                    h.append(u.map { a.activation.value($0) })
                }
                let cw2 = a.weightScale(l) * a.weightScale(l), cb2 = a.biasScale * a.biasScale
                var forward = [Double](repeating: 0, count: T * T)
                for t in 0..<T { for s in 0..<T { forward[t * T + s] = cw2 * zip(h[t], h[s]).reduce(0) { $0 + $1.0 * $1.1 } + cb2 } }
                XCTAssertLessThan(DenseReference.relativeError(f.forward, forward), 1e-12, "\(c) layer \(l)")
                let m = a.widths[l]
                let Jb = Self.columns(J, rows: n, P: P, a.biasOffset(l)..<(a.biasOffset(l) + m))
                let backward = DenseReference.gram(jacobian: Jb, rows: n, parameters: m, totalSamples: 1).map { $0 / cb2 }
                XCTAssertLessThan(DenseReference.relativeError(f.backward, backward), 1e-12, "\(c) layer \(l)")
                var product = [Double](repeating: 0, count: n * n)
                for i in 0..<n { for j in 0..<n { product[i * n + j] = forward[(i / C) * T + j / C] * backward[i * n + j] } }
                let Jl = Self.columns(J, rows: n, P: P, Self.layerRange(a, l))
                let direct = DenseReference.gram(jacobian: Jl, rows: n, parameters: a.layerParameterCount(l), totalSamples: 1)
                XCTAssertLessThan(DenseReference.relativeError(product, direct), 1e-12, "\(c) layer \(l)")
                var rows = [Double](repeating: 0, count: n * n)
                f.addKernel(into: &rows)
                XCTAssertLessThan(DenseReference.relativeError(rows, direct), 1e-12, "\(c) layer \(l)")
            }
        }
    }

    /// Eq. 6 by definition: C K C and C Y Yᵀ C formed as dense matrices, the Frobenius inner product
    /// and norms summed entry by entry.
    static func denseCKA(_ K: [Double], _ y: [Double]) -> Double {
        let n = y.count
        var Cm = [Double](repeating: -1 / Double(n), count: n * n)
        for i in 0..<n { Cm[i * n + i] += 1 }
        let yy = (0..<(n * n)).map { y[$0 / n] * y[$0 % n] }
        func center(_ M: [Double]) -> [Double] {
            DenseReference.multiply(DenseReference.multiply(Cm, M, rows: n, inner: n, cols: n), Cm, rows: n, inner: n, cols: n)
        }
        let kc = center(K), yc = center(yy)
        let inner = zip(kc, yc).reduce(0) { $0 + $1.0 * $1.1 }
        return inner / (kc.reduce(0) { $0 + $1 * $1 }.squareRoot() * yc.reduce(0) { $0 + $1 * $1 }.squareRoot())
    }

    /// KernelAlignment with one-hot labels (C = 3 classes) against eq. 6 formed densely. The
    /// closed form reorders sums of ≤ (TC)² terms: 1e-12.
    func testAlignmentWithOneHotLabelsAgainstDenseDefinition() throws {
        let a = try Architecture(widths: [4, 10, 9, 3], activation: .erf, sigmaW2: 1.8, sigmaB2: 0.1)
        let T = 11, n = 33
        let data = try Dataset.gaussian(totalSamples: T, dimension: 4, seed: 9)
        let net = Network<Double>(architecture: a, seed: 9)
        let jac = try BatchedJacobian(network: net, inputs: data)
        let J = DenseReference.jacobian(architecture: a, parameters: net.parameters, inputs: data)
        var onehot = [Double](repeating: 0, count: n)
        for t in 0..<T { onehot[t * 3 + (t * 7) % 3] = 1 }
        let targets = try Targets(columns: 3, samples: 0..<T, values: onehot, classes: 3, source: "labels")
        let (labels, norm2) = KernelAlignment.centeredLabels(targets, totalEntries: n, communicator: SerialCommunicator())
        XCTAssertEqual(labels.reduce(0, +), 0, accuracy: 1e-14)
        XCTAssertEqual(norm2, labels.reduce(0) { $0 + $1 * $1 }, accuracy: 1e-14)
        for l in 1...3 {
            let Jl = Self.columns(J, rows: n, P: a.parameterCount, Self.layerRange(a, l))
            let Kl = DenseReference.gram(jacobian: Jl, rows: n, parameters: a.layerParameterCount(l), totalSamples: T)
            let reference = Self.denseCKA(Kl, onehot)
            let d = KernelAlignment.dense(rows: Kl, columns: n, rowCounts: [n], labels: labels, communicator: SerialCommunicator())
            let exact = KernelAlignment.alignment(numerator: d.numerator, centeredFrobeniusSquared: Estimate(mean: d.centeredFrobeniusSquared, standardError: 0, samples: 1),
                                                  labelNormSquared: norm2)
            XCTAssertEqual(exact.mean, reference, accuracy: 1e-12 * abs(reference), "layer \(l)")
            XCTAssertGreaterThan(reference, 0)
            // The matrix-free numerator (one product) agrees with the dense one.
            let op = LayerKernelOperator(jacobian: jac, layer: l, samples: 0..<T, totalSamples: T)
            XCTAssertEqual(KernelAlignment.labelProjection(op, labels: labels), d.numerator, accuracy: 1e-12 * abs(d.numerator))
        }
    }

    static func problem(_ configure: (inout ProblemConfiguration) -> Void = { _ in }) throws -> Problem {
        var c = ProblemConfiguration()
        c.width = 24
        c.inputDimension = 10
        c.samples = 13
        c.outputs = 2
        c.activation = .tanh
        c.sigmaB2 = 0.1
        c.seed = 6
        configure(&c)
        return try Problem(c)
    }

    /// AlignJob end to end: the exact path against eq. 6 on the explicit Jacobian and the
    /// problem's targets (1e-12; λ_max against LAPACK to 1e-9 relative as in OperatorTests), and
    /// the Hutchinson path within 4 standard errors of the exact values.
    func testAlignJobExactAndHutchinson() throws {
        let problem = try Self.problem()
        let a = problem.architecture, T = problem.totalSamples, n = problem.sampleSpaceDimension, P = a.parameterCount
        let exact = try AlignJob.run(problem, settings: AlignSettings(seed: 1, tolerance: 1e-11))
        XCTAssertEqual(exact.method, "exact")
        let J = DenseReference.jacobian(architecture: a, parameters: problem.network().parameters, inputs: problem.dataset)
        let y = try problem.targets().values
        var best = (0, -Double.infinity)
        for r in exact.layers {
            let Jl = Self.columns(J, rows: n, P: P, Self.layerRange(a, r.layer))
            let Kl = DenseReference.gram(jacobian: Jl, rows: n, parameters: a.layerParameterCount(r.layer), totalSamples: T)
            let reference = Self.denseCKA(Kl, y)
            XCTAssertEqual(r.alignment, reference, accuracy: 1e-12 * abs(reference), "layer \(r.layer)")
            if reference > best.1 { best = (r.layer, reference) }
            var Cm = [Double](repeating: -1 / Double(n), count: n * n)
            for i in 0..<n { Cm[i * n + i] += 1 }
            let kc = DenseReference.multiply(DenseReference.multiply(Cm, Kl, rows: n, inner: n, cols: n), Cm, rows: n, inner: n, cols: n)
            let eig = try LAPACK.symmetricEigen(kc, n: n).values
            let lambda = eig.max()!, frob2 = kc.reduce(0) { $0 + $1 * $1 }
            XCTAssertEqual(r.lambdaMax, lambda, accuracy: 1e-9 * lambda, "layer \(r.layer)")
            XCTAssertTrue(r.lambdaMaxConverged)
            XCTAssertEqual(r.stableRank, frob2 / (lambda * lambda), accuracy: 1e-8 * r.stableRank, "layer \(r.layer)")
            XCTAssertNotNil(r.forwardAlignment)
        }
        XCTAssertEqual(exact.peakLayer, best.0)

        let estimated = try AlignJob.run(problem, settings: AlignSettings(exactLimit: 0, probes: 40, seed: 1, tolerance: 1e-11))
        XCTAssertEqual(estimated.method, "hutchinson")
        XCTAssertEqual(estimated.probes, 40)
        for (e, x) in zip(estimated.layers, exact.layers) {
            XCTAssertGreaterThan(e.alignmentStandardError, 0)
            XCTAssertLessThan(abs(e.alignment - x.alignment), 4 * e.alignmentStandardError, "layer \(e.layer): \(e.alignment) vs \(x.alignment)")
            XCTAssertLessThan(abs(e.stableRank - x.stableRank), 4 * e.stableRankStandardError, "layer \(e.layer)")
            XCTAssertEqual(e.labelProjection, x.labelProjection, accuracy: 1e-12 * abs(x.labelProjection))
            XCTAssertEqual(e.lambdaMax, x.lambdaMax, accuracy: 1e-9 * x.lambdaMax)
        }
        // Batch statistics: only the matrix-free path applies.
        let coupled = try AlignJob.run(try Self.problem { $0.normalization = .middleBatchNorm }, settings: AlignSettings(probes: 4))
        XCTAssertEqual(coupled.method, "hutchinson")
    }

    /// One output (C = 1, `wisp align`'s default): the top layer's backward kernel is δ_kk' = 1 for
    /// every pair of samples, so centering removes it and its alignment is 0/0. The job reports
    /// it as absent (it used to be NaN, which the record refuses, so `wisp align` with no flags
    /// failed); every other alignment stays finite.
    func testSingleOutputTopLayerBackwardAlignmentIsAbsent() throws {
        let result = try AlignJob.run(try Self.problem { $0.outputs = 1 }, settings: AlignSettings(seed: 1))
        XCTAssertEqual(result.method, "exact")
        let top = try XCTUnwrap(result.layers.last)
        XCTAssertNil(top.backwardAlignment)
        XCTAssertNotNil(top.forwardAlignment)
        for l in result.layers {
            XCTAssertTrue(l.alignment.isFinite, "layer \(l.layer)")
            if l.layer < result.layers.count { XCTAssertTrue(l.backwardAlignment?.isFinite == true, "layer \(l.layer)") }
        }
        XCTAssertNoThrow(try CanonicalJSON.encode(result))
    }

    /// Float32 passes: the kernels carry relative errors of a few ε₃₂·(depth) ≈ 1e-6, so A_l
    /// and λ_max agree with Float64 to 1e-5 relative.
    func testAlignJobFloat32() throws {
        let double = try AlignJob.run(try Self.problem(), settings: AlignSettings(seed: 1))
        let single = try AlignJob.run(try Self.problem { $0.precision = .float32 }, settings: AlignSettings(seed: 1))
        for (s, d) in zip(single.layers, double.layers) {
            XCTAssertEqual(s.alignment, d.alignment, accuracy: 1e-5 * d.alignment, "layer \(d.layer)")
            XCTAssertEqual(s.lambdaMax, d.lambdaMax, accuracy: 1e-5 * d.lambdaMax, "layer \(d.layer)")
        }
    }

    /// Eigenvectors of F mapped from sample space (v = Jᵀu/√(Tλ)) against parameter-space
    /// Lanczos. With residuals ≤ 1e-11·λ and relative gaps ≥ 1e-2, sin∠(v_s, v_p) ≤ ‖r‖/gap ≲
    /// 1e-9, so the unit vectors agree up to sign to 1e-7 entrywise.
    func testEigenvectorsFromSampleSpaceMatchParameterSpace() throws {
        let problem = try Self.problem()
        let settings = LanczosSettings(count: 4, tolerance: 1e-11, seed: 2)
        let (fisher, _) = try TopJob.run(problem, matrix: .fisher, settings: settings)
        let (ntk, _) = try TopJob.run(problem, matrix: .ntk, settings: settings)
        let P = problem.parameterCount
        let vp = try EigenvectorExport.parameterVectors(problem, top: fisher)
        let vs = try EigenvectorExport.parameterVectors(problem, top: ntk)
        XCTAssertEqual(vs.written, [0, 1, 2, 3])
        XCTAssertEqual(vs.unmapped, [])
        for i in 0..<4 {
            let a = Array(vp.vectors[(i * P)..<((i + 1) * P)]), b = Array(vs.vectors[(i * P)..<((i + 1) * P)])
            let cosine = zip(a, b).reduce(0) { $0 + $1.0 * $1.1 }
            let sign = cosine < 0 ? -1.0 : 1.0
            XCTAssertLessThan(zip(a, b).map { abs($0 - sign * $1) }.max()!, 1e-7, "eigenvector \(i)")
            XCTAssertEqual(abs(cosine), 1, accuracy: 1e-12)
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-ev-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("ev.safetensors").path
        let report = try EigenvectorExport.run(problem, top: ntk, path: path, rule: EigenvectorExport.rule)
        XCTAssertEqual(report.space, "sample")
        XCTAssertLessThan(report.orthogonality, 1e-10)
        XCTAssertLessThan(report.relativeResiduals.max()!, 1e-9)
        // Round trip: every tensor shaped like its layer's parameters, values equal to the vector.
        let file = try SafeTensorsFile.read(path: path)
        let a = problem.architecture
        XCTAssertEqual(file.tensors["eigenvalues"]?.values, ntk.eigenvalues)
        XCTAssertEqual(file.tensors.count, 1 + 4 * a.depth * 2)
        for i in 0..<4 {
            for l in 1...a.depth {
                let w = try XCTUnwrap(file.tensors["eigenvector.\(i).\(2 * (l - 1)).weight"])
                let b = try XCTUnwrap(file.tensors["eigenvector.\(i).\(2 * (l - 1)).bias"])
                XCTAssertEqual(w.shape, [a.widths[l], a.widths[l - 1]])
                XCTAssertEqual(b.shape, [a.widths[l]])
                let o = i * P + a.weightOffset(l)
                XCTAssertEqual(w.values, Array(vs.vectors[o..<(o + w.values.count)]))
                XCTAssertEqual(b.values, Array(vs.vectors[(i * P + a.biasOffset(l))..<(i * P + a.biasOffset(l) + a.widths[l])]))
            }
        }
    }

    /// K with an exact null vector (last-layer mean subtraction: K 1 = 0 per output): asking for
    /// all TC eigenpairs, the zero one is reported as unmapped and not written.
    func testZeroEigenvaluesAreNotMapped() throws {
        let problem = try Self.problem { $0.samples = 6; $0.outputs = 1; $0.normalization = .lastMean }
        let (ntk, _) = try TopJob.run(problem, matrix: .ntk, settings: LanczosSettings(count: 6, tolerance: 1e-10, seed: 1))
        let mapped = try EigenvectorExport.parameterVectors(problem, top: ntk)
        XCTAssertEqual(mapped.unmapped, [5])
        XCTAssertEqual(mapped.written, [0, 1, 2, 3, 4])
        XCTAssertEqual(mapped.vectors.count, 5 * problem.parameterCount)
    }

    /// `wisp align` and `wisp top --save-eigenvectors` through the executable: outputs, and one
    /// error line with a non-zero exit for bad settings.
    func testCommandLine() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-align-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func wisp(_ arguments: [String]) throws -> (Int32, String) {
            let r = try WispExecutable.run(arguments)
            return (r.status, r.stderr)
        }
        let small = ["--width", "16", "--samples", "9", "--outputs", "2", "--quiet"]
        let json = directory.appendingPathComponent("a.json").path
        XCTAssertEqual(try wisp(["align"] + small + ["--output", json]).0, 0)
        let record = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as! [String: Any]
        XCTAssertEqual(record["method"] as? String, "exact")
        XCTAssertEqual((record["layers"] as? [Any])?.count, 3)
        XCTAssertNotNil(record["peak_layer"] as? Int)
        for ext in ["csv", "svg"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: directory.appendingPathComponent("a.\(ext)").path))
        }
        // The bar chart renders, its layer axis in integers and both value axes from 0.
        let chart = try String(contentsOfFile: directory.appendingPathComponent("a.svg").path, encoding: .utf8)
        let labels = PlotAxisTests.textLabels(chart)
        XCTAssertTrue(["1", "2", "3"].allSatisfy(labels.contains) && labels.filter { Double($0) == 0 }.count >= 2, "\(labels)")
        XCTAssertGreaterThan(try PlotAxisTests.render(chart, name: "alignment"), 1000)
        let ev = directory.appendingPathComponent("ev.safetensors").path, top = directory.appendingPathComponent("t.json").path
        XCTAssertEqual(try wisp(["top", "--method", "lanczos"] + small + ["--k", "3", "--save-eigenvectors", ev, "--output", top]).0, 0)
        let topRecord = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: top))) as! [String: Any]
        XCTAssertEqual((topRecord["eigenvectors"] as? [String: Any])?["space"] as? String, "parameter")
        XCTAssertEqual(try SafeTensorsFile.read(path: ev).tensors.count, 1 + 3 * 6)
        for (arguments, word) in [(["align", "--probes", "1", "--exact-limit", "0"], "--probes"),
                                  (["align", "--exact-limit", "-1"], "--exact-limit"),
                                  (["top", "--save-eigenvectors", directory.path], "directory")] {
            let (status, stderr) = try wisp(arguments + small + ["--output", directory.appendingPathComponent("bad.json").path])
            XCTAssertNotEqual(status, 0, "\(arguments)")
            XCTAssertEqual(stderr.split(separator: "\n").count, 1, stderr)
            XCTAssertTrue(stderr.hasPrefix("wisp: error: ") && stderr.contains(word), stderr)
        }
    }
}
