import Foundation

/// Walks folders the way a hospital export must be walked: every regular file, in a stable order,
/// never following symbolic links (so a link back up the tree cannot loop).
public enum FileTree {
    /// Whether `input` is a folder (true) or a file (false); throws naming it when it does not exist.
    public static func isFolder(_ input: URL) throws -> Bool {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: input.path, isDirectory: &isDirectory) else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: input.path,
                                                         NSLocalizedDescriptionKey: "\(input.path): no such file or folder"])
        }
        return isDirectory.boolValue
    }

    /// Every regular file below `folder`, in a stable order; symbolic links are not followed.
    public static func regularFiles(under folder: URL) throws -> [URL] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: folder.path])
        }
        guard let walker = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: [.isRegularFileKey, .isSymbolicLinkKey]) else {
            return []
        }
        var files: [URL] = []
        for case let url as URL in walker {
            let values = try? url.resourceValues(forKeys: [.isRegularFileKey, .isSymbolicLinkKey])
            if values?.isSymbolicLink == true { walker.skipDescendants(); continue }
            if values?.isRegularFile == true { files.append(url) }
        }
        return files.sorted { $0.path < $1.path }
    }
}
