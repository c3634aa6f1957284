import ArgumentParser

/// The accepted range of every numeric flag, checked on the raw command line before parsing.
///
/// ArgumentParser reads a value that starts with `-` as another option, so `--width -5` used
/// to say "Missing value for '--width'" and `--lower-bound -1` could not be written at all;
/// and a malformed value (`--width 5x`) gave a message without the accepted range. Here every
/// numeric flag's value is read in one place: a value outside the flag's domain is one
/// error naming the flag, the domain and the value; a legal negative value is passed on as
/// `--flag=value`, which the parser accepts. Bounds that depend on the problem (`--k ≤ d`,
/// `--deflate` below the dimension, `--moments ≥ 8`) are checked later, where they are known.
enum NumericFlags {
    /// The domain of one flag's value.
    enum Domain: Equatable {
        /// An integer n with n ≥ min (a Swift `Int`).
        case integer(min: Int)
        /// An integer 0 … 2⁶⁴ − 1 (seeds).
        case unsigned64
        /// A finite real number x with x > 0 (`strictlyPositive`) or x ≥ 0.
        case real(positive: Bool)
        /// Any finite real number.
        case anyReal

        var description: String {
            switch self {
            case .integer(let min): return "an integer ≥ \(min)"
            case .unsigned64: return "an integer 0…\(UInt64.max)"
            case .real(positive: true): return "a finite number > 0"
            case .real(positive: false): return "a finite number ≥ 0"
            case .anyReal: return "a finite number"
            }
        }

        func accepts(_ text: String) -> Bool {
            switch self {
            case .integer(let min): return Int(text).map { $0 >= min } ?? false
            case .unsigned64: return UInt64(text) != nil
            case .real(let positive):
                guard let x = Double(text), x.isFinite else { return false }
                return positive ? x > 0 : x >= 0
            case .anyReal: return Double(text)?.isFinite ?? false
            }
        }
    }

    /// Every numeric flag of every subcommand. A flag shared by several subcommands has the
    /// widest of their domains here (`--steps 0` is legal for `train`); the subcommand then
    /// checks its own bound with a message of its own.
    static let domains: [String: Domain] = [
        // the network and data (NetworkOptions, DataOptions)
        "--depth": .integer(min: 1), "--width": .integer(min: 1), "--input-dim": .integer(min: 1),
        "--outputs": .integer(min: 1), "--samples": .integer(min: 1), "--classes": .integer(min: 1),
        "--pool": .integer(min: 1), "--seed": .unsigned64,
        "--sigma-w2": .real(positive: false), "--sigma-b2": .real(positive: false), "--beta": .real(positive: false),
        // solvers
        "--k": .integer(min: 1), "--basis": .integer(min: 1), "--max-applications": .integer(min: 1),
        "--tol": .real(positive: true), "--probes": .integer(min: 1), "--steps": .integer(min: 0),
        "--slq-steps": .integer(min: 1), "--grid-points": .integer(min: 2), "--broadening": .real(positive: true),
        "--exact-limit": .integer(min: 0), "--dense-limit": .integer(min: 0), "--checkpoint-every": .real(positive: false),
        "--inpca-samples": .integer(min: 1),
        // KPM
        "--moments": .integer(min: 1), "--deflate": .integer(min: 0), "--bound-steps": .integer(min: 2),
        "--lower-bound": .anyReal, "--upper-bound": .anyReal,
        // train
        "--lr": .real(positive: true), "--batch-size": .integer(min: 1), "--target-loss": .real(positive: false),
        "--every": .integer(min: 1), "--top": .integer(min: 0), "--grid-radius": .real(positive: true),
        "--align-exact-limit": .integer(min: 0), "--align-probes": .integer(min: 1),
        "--momentum": .real(positive: false), "--beta1": .real(positive: false), "--beta2": .real(positive: false),
        "--adam-eps": .real(positive: true), "--weight-decay": .real(positive: false), "--validation-samples": .integer(min: 1),
    ]

    /// Checks the value of every numeric flag in `arguments` (the command line without the
    /// program name) and returns the arguments with each `--flag value` joined into
    /// `--flag=value`. Throws one `ValidationError` naming the flag, its domain and the value.
    /// A flag with no value after it is left for the parser to report; everything after a
    /// bare `--` is left alone.
    static func normalized(_ arguments: [String]) throws -> [String] {
        var out = [String]()
        var i = 0
        while i < arguments.count {
            let argument = arguments[i]
            i += 1
            if argument == "--" { out.append(argument); out.append(contentsOf: arguments[i...]); break }
            let name: String, value: String
            if argument.hasPrefix("--"), let eq = argument.firstIndex(of: "="), domains[String(argument[..<eq])] != nil {
                (name, value) = (String(argument[..<eq]), String(argument[argument.index(after: eq)...]))
            } else if domains[argument] != nil, i < arguments.count, looksLikeValue(arguments[i]) {
                (name, value) = (argument, arguments[i])
                i += 1
            } else {
                out.append(argument)
                continue
            }
            guard let domain = domains[name], domain.accepts(value) else {
                throw ValidationError("\(name) must be \(domains[name]!.description) (got '\(value)')")
            }
            out.append("\(name)=\(value)")
        }
        return out
    }

    /// Whether the argument after a flag is its value: anything but another option (a
    /// negative number such as `-5`, `-.5` or `-1e-3` is a value).
    private static func looksLikeValue(_ next: String) -> Bool {
        guard next.hasPrefix("-") else { return true }
        guard next.count > 1 else { return true }   // a lone "-"
        let second = next[next.index(after: next.startIndex)]
        return second.isNumber || second == "."
    }
}
