// The real cases of `wisp-bench kpm-vs-slq`: a network trained by full-batch gradient descent
// (``TrainJob``) on real data, and its curvature matrices:
//   - K = (1/T) J Jᵀ in sample space (N = TC ≤ ~4096), whose exact eigenvalues come from the
//     dense K (LAPACK dsyevd): the sloppy spectrum of a trained network on real data;
//   - optionally the loss Hessian H = G + S (P × P, indefinite), on a linear grid, where no
//     exact spectrum is available (a dense P × P H is out of reach at P ≈ 10⁵): SLQ and KPM
//     (bounds from Lanczos at both ends) are compared with each other.
// Two data sets: the UCI 8×8 digits (classification, cross-entropy, C = 10) and the diabetes
// table (regression, MSE, C = 1).

import Foundation
import Wisp

/// How a trained network of a real case was obtained (recorded in the JSON).
struct TrainingSummary: Codable {
    var data: String
    var samples: Int
    var width: Int
    var depth: Int
    var outputs: Int
    var parameters: Int
    var loss: String
    var method: String
    var steps: Int
    var learningRate: Double
    var initialLoss: Double
    var finalLoss: Double
    var initialAccuracy: Double?
    var finalAccuracy: Double?
    var seconds: Double
}

/// A real case: the data and network (``ProblemConfiguration``) and the training.
struct TrainedNetworkSettings {
    /// Prefix of the case names (`<name>-trained`, `<name>-hessian`).
    var name: String
    var data: String
    var configuration: ProblemConfiguration
    var steps: Int
    var learningRate: Double
    /// Top pairs deflated in the KPM-deflated run (C for the digits: one outlier per output).
    var deflate: Int

    /// The digits: first T images (pixels / 16), one-hot labels C = 10, cross-entropy.
    static func digits(images: String = "Tests/Data/digits/digits-images.idx3-ubyte",
                       labels: String = "Tests/Data/digits/digits-labels.idx1-ubyte") -> TrainedNetworkSettings {
        var c = ProblemConfiguration()
        c.inputsPath = images
        c.labelsPath = labels
        c.classes = 10
        c.outputs = nil
        c.scalePixels = true
        c.samples = 400
        c.width = 256
        c.loss = .crossEntropy
        return TrainedNetworkSettings(name: "digits", data: "digits, pixels / 16 (--scale-pixels), one-hot labels", configuration: c,
                                      steps: 300, learningRate: 0.1, deflate: 10)
    }

    /// The diabetes table: T = 442 rows, 10 standardized features, the `target` column (raw,
    /// 25…346), MSE; η small because the targets are O(10²).
    static func diabetes(csv: String = "Tests/Data/diabetes/diabetes.csv") -> TrainedNetworkSettings {
        var c = ProblemConfiguration()
        c.inputsPath = csv
        c.targetColumns = ["target"]
        c.outputs = nil
        c.standardize = true
        c.samples = nil
        c.width = 256
        c.loss = .mse
        return TrainedNetworkSettings(name: "diabetes", data: "diabetes, 10 standardized features (--standardize), target column 'target'",
                                      configuration: c, steps: 300, learningRate: 3e-4, deflate: 3)
    }
}

/// Trains the network (``TrainJob``, no checkpoint measurements) and returns the K case (exact
/// eigenvalues from the dense K) and, if `hessian`, the loss-Hessian case (no exact reference).
/// Cost: `steps` forward and backward passes over T samples, one dense K (from per-layer Gram
/// factors) and one dsyevd of order TC.
func trainedCases(_ s: TrainedNetworkSettings, hessian: Bool) throws -> (cases: [BenchCase], training: TrainingSummary) {
    let c = s.configuration
    for path in [c.inputsPath, c.labelsPath].compactMap({ $0 }) where !FileManager.default.fileExists(atPath: path) {
        throw WispError.badInput("\(path): no such file (the \(s.name) data; give its path, or leave out the \(s.name) cases with --cases)")
    }
    let problem = try Problem(c)
    let t0 = now()
    var measurements = MeasurementSettings()
    measurements.moments = false
    let (result, _) = try TrainJob.run(problem, training: TrainingSettings(steps: s.steps, learningRate: s.learningRate, every: s.steps),
                                       measurements: measurements)
    guard let first = result.series.first, let last = result.series.last else {
        throw WispError.numerical("training recorded no checkpoint")
    }
    let a = problem.architecture
    let summary = TrainingSummary(
        data: "\(s.data): \(c.inputsPath ?? ""), first \(problem.totalSamples) samples",
        samples: problem.totalSamples, width: c.width ?? a.widths[1], depth: a.depth, outputs: a.outputs, parameters: problem.parameterCount,
        loss: c.loss.rawValue, method: result.method, steps: result.stepsTaken, learningRate: s.learningRate,
        initialLoss: first.loss, finalLoss: last.loss, initialAccuracy: first.accuracy, finalAccuracy: last.accuracy,
        seconds: now() - t0)
    say("trained on \(s.name): T = \(summary.samples), M = \(summary.width), C = \(summary.outputs), P = \(summary.parameters), "
        + "\(summary.steps) GD steps, η = \(s.learningRate): loss \(String(format: "%.4g", summary.initialLoss)) → \(String(format: "%.4g", summary.finalLoss))"
        + (summary.finalAccuracy.map { ", accuracy \(f(summary.initialAccuracy ?? 0, 3)) → \(f($0, 3))" } ?? "") + " (\(f(summary.seconds, 1)) s)")

    let ntk = try problem.makeOperator(.ntk)
    let n = ntk.dimension
    let exact = try LAPACK.symmetricEigen(problem.gramRows(), n: n).values
    let network = "L=\(a.depth), ReLU, σ_w²=2, M=\(summary.width), C=\(a.outputs), P=\(problem.parameterCount), trained \(summary.steps) GD steps on \(c.loss.rawValue)"
    var cases = [BenchCase(name: "\(s.name)-trained",
                           description: "K = (1/T) J Jᵀ of a network trained on the \(s.name) data (\(network)), T = \(problem.totalSamples), N = TC = \(n)",
                           op: ntk, exact: exact, semidefinite: true, deflate: s.deflate, grid: DensitySettings())]
    if hessian {
        cases.append(BenchCase(name: "\(s.name)-hessian",
                               description: "loss Hessian H = G + S (\(c.loss.rawValue), indefinite) of the same trained network, N = P = \(problem.parameterCount); no exact spectrum (dense H out of reach), linear grid",
                               op: try problem.makeOperator(.hessian), exact: nil, semidefinite: false, deflate: 0,
                               grid: DensitySettings(scale: .linear)))
    }
    return (cases, summary)
}
