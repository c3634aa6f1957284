import Foundation

/// Everything that defines the network and the data a job measures: recorded verbatim in
/// every output so a run can be reproduced.
public struct ProblemConfiguration: Codable, Sendable, Equatable {
    /// L, the number of weight layers (3 = two hidden layers). Ignored with `modelPath`.
    public var depth: Int = 3
    /// M, every hidden width.
    public var width: Int = 512
    /// d; nil means "the width" (or the columns of `inputsPath`).
    public var inputDimension: Int? = nil
    /// C.
    public var outputs: Int = 1
    public var activation: Activation = .relu
    public var sigmaW2: Double = 2
    public var sigmaB2: Double = 0
    public var bias: Bool = true
    public var parametrization: Parametrization = .standard
    public var normalization: Normalization = .none
    /// T; nil means all rows of `inputsPath` (and is required for Gaussian inputs).
    public var samples: Int? = 512
    /// A .npy file of inputs (T × d); nil means Gaussian inputs.
    public var inputsPath: String? = nil
    /// A .safetensors file of weights; nil means random initialization from `seed`.
    public var modelPath: String? = nil
    public var seed: UInt64 = 0
    public var precision: Precision = .float64
    /// The loss whose Gauss–Newton matrix, Hessian and gradient the jobs use.
    public var loss: Loss = .mse

    public init() {}

    private enum CodingKeys: String, CodingKey {
        case depth, width, inputDimension = "input_dim", outputs, activation, sigmaW2 = "sigma_w2", sigmaB2 = "sigma_b2",
             bias, parametrization, normalization, samples, inputsPath = "inputs", modelPath = "model", seed, precision, loss
    }

    /// Every setting as a string, keyed as in the JSON output (for checkpoint fingerprints).
    public var fingerprint: [String: String] {
        guard let data = try? JSONEncoder().encode(self),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
        return object.mapValues { "\($0)" }
    }
}
