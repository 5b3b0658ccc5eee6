import Foundation

/// Writes a file so that it appears only complete: the content goes to a temporary name in the
/// destination's folder (same extension, so that format detection by suffix still works) and is
/// then renamed over the destination. On failure the temporary file is removed.
public enum AtomicFile {
    /// Calls `write` with a temporary URL, then moves the result to `url`.
    public static func write(to url: URL, _ write: (URL) throws -> Void) throws {
        let folder = url.deletingLastPathComponent()
        let name = url.lastPathComponent
        let suffix = Self.fullExtension(of: name)
        let stem = String(name.dropLast(suffix.count))
        let temporary = folder.appendingPathComponent(".\(stem).partial-\(UUID().uuidString.prefix(8))\(suffix)")
        do {
            try write(temporary)
            if rename(temporary.path, url.path) != 0 {
                throw CocoaError(.fileWriteUnknown, userInfo: [
                    NSFilePathErrorKey: url.path,
                    NSLocalizedDescriptionKey: "\(url.path): could not move the finished file into place: \(String(cString: strerror(errno)))",
                ])
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }

    /// ".nii.gz" for "a.nii.gz", ".png" for "a.png", "" for "a".
    public static func fullExtension(of name: String) -> String {
        for double in [".nii.gz", ".tar.gz"] where name.hasSuffix(double) { return double }
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return "" }
        return String(name[dot...])
    }

    /// Creates `folder` if needed and checks that a file can be written in it; fails naming the folder and
    /// the reason (a read-only mount, a full disk, a missing permission).
    public static func checkWritable(folder: URL) throws {
        let fm = FileManager.default
        do {
            try fm.createDirectory(at: folder, withIntermediateDirectories: true)
            let probe = folder.appendingPathComponent(".taco-write-probe-\(UUID().uuidString.prefix(8))")
            try Data().write(to: probe)
            try fm.removeItem(at: probe)
        } catch {
            throw AtomicFileError(description: "\(folder.path): the output folder cannot be written (\(error.localizedDescription))")
        }
    }
}

/// Why an output folder cannot be used.
public struct AtomicFileError: Error, Sendable, CustomStringConvertible {
    public let description: String
}
