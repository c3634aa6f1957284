import Foundation
import Wisp

/// An MLP and the same network given as layers, for tests of what the layer path must reproduce
/// of the MLP path: dense + tanh, widths 4 → 6 → 5 → 2 with the middle layer bias-free (σ_b² =
/// 0.1, seed 5), saved as a model file in `directory`; the layer network holds the MLP's θ (the
/// same layout) and both run on the same T = 9 Gaussian inputs and targets.
struct MLPTwin {
    static let T = 9
    let directory: URL
    let architecture: Architecture
    let network: Network<Double>
    var modelPath: String { directory.appendingPathComponent("mlp.safetensors").path }
    static let specs: [LayerSpec] = [
        .dense(inFeatures: 4, outFeatures: 6, bias: true), .activation(.tanh),
        .dense(inFeatures: 6, outFeatures: 5, bias: false), .activation(.tanh),
        .dense(inFeatures: 5, outFeatures: 2, bias: true),
    ]

    /// Writes the MLP's model file into `directory` (which must exist).
    init(directory: URL) throws {
        self.directory = directory
        architecture = try Architecture(widths: [4, 6, 5, 2], activation: .tanh, layerBias: [true, false, true], sigmaB2: 0.1)
        network = Network<Double>(architecture: architecture, seed: 5)
        try network.save(safetensors: modelPath)
    }

    /// The MLP and the layer network with `loss` and targets `y` (T × 2, through a targets file
    /// for the MLP).
    func problems(loss: Loss, targets y: [Double]) throws -> (mlp: Problem, layers: LayerProblem) {
        let T = Self.T, targetsPath = directory.appendingPathComponent("y.npy").path
        try NPY.write(values: y, shape: [T, 2], dtype: .float64, to: targetsPath)
        var c = ProblemConfiguration()
        c.modelPath = modelPath
        c.given = NetworkHyperparameters(activation: nil, parametrization: nil, sigmaW2: nil, sigmaB2: nil, normalization: nil)
        c.samples = T
        c.targetsPath = targetsPath
        c.seed = 5
        c.loss = loss
        let mlp = try Problem(c)
        let layers = try LayerProblem(architecture: LayerArchitecture(input: .features(4), layers: Self.specs),
                                      inputs: LayerInputs(dataset: mlp.dataset, source: .gaussian,
                                                          targets: try Targets(columns: 2, samples: 0..<T, values: y, source: "y")),
                                      weights: .loaded(path: modelPath, dtype: "f64", parameters: network.parameters), seed: 5, loss: loss)
        return (mlp, layers)
    }
}
