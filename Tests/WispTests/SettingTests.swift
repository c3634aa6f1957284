import Foundation
import Wisp
import WispTestSupport
import XCTest

/// The library names settings (``Setting``), the CLI spells them as flags in one table
/// (`SettingFlags`): library messages carry no flag of their own, and the CLI's carry no typed name.
final class SettingTests: XCTestCase {
    /// Every string literal of the library that names a command-line flag would bypass the CLI's
    /// table (and read as a flag to a program using the library): there must be none.
    func testLibrarySourcesNameSettingsNotFlags() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/Wisp")
        let flag = try NSRegularExpression(pattern: "\"[^\"]*--[a-z]")
        var offenders: [String] = []
        let files = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)!
        for case let url as URL in files where url.pathExtension == "swift" {
            let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            for (i, line) in lines.enumerated() where !line.trimmingCharacters(in: .whitespaces).hasPrefix("//") {
                let text = String(line)
                if flag.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil {
                    offenders.append("\(url.lastPathComponent):\(i + 1): \(text.trimmingCharacters(in: .whitespaces))")
                }
            }
        }
        XCTAssertTrue(offenders.isEmpty, "library strings that name flags instead of settings:\n" + offenders.joined(separator: "\n"))
    }

    /// Without a front end's spelling a setting reads as its typed name.
    func testSettingsReadAsTheirTypedNames() throws {
        XCTAssertEqual("\(Setting.lanczosCount)", "LanczosSettings.count")
        let identity = MatrixOperator([1, 0, 0, 0, 1, 0, 0, 0, 1], dimension: 3)
        XCTAssertThrowsError(try Lanczos.solve(identity, settings: LanczosSettings(count: 0))) {
            XCTAssertTrue("\($0)".hasPrefix("LanczosSettings.count must be at least 1"), "\($0)")
        }
        XCTAssertEqual(Set(Setting.allCases.map(\.rawValue)).count, Setting.allCases.count, "two settings share a name")
    }

    /// The CLI spells the same errors as the flags its users typed, and never as a typed name.
    func testTheCLISpellsSettingsAsFlags() throws {
        let cases: [([String], String)] = [
            (["top", "--method", "lanczos", "--matrix", "ntk", "--k", "9", "--width", "8", "--samples", "6", "--quiet"], "--k 9 exceeds"),
            (["density", "--method", "slq", "--steps", "0", "--width", "8", "--samples", "6", "--quiet"], "--steps must be at least 1"),
            (["density", "--method", "kpm", "--moments", "4", "--width", "8", "--samples", "6", "--quiet"], "--moments must be at least 8"),
            (["train", "--batch-size", "7", "--width", "8", "--samples", "6", "--quiet"], "--batch-size must be between 1 and the 6 samples"),
        ]
        for (arguments, expected) in cases {
            let r = try WispExecutable.run(arguments)
            XCTAssertNotEqual(r.status, 0, arguments.joined(separator: " "))
            XCTAssertTrue(r.stderr.contains(expected), "\(arguments.joined(separator: " ")): \(r.stderr)")
            XCTAssertNil(Setting.allCases.first { r.stderr.contains($0.rawValue) }, r.stderr)
        }
    }
}
