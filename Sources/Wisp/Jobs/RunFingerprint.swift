import Foundation

/// What identifies a resumable run: the command, the full configuration (an MLP's
/// ``ProblemConfiguration``, a layer network's ``LayerRunIdentity``; never the rank layout), the
/// command's own settings (a typed `Encodable` value: the solver settings that change the
/// numbers) and the Wisp version, encoded by ``CanonicalJSON`` (sorted keys, exact doubles),
/// so two processes with the same settings produce the same bytes. Every checkpoint file
/// carries this text and is refused when it differs from the run's (``SealedFile``).
public struct RunFingerprint: Sendable, Equatable {
    /// The canonical compact JSON text.
    public let text: String

    public init<Configuration: Encodable, Settings: Encodable>(command: String, configuration: Configuration, settings: Settings) throws {
        let body = Body(command: command, configuration: configuration, settings: settings, version: wispVersion)
        text = CanonicalJSON.text(try CanonicalJSON.value(body))
    }

    private struct Body<Configuration: Encodable, Settings: Encodable>: Encodable {
        var command: String
        var configuration: Configuration
        var settings: Settings
        var version: String
        enum CodingKeys: String, CodingKey { case command, configuration, settings, version = "wisp_version" }
    }

    /// The first setting (in key order; those present in both first) whose value differs between `stored` (another
    /// fingerprint's text) and this one: "configuration.width is 128 there and 64 here", or
    /// nil when the texts are equal.
    public func difference(from stored: String) -> String? {
        guard stored != text else { return nil }
        func leaves(_ text: String) -> [String: String] {
            guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) else { return [:] }
            var out = [String: String]()
            for (path, text) in CanonicalJSON.leaves(value) {
                if case .string(let s)? = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) { out[path] = s } else { out[path] = text }
            }
            return out
        }
        let there = leaves(stored), here = leaves(text)
        // A setting set on both sides first: a changed method names the method, not a setting
        // that only the other method has.
        let keys = Set(there.keys).union(here.keys).sorted()
        for key in keys.filter({ there[$0] != nil && here[$0] != nil }) + keys where there[key] != here[key] {
            return "\(key) is \(there[key] ?? "unset") there and \(here[key] ?? "unset") here"
        }
        return "its fingerprint differs from this run's"
    }
}
