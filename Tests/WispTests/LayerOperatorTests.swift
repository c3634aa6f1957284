import XCTest
@testable import Wisp
import WispTestSupport

/// The Fisher and NTK-Gram operators of a small CNN given as layers: products against the
/// explicit J (built column by column from the JVP and checked against central differences),
/// top eigenvalues by Lanczos against LAPACK on the explicit F, and the samples sharded over
/// 1–4 ranks (threads) against one.
final class LayerOperatorTests: XCTestCase {
    static let input = TensorShape.image(channels: 2, height: 6, width: 6)
    static let samples = 6

    /// conv 3×3 → tanh → maxpool 2 → residual(conv, tanh, conv) → conv 2×2 → softplus →
    /// flatten → dense: P = 308, C = 2, TC = 12.
    static let specs: [LayerSpec] = [
        .conv2D(inChannels: 2, outChannels: 3, kernel: [3], stride: [1], padding: [1], bias: true),
        .activation(.tanh),
        .maxPool2D(kernel: [2], stride: nil, padding: [0]),
        .residual(body: [.conv2D(inChannels: 3, outChannels: 3, kernel: [3], stride: [1], padding: [1], bias: true),
                         .activation(.tanh),
                         .conv2D(inChannels: 3, outChannels: 3, kernel: [3], stride: [1], padding: [1], bias: false)],
                  projection: nil),
        .conv2D(inChannels: 3, outChannels: 4, kernel: [2], stride: [1], padding: [0], bias: true),
        .activation(.softplus),
        .flatten,
        .dense(inFeatures: 16, outFeatures: 2, bias: true),
    ]

    static func parameters(_ count: Int) -> [Double] {
        (0..<count).map { 0.5 * CounterRandom(seed: 21, stream: .weights(layer: 1)).normal($0) }
    }

    /// The network run forward over the samples `block` of T.
    static func network(block: Range<Int>? = nil, parameters theta: [Double]? = nil) throws -> LayerSequence<Double> {
        let layers = try LayerSpec.makeChain(specs, input: input, as: Double.self)
        let P = layers.reduce(0) { $0 + $1.parameterCount }
        let seq = try LayerSequence(layers: layers, parameters: theta ?? parameters(P))
        try seq.forward(try Dataset.gaussian(totalSamples: samples, dimension: input.count, seed: 21, samples: block))
        return seq
    }

    /// J (TC × P) from unit parameter tangents through the JVP.
    static func explicitJacobian(_ seq: LayerSequence<Double>) -> [Double] {
        let rows = seq.sampleCount * seq.outputCount, P = seq.parameterCount
        var J = [Double](repeating: 0, count: rows * P)
        var e = [Double](repeating: 0, count: P), col = [Double](repeating: 0, count: rows)
        for j in 0..<P {
            e[j] = 1
            seq.jvp(e, into: &col)
            e[j] = 0
            for r in 0..<rows { J[r * P + j] = col[r] }
        }
        return J
    }

    func testExplicitJacobianAgainstCentralDifferencesAndVJP() throws {
        let seq = try Self.network()
        let P = seq.parameterCount, rows = Self.samples * 2
        XCTAssertEqual(P, 308)
        let J = Self.explicitJacobian(seq)
        // Central differences, h = 1e-5: O(h²) truncation ≈ 1e-10 plus ε/h rounding ≈ 1e-11.
        let h = 1e-5
        var fd = [Double](repeating: 0, count: rows * P)
        for j in 0..<P {
            var plus = seq.parameters, minus = seq.parameters
            plus[j] += h
            minus[j] -= h
            let (fp, fm) = (try Self.network(parameters: plus).outputs, try Self.network(parameters: minus).outputs)
            for r in 0..<rows { fd[r * P + j] = (fp[r] - fm[r]) / (2 * h) }
        }
        XCTAssertLessThan(DenseReference.relativeError(J, fd), 1e-8)
        // Every row of J from the VJP of a unit cotangent (same sums in another order).
        var g = [Double](repeating: 0, count: P), e = [Double](repeating: 0, count: rows)
        for r in 0..<rows {
            e[r] = 1
            seq.vjp(e, alpha: 1, into: &g)
            e[r] = 0
            XCTAssertLessThan(DenseReference.relativeError(g, Array(J[(r * P)..<((r + 1) * P)])), 1e-13, "row \(r)")
        }
    }

    /// K from the operator (vjp then jvp) against the explicit (1/T) J Jᵀ, and F against
    /// (1/T) Jᵀ J: the same products summed in other orders, 1e-12 relative to the largest entry.
    func testGramAndFisherAgainstExplicitJ() throws {
        let seq = try Self.network()
        let J = Self.explicitJacobian(seq)
        let P = seq.parameterCount, rows = Self.samples * 2
        let K = LayerGramOperator(network: seq, samples: 0..<Self.samples, totalSamples: Self.samples)
        let F = LayerFisherOperator(network: seq, totalSamples: Self.samples)
        XCTAssertEqual(K.dimension, rows)
        XCTAssertLessThan(DenseReference.relativeError(DenseReference.dense(K), DenseReference.gram(jacobian: J, rows: rows, parameters: P, totalSamples: Self.samples)), 1e-12)
        let v = (0..<P).map { CounterRandom(seed: 2, stream: .probe(0)).normal($0) }
        let fRef = DenseReference.multiply(DenseReference.fisher(jacobian: J, rows: rows, parameters: P, totalSamples: Self.samples), v,
                                           rows: P, inner: P, cols: 1)
        XCTAssertLessThan(DenseReference.relativeError(F.apply(v), fRef), 1e-12)
    }

    /// Lanczos on the matrix-free F (P = 308, rank ≤ 12) and K against LAPACK `dsyevd` on the
    /// explicit matrices. A converged pair has ‖r‖ ≤ 1e-10·θ, so its eigenvalue is within
    /// ‖r‖²/gap of the exact one; 1e-9 relative leaves room for the reference's own ε‖F‖.
    func testTopEigenvaluesAgainstLAPACK() throws {
        let seq = try Self.network()
        let J = Self.explicitJacobian(seq)
        let P = seq.parameterCount, rows = Self.samples * 2
        let exact = try LAPACK.symmetricEigen(DenseReference.fisher(jacobian: J, rows: rows, parameters: P, totalSamples: Self.samples), n: P)
            .values.sorted(by: >)
        let settings = LanczosSettings(count: 4, tolerance: 1e-10)
        for op in [LayerFisherOperator(network: seq, totalSamples: Self.samples) as any LinearOperator,
                   LayerGramOperator(network: seq, samples: 0..<Self.samples, totalSamples: Self.samples)] {
            let pairs = try Lanczos.solve(op, settings: settings)
            XCTAssertTrue(pairs.allConverged, "\(pairs.residuals)")
            for i in 0..<4 {
                XCTAssertEqual(pairs.values[i], exact[i], accuracy: 1e-9 * exact[0], "eigenvalue \(i) of \(type(of: op))")
            }
        }
    }

    /// The samples sharded over 1–4 ranks (threads with a ThreadCommunicator; T = 6 gives
    /// blocks of 2,2,1,1 on four): F v, K u and Lanczos's top eigenvalues equal the one-rank
    /// numbers to rounding (partial sums added in another order: 1e-13 relative).
    func testShardedOverRanksEqualsOneRank() throws {
        let serial = try Self.network()
        let P = serial.parameterCount, rows = Self.samples * 2
        let v = (0..<P).map { CounterRandom(seed: 3, stream: .probe(0)).normal($0) }
        let u = (0..<rows).map { CounterRandom(seed: 3, stream: .probe(1)).normal($0) }
        let fv = LayerFisherOperator(network: serial, totalSamples: Self.samples).apply(v)
        let ku = LayerGramOperator(network: serial, samples: 0..<Self.samples, totalSamples: Self.samples).apply(u)
        let top = try Lanczos.solve(LayerFisherOperator(network: serial, totalSamples: Self.samples), settings: LanczosSettings(count: 3, tolerance: 1e-10)).values
        for size in 1...4 {
            let results = try ThreadGroup.run(size: size) { comm -> ([Double], [Double], [Double]) in
                let block = comm.block(of: Self.samples)
                let seq = try Self.network(block: block)
                let F = LayerFisherOperator(network: seq, totalSamples: Self.samples, communicator: comm)
                let K = LayerGramOperator(network: seq, samples: block, totalSamples: Self.samples, communicator: comm)
                let local = Array(u[(block.lowerBound * 2)..<(block.upperBound * 2)])
                let values = try Lanczos.solve(K, settings: LanczosSettings(count: 3, tolerance: 1e-10)).values
                return (F.apply(v), K.apply(local), values)
            }
            for (r, result) in results.enumerated() {
                XCTAssertLessThan(DenseReference.relativeError(result.0, fv), 1e-13, "F v on rank \(r) of \(size)")
                XCTAssertLessThan(DenseReference.relativeError(result.2, top), 1e-10, "top eigenvalues on rank \(r) of \(size)")
            }
            XCTAssertLessThan(DenseReference.relativeError(results.flatMap { $0.1 }, ku), 1e-13, "K u over \(size) ranks")
        }
    }

    /// The same network in Float32: F v and K u agree with Float64 to the Float32 rounding of
    /// sums of a few hundred terms (ε₃₂ = 1.2e-7; 1e-4 relative to the largest entry is ~1000 ε₃₂).
    func testFloat32PassesAgreeWithFloat64() throws {
        let double = try Self.network()
        let layers = try LayerSpec.makeChain(Self.specs, input: Self.input, as: Float.self)
        let single = try LayerSequence(layers: layers, parameters: double.parameters.map { Float($0) })
        try single.forward(try Dataset.gaussian(totalSamples: Self.samples, dimension: Self.input.count, seed: 21))
        let P = double.parameterCount, rows = Self.samples * 2
        let v = (0..<P).map { Double(Float(CounterRandom(seed: 4, stream: .probe(0)).normal($0))) }
        let u = (0..<rows).map { Double(Float(CounterRandom(seed: 4, stream: .probe(1)).normal($0))) }
        let f64 = LayerFisherOperator(network: double, totalSamples: Self.samples).apply(v)
        let f32 = LayerFisherOperator(network: single, totalSamples: Self.samples)
        XCTAssertEqual(f32.unitRoundoff, Double(Float.ulpOfOne))
        XCTAssertLessThan(DenseReference.relativeError(f32.apply(v), f64), 1e-4)
        let k64 = LayerGramOperator(network: double, samples: 0..<Self.samples, totalSamples: Self.samples).apply(u)
        let k32 = LayerGramOperator(network: single, samples: 0..<Self.samples, totalSamples: Self.samples).apply(u)
        XCTAssertLessThan(DenseReference.relativeError(k32, k64), 1e-4)
    }
}
