import Foundation

/// Checks made before any computation, so a run never spends an hour and then fails to write.
public enum OutputPath {
    /// Creates the parent directory if needed and proves it writable with a probe file.
    public static func checkWritable(_ path: String) throws {
        guard !path.isEmpty else { throw WispError.output("the output path is empty") }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw WispError.output("cannot write \(path): it is a directory")
        }
        try AtomicFile.createDirectory(forFile: path)
        let directory = (path as NSString).deletingLastPathComponent
        let probe = (directory.isEmpty ? "." : directory) + "/.wisp-write-check-\(getpid())"
        guard FileManager.default.createFile(atPath: probe, contents: Data()) else {
            throw WispError.output("cannot write \(path): directory \(directory.isEmpty ? "." : directory) is not writable")
        }
        try? FileManager.default.removeItem(atPath: probe)
    }

    /// `path` with its extension replaced (density.json → density.csv).
    public static func sibling(of path: String, extension ext: String) -> String {
        ((path as NSString).deletingPathExtension as NSString).appendingPathExtension(ext) ?? path + "." + ext
    }
}
