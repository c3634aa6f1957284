import Foundation

/// Everything that defines the network and the data a job measures, recorded in every output
/// so a run can be reproduced. ``Problem/configuration`` is the resolved one: the network's
/// fields (depth, widths, input_dim, outputs, activation, σ's, bias per layer,
/// parametrization, normalization) describe the network that ran, loaded or built.
public struct ProblemConfiguration: Codable, Sendable, Equatable {
    /// L, the number of weight layers (3 = two hidden layers). Ignored with `modelPath`.
    public var depth: Int = 3
    /// M, every hidden width. In a resolved configuration: nil when the hidden widths differ
    /// or there is no hidden layer (``widths`` has them all).
    public var width: Int? = 512
    /// d; nil means "the width" (or the columns of `inputsPath`).
    public var inputDimension: Int? = nil
    /// C; nil means the columns of the targets (the classes of the labels), or 1 without them.
    public var outputs: Int? = 1
    public var activation: Activation = .relu
    public var sigmaW2: Double = 2
    public var sigmaB2: Double = 0
    /// Biases in every layer (false: in none, or, resolved, in only some: see ``layerBias``).
    public var bias: Bool = true
    /// Resolved: [d, M_1, …, M_(L−1), C], the network's layer widths (nil on input).
    public var widths: [Int]? = nil
    /// Resolved: whether layer l has a bias, at index l − 1 (nil on input).
    public var layerBias: [Bool]? = nil
    /// Which of the hyperparameters above were given (by flags), for a network loaded from
    /// `modelPath`: nil means all of them (a value the file records differently is an error);
    /// with a value, the file's metadata fills the rest (``NetworkHyperparameters``). Not
    /// recorded: the resolved values are.
    public var given: NetworkHyperparameters? = nil
    public var parametrization: Parametrization = .standard
    public var normalization: Normalization = .none
    /// T; nil means all rows of `inputsPath` (and is required for Gaussian inputs).
    public var samples: Int? = 512
    /// A .npy, IDX or CSV file of inputs (T × d, or T × h × w images); nil means Gaussian inputs.
    public var inputsPath: String? = nil
    /// A .npy, IDX or CSV file of real-valued targets (T × C); nil means the teacher network's outputs
    /// (or the `targetColumns` of the inputs CSV).
    public var targetsPath: String? = nil
    /// A .npy, IDX or CSV file of integer class labels (T), one-hot encoded into C = `classes` columns.
    public var labelsPath: String? = nil
    /// The CSV columns (header names or 0-based numbers) that hold the targets or labels; when
    /// they come from the inputs file, the inputs are its other columns.
    public var targetColumns: [String]? = nil
    /// The number of classes of the labels; nil means the largest label + 1.
    public var classes: Int? = nil
    /// Input preprocessing, applied in the order pool, scale, standardize (``Preprocessing``):
    /// average-pool images by this factor (1: none).
    public var pool: Int = 1
    /// Divide the inputs by their largest value over all T samples.
    public var scalePixels: Bool = false
    /// Per-feature zero mean and unit variance over all T samples.
    public var standardize: Bool = false
    /// A fixed divisor for `scalePixels` instead of the largest value (a validation set scaled
    /// as its training set, ``ValidationSettings``); nil: the largest value.
    public var scaleDivisor: Double? = nil

    /// The preprocessing settings as one value.
    public var preprocessing: Preprocessing {
        Preprocessing(pool: pool, scalePixels: scalePixels, standardize: standardize, scaleDivisor: scaleDivisor)
    }
    /// A .safetensors file of weights; nil means random initialization from `seed`.
    public var modelPath: String? = nil
    public var seed: UInt64 = 0
    public var precision: Precision = .float64
    /// The loss whose Gauss–Newton matrix, Hessian and gradient the jobs use.
    public var loss: Loss = .mse

    public init() {}

    private enum CodingKeys: String, CodingKey {
        case depth, width, inputDimension = "input_dim", outputs, activation, sigmaW2 = "sigma_w2", sigmaB2 = "sigma_b2",
             bias, widths, layerBias = "layer_bias", parametrization, normalization, samples, inputsPath = "inputs", modelPath = "model", seed, precision,
             targetsPath = "targets", labelsPath = "labels", targetColumns = "target_columns", classes, pool,
             scalePixels = "scale_pixels", standardize, scaleDivisor = "scale_divisor", loss
    }
}
