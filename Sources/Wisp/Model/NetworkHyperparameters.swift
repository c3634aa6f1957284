/// The hyperparameters of a network that its weight tensors do not fix — activation φ,
/// parametrization, σ_w², σ_b², normalization — each either given (by a flag) or not, and
/// the one place where they are resolved:
///
/// - a network built from flags takes each given value, else the default (``defaults``:
///   relu, standard, σ_w² = 2, σ_b² = 0, none);
/// - a network loaded from a model file takes what the file's metadata records (Wisp writes
///   all five keys: `activation`, `parametrization`, `sigma_w2`, `sigma_b2`, `normalization`);
///   a given value that differs from the file's is an error naming both; a value the file does
///   not record is the given one, and for the activation it must be given (a plain PyTorch
///   state dict does not say which φ its model used, and a silent relu would give another
///   network's spectrum). Without a recorded parametrization the tensors are PyTorch `Linear`
///   weights, u = W h + b: the standard parametrization, and `ntk` is refused, since it would
///   multiply the file's W by σ_w/√fan_in and its b by σ_b (zero for σ_b² = 0). σ_w², σ_b²
///   not recorded in a standard-parametrization file enter only the theory and take the
///   given value or the default.
public struct NetworkHyperparameters: Sendable, Equatable {
    public var activation: Activation?
    public var parametrization: Parametrization?
    public var sigmaW2: Double?
    public var sigmaB2: Double?
    public var normalization: Normalization?

    public init(activation: Activation? = nil, parametrization: Parametrization? = nil, sigmaW2: Double? = nil,
                sigmaB2: Double? = nil, normalization: Normalization? = nil) {
        self.activation = activation
        self.parametrization = parametrization
        self.sigmaW2 = sigmaW2
        self.sigmaB2 = sigmaB2
        self.normalization = normalization
    }

    /// Values for every setting.
    public struct Resolved: Sendable, Equatable {
        public var activation: Activation
        public var parametrization: Parametrization
        public var sigmaW2: Double
        public var sigmaB2: Double
        public var normalization: Normalization

        public init(activation: Activation, parametrization: Parametrization, sigmaW2: Double, sigmaB2: Double,
                    normalization: Normalization) {
            self.activation = activation
            self.parametrization = parametrization
            self.sigmaW2 = sigmaW2
            self.sigmaB2 = sigmaB2
            self.normalization = normalization
        }
    }

    /// The defaults of a network built from flags (Karakida et al.'s setting).
    public static let defaults = Resolved(activation: .relu, parametrization: .standard, sigmaW2: 2, sigmaB2: 0, normalization: .none)

    /// Every setting given.
    public init(_ r: Resolved) {
        self.init(activation: r.activation, parametrization: r.parametrization, sigmaW2: r.sigmaW2, sigmaB2: r.sigmaB2,
                  normalization: r.normalization)
    }

    /// The given values, the defaults elsewhere (a network built from flags).
    public var resolvedWithDefaults: Resolved {
        let d = Self.defaults
        return Resolved(activation: activation ?? d.activation, parametrization: parametrization ?? d.parametrization,
                        sigmaW2: sigmaW2 ?? d.sigmaW2, sigmaB2: sigmaB2 ?? d.sigmaB2, normalization: normalization ?? d.normalization)
    }

    /// The metadata keys a model file records these settings under.
    public static func metadata(_ r: Resolved) -> [String: String] {
        ["activation": r.activation.rawValue, "parametrization": r.parametrization.rawValue,
         "sigma_w2": "\(r.sigmaW2)", "sigma_b2": "\(r.sigmaB2)", "normalization": r.normalization.rawValue]
    }

    /// The settings of the network in model file `file` whose metadata is `metadata`, with
    /// these given values (see the type's documentation). Throws one line naming the file,
    /// the setting and both values on a contradiction, a missing activation or an unreadable
    /// metadata value.
    public func resolved(metadata: [String: String], file: String) throws -> Resolved {
        let name = printable(file)
        func recorded<T>(_ key: String, _ parse: (String) -> T?) throws -> T? {
            guard let text = metadata[key] else { return nil }
            guard let value = parse(text) else {
                throw WispError.badInput("\(name): metadata \(key) = '\(printable(text))' is not a valid value")
            }
            return value
        }
        func pick<T: Equatable>(_ flag: String, _ key: String, given: T?, recorded: T?, show: (T) -> String) throws -> T? {
            if let given, let recorded, given != recorded {
                throw WispError.invalidConfiguration("\(flag) \(show(given)) contradicts the model file \(name), which records \(key) = \(show(recorded)); drop the flag (the file's value is used) or use another file")
            }
            return recorded ?? given
        }
        let finiteNonNegative: (String) -> Double? = { Double($0).flatMap { $0.isFinite && $0 >= 0 ? $0 : nil } }
        let fileActivation = try recorded("activation", Activation.init(rawValue:))
        let fileParametrization = try recorded("parametrization", Parametrization.init(rawValue:))
        let fileW2 = try recorded("sigma_w2", finiteNonNegative), fileB2 = try recorded("sigma_b2", finiteNonNegative)
        let fileNormalization = try recorded("normalization", Normalization.init(rawValue:))

        guard let phi = try pick("\(Setting.activation)", "activation", given: activation, recorded: fileActivation, show: \.rawValue) else {
            throw WispError.invalidConfiguration("the model file \(name) does not record its activation (it is not a file Wisp wrote): give \(Setting.activation) (\(Activation.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let p = try pick("\(Setting.parametrization)", "parametrization", given: parametrization, recorded: fileParametrization, show: \.rawValue)
        if fileParametrization == nil, p == .ntk {
            throw WispError.invalidConfiguration("\(Setting.parametrization) ntk (or \(Setting.beta)) cannot be applied to the model file \(name): it records no parametrization, so its tensors are PyTorch Linear weights (u = W h + b), and the NTK form would multiply every W by σ_w/√fan_in and every b by σ_b; use \(Setting.parametrization) standard")
        }
        let w2 = try pick("\(Setting.sigmaW2)", "sigma_w2", given: sigmaW2, recorded: fileW2) { "\($0)" }
        let b2 = try pick("\(Setting.sigmaB2)", "sigma_b2", given: sigmaB2, recorded: fileB2) { "\($0)" }
        let n = try pick("\(Setting.normalization)", "normalization", given: normalization, recorded: fileNormalization, show: \.rawValue)
        let d = Self.defaults
        return Resolved(activation: phi, parametrization: p ?? d.parametrization, sigmaW2: w2 ?? d.sigmaW2,
                        sigmaB2: b2 ?? d.sigmaB2, normalization: n ?? d.normalization)
    }
}
