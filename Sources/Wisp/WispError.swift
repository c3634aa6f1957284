/// Every failure Wisp reports to a user: one line that names the problem.
public enum WispError: Error, CustomStringConvertible, Equatable {
    /// A configuration value out of range or inconsistent with another.
    case invalidConfiguration(String)
    /// An input file that is missing, truncated, corrupt or of the wrong shape.
    case badInput(String)
    /// Non-finite values where finite ones are required.
    case nonFinite(String)
    /// A LAPACK failure or a breakdown a solver cannot recover from.
    case numerical(String)
    /// A file that could not be written.
    case output(String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let m), .badInput(let m), .nonFinite(let m),
             .numerical(let m), .output(let m):
            return m
        }
    }
}
