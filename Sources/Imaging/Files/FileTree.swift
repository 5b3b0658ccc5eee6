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

    /// Every regular file below `folder`, in a stable order (by path); symbolic links are not followed.
    ///
    /// POSIX `opendir`/`readdir` with the entry types it reports (an `lstat` only where the file system
    /// does not say): Foundation's enumerator with resource values took most of a dump's planning time.
    public static func regularFiles(under folder: URL) throws -> [URL] {
        try walk(folder).files
    }

    /// Every regular file below `folder` (as ``regularFiles(under:)``), and the folders below it that could not
    /// be read, with the reason: what a caller must report rather than lose silently.
    public static func walk(_ folder: URL) throws -> (files: [URL], unreadable: [(folder: URL, reason: String)]) {
        guard try isFolder(folder) else { throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: folder.path]) }
        var files: [String] = []
        var unreadable: [(URL, String)] = []
        var pending = [folder.path.hasSuffix("/") && folder.path.count > 1 ? String(folder.path.dropLast()) : folder.path]
        while let directory = pending.popLast() {
            guard let handle = opendir(directory) else {
                unreadable.append((URL(fileURLWithPath: directory, isDirectory: true), String(cString: strerror(errno))))
                continue
            }
            defer { closedir(handle) }
            while let entry = readdir(handle) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                if name == "." || name == ".." { continue }
                let path = directory + "/" + name
                var type = Int32(entry.pointee.d_type)
                if type == Int32(DT_UNKNOWN) {
                    var info = stat()
                    guard lstat(path, &info) == 0 else { continue }
                    type = (info.st_mode & S_IFMT) == S_IFDIR ? Int32(DT_DIR) : (info.st_mode & S_IFMT) == S_IFREG ? Int32(DT_REG) : Int32(DT_LNK)
                }
                if type == Int32(DT_DIR) { pending.append(path) } else if type == Int32(DT_REG) { files.append(path) }
            }
        }
        return (files.sorted().map { URL(fileURLWithPath: $0, isDirectory: false) }, unreadable.sorted { $0.0.path < $1.0.path })
    }
}
