import Foundation
import PackagePlugin

/// Bakes the source tree's git commit into the engine at build time (`wispBuildCommit`), so that
/// every record names the commit its binary was built from, not whatever the source tree holds
/// when it runs (a binary copied to a cluster keeps it). A prebuild command: it runs before every
/// build, and rewrites the generated file only when the commit (or its "-dirty" mark: tracked
/// files modified) changed, so an unchanged tree recompiles nothing. Without git, or outside a
/// repository, the commit is "unknown".
@main
struct BuildInfo: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let out = context.pluginWorkDirectoryURL.appendingPathComponent("generated")
        let script = #"""
            set -u
            mkdir -p "$2"
            c=$(git -C "$1" rev-parse HEAD 2>/dev/null) || c=unknown
            if [ "$c" != unknown ] && [ -n "$(git -C "$1" status --porcelain --untracked-files=no 2>/dev/null | head -n 1)" ]; then c="$c-dirty"; fi
            f="$2/BuildCommit.swift"
            new="/// The git commit this binary was built from (BuildInfo plugin; \"-dirty\": tracked files were modified).
            public let wispBuildCommit = \"$c\""
            [ "$(cat "$f" 2>/dev/null)" = "$new" ] || printf '%s\n' "$new" > "$f"
            """#
        return [.prebuildCommand(displayName: "Wisp build info (git commit)",
                                 executable: URL(fileURLWithPath: "/bin/sh"),
                                 arguments: ["-c", script, "sh", context.package.directoryURL.path, out.path],
                                 outputFilesDirectory: out)]
    }
}
