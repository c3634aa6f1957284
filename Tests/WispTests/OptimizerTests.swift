import Foundation
import XCTest
@testable import Wisp
import WispTestSupport

/// The update rules of `wisp train` (issue 13, item 4): momentum, Nesterov, Adam and weight
/// decay against hand-computed iterates on a quadratic loss, inside ``TrainJob`` against a
/// reference loop written here, the record and the refusal of a resume with another setting.
final class OptimizerTests: XCTestCase {
    /// The loss ½ Σ a_i θ_i² (gradient a ⊙ θ) with a = (2, 0.5, 4), θ₀ = (1, −3, 0.25), η = 0.1,
    /// three steps of each rule. The expected iterates were computed by hand for the first
    /// coordinate of momentum (v = 2, 3.4, 3.98 → θ = 0.8, 0.46, 0.062) and for all with the
    /// textbook forms in Python floats (`m̂ / (√ŝ + ε)` for Adam, not PyTorch's folded
    /// `(η/(1−β₁ᵗ)) m / (√s/√(1−β₂ᵗ) + ε)` that Wisp evaluates: equal up to rounding):
    ///
    ///     for t in 1..3: g = a*θ + wd*θ; v = μ v + g; θ -= η (g + μ v if nesterov else v)
    ///                    m = β1 m + (1-β1) g; s = β2 s + (1-β2) g²; θ -= η (m/(1-β1^t)) / (sqrt(s/(1-β2^t)) + ε)
    ///
    /// Tolerance: 1e-15 absolute on iterates of magnitude ≤ 3 after three steps: a few ulps of
    /// each update's rounding, far below the smallest update (≈ 0.03).
    func testUpdatesMatchHandComputedIterates() {
        let a = [2.0, 0.5, 4.0]
        func iterate(_ settings: OptimizerSettings) -> [Double] {
            var theta = [1.0, -3.0, 0.25], state = OptimizerState.initial(settings.method, parameters: 3)
            for _ in 0..<3 {
                let g = zip(a, theta).map { $0 * $1 }
                Optimizer.step(settings, state: &state, parameters: &theta, gradient: g, learningRate: 0.1)
            }
            XCTAssertEqual(state.steps, 3)
            return theta
        }
        let cases: [(OptimizerSettings, [Double])] = [
            (OptimizerSettings(method: .sgd, weightDecay: 0.1), [0.493039, -2.491752, 0.05134475]),
            (OptimizerSettings(method: .momentum, momentum: 0.9), [0.062, -2.194125, -0.135]),
            (OptimizerSettings(method: .momentum, momentum: 0.9, nesterov: true), [-0.108352, -1.894387875, -0.108324]),
            (OptimizerSettings(method: .adam), [0.7015862729460303, -2.7003815249719785, -0.030208328025531472]),
            (OptimizerSettings(method: .adam, weightDecay: 0.01), [0.7015862729382771, -2.7003815249322076, -0.030208328032812662]),
        ]
        for (settings, expected) in cases {
            let got = iterate(settings)
            for i in 0..<3 {
                XCTAssertEqual(got[i], expected[i], accuracy: 1e-15, "\(settings.description), coordinate \(i)")
            }
        }
        // Plain SGD without decay is θ − η g (through BLAS axpy: to rounding).
        var plain = [1.0, -3.0, 0.25]
        for _ in 0..<3 { for i in 0..<3 { plain[i] -= 0.1 * (a[i] * plain[i]) } }
        for (got, want) in zip(iterate(OptimizerSettings()), plain) { XCTAssertEqual(got, want, accuracy: 1e-15) }
        // Adam's first step moves every coordinate by η (1 − O(ε/|g|)) against its gradient's sign.
        var theta = [1.0, -3.0, 0.25], state = OptimizerState.initial(.adam, parameters: 3)
        Optimizer.step(OptimizerSettings(method: .adam), state: &state, parameters: &theta, gradient: zip(a, theta).map { $0 * $1 }, learningRate: 0.1)
        for (t, t0) in zip(theta, [1.0, -3.0, 0.25]) { XCTAssertEqual(abs(t - t0), 0.1, accuracy: 1e-8) }
    }

    func problem(samples: Int = 24) throws -> Problem {
        var c = ProblemConfiguration()
        c.depth = 3; c.width = 12; c.inputDimension = 4; c.outputs = 2; c.samples = samples
        c.activation = .tanh; c.sigmaW2 = 1.5; c.sigmaB2 = 0.1; c.seed = 5
        return try Problem(c)
    }

    func quiet() -> MeasurementSettings {
        var m = MeasurementSettings()
        m.moments = false
        return m
    }

    /// TrainJob with each rule (full batch) equals a loop written here: the full gradient of
    /// the problem at θ_t (``Problem/lossAndGradient()``) fed to the rule's formulas, bit for
    /// bit in the momentum case (same operations in the same order) and to rounding for Adam.
    func testTrainJobFollowsTheRule() throws {
        for settings in [OptimizerSettings(method: .momentum, momentum: 0.7, nesterov: false, weightDecay: 0.02),
                         OptimizerSettings(method: .momentum, momentum: 0.5, nesterov: true),
                         OptimizerSettings(method: .adam, beta1: 0.8, beta2: 0.99, epsilon: 1e-6)] {
            let eta = settings.method == .adam ? 0.02 : 0.1, steps = 5
            let trained = try problem()
            _ = try TrainJob.run(trained, training: TrainingSettings(steps: steps, learningRate: eta, every: steps, optimizer: settings),
                                 measurements: quiet())
            let p = try problem()
            var theta = p.parameters
            var v = [Double](repeating: 0, count: theta.count), m = v, s = v
            for t in 1...steps {
                try p.setParameters(theta)
                let g0 = try p.lossAndGradient().gradient
                for i in theta.indices {
                    let g = g0[i] + settings.weightDecay * theta[i]
                    switch settings.method {
                    case .momentum:
                        v[i] = settings.momentum * v[i] + g
                        theta[i] -= eta * (settings.nesterov ? g + settings.momentum * v[i] : v[i])
                    case .adam:
                        m[i] = settings.beta1 * m[i] + (1 - settings.beta1) * g
                        s[i] = settings.beta2 * s[i] + (1 - settings.beta2) * g * g
                        let mHat = m[i] / (1 - pow(settings.beta1, Double(t))), sHat = s[i] / (1 - pow(settings.beta2, Double(t)))
                        theta[i] -= eta * mHat / (sHat.squareRoot() + settings.epsilon)
                    case .sgd: XCTFail()
                    }
                }
            }
            let error = DenseReference.relativeError(trained.parameters, theta)
            if settings.method == .momentum {
                XCTAssertEqual(trained.parameters, theta, settings.description)
            } else {
                XCTAssertLessThan(error, 1e-13, settings.description)   // rounding of the folded bias corrections, over 5 steps
            }
        }
    }

    /// Adam and momentum train the problem, and the record says which rule ran.
    func testRecordNamesTheRule() throws {
        for settings in [OptimizerSettings(method: .momentum), OptimizerSettings(method: .adam)] {
            let (r, _) = try TrainJob.run(try problem(), training: TrainingSettings(steps: 40, learningRate: settings.method == .adam ? 0.01 : 0.05,
                                                                                  every: 20, optimizer: settings),
                                          measurements: quiet())
            XCTAssertLessThan(r.series.last!.loss, r.series.first!.loss / 2, settings.description)
            XCTAssertTrue(r.method.contains(settings.method == .adam ? "Adam" : "momentum"), r.method)
            let json = String(decoding: try JSONEncoder().encode(r.training), as: UTF8.self)
            XCTAssertTrue(json.contains("\"method\":\"\(settings.method.rawValue)\""), json)
            XCTAssertEqual(json.contains("beta1"), settings.method == .adam, json)
        }
    }

    func testBadSettingsNameTheSetting() throws {
        let p = try problem()
        for (settings, setting) in [(OptimizerSettings(method: .momentum, momentum: 1), Setting.momentum),
                                    (OptimizerSettings(method: .adam, beta1: -0.1), .adamBeta1),
                                    (OptimizerSettings(method: .adam, beta2: 1), .adamBeta2),
                                    (OptimizerSettings(method: .adam, epsilon: 0), .adamEpsilon),
                                    (OptimizerSettings(weightDecay: .nan), .weightDecay)] {
            XCTAssertThrowsError(try TrainJob.run(p, training: TrainingSettings(steps: 1, optimizer: settings), measurements: quiet())) {
                XCTAssertTrue("\($0)".hasPrefix("\(setting) "), "\($0)")
            }
        }
    }

    /// `wisp train --checkpoint`: a rerun with another optimizer setting is refused naming it;
    /// the same settings resume.
    func testResumeWithAnotherOptimizerSettingIsRefused() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-optimizer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let base = ["train", "--width", "8", "--samples", "12", "--steps", "4", "--every", "2", "--measure", "none", "--quiet",
                    "--no-save-models", "--output-dir", "out", "--checkpoint", "ck", "--optimizer", "adam", "--lr", "0.01"]
        let first = try WispExecutable.run(base, in: directory)
        XCTAssertEqual(first.status, 0, first.stderr)
        for (extra, word) in [(["--beta1", "0.8"], "beta1"), (["--optimizer", "momentum"], "optimizer.method")] {
            let r = try WispExecutable.run(base + extra, in: directory)
            XCTAssertNotEqual(r.status, 0)
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains(word), r.stderr)
        }
        let again = try WispExecutable.run(base, in: directory)
        XCTAssertEqual(again.status, 0, again.stderr)
    }
}
