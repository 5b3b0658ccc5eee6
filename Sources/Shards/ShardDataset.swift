import Foundation
import TacoCore

/// The shards a manifest (`dataset.json`) lists, opened on demand: where each subject is, and its reader.
/// At most `openShards` files are open at once (least recently used closed first), so a dataset of
/// thousands of shards needs no more file handles than a small one.
///
/// ```swift
/// let dataset = try ShardDataset(manifest: URL(fileURLWithPath: "shards/dataset.json"))
/// let reader = try dataset.reader(for: dataset.manifest.subjects[0].key)
/// ```
///
public final class ShardDataset: Sendable {
    public let folder: URL
    public let manifest: ShardManifest
    public let openShards: Int
    private let subjectsByKey: [String: ShardManifest.Subject]
    /// The open readers, most recently used last.
    private let open = Locked([(name: String, reader: ShardReader)]())

    /// Reads the manifest at `manifest` (a `dataset.json`, or the folder holding one).
    public init(manifest url: URL, openShards: Int = 16) throws {
        var isFolder: ObjCBool = false
        let file = FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder) && isFolder.boolValue
            ? url.appendingPathComponent(ShardManifest.fileName) : url
        guard FileManager.default.fileExists(atPath: file.path) else { throw ShardError(reason: "\(file.path): no such manifest") }
        manifest = try ShardManifest.read(from: file)
        folder = file.deletingLastPathComponent()
        self.openShards = max(1, openShards)
        subjectsByKey = Dictionary(manifest.subjects.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The manifest's entry for subject `key`.
    public func subject(_ key: String) throws -> ShardManifest.Subject {
        guard let subject = subjectsByKey[key] else { throw ShardError(reason: "subject \(key) is not in \(folder.path)/\(ShardManifest.fileName)") }
        return subject
    }

    /// The reader of the shard that holds subject `key`.
    public func reader(for key: String) throws -> ShardReader { try reader(shard: subject(key).shard) }

    /// The reader of shard `name` (a file beside the manifest).
    public func reader(shard name: String) throws -> ShardReader {
        try open.withLock { open throws -> ShardReader in
            if let index = open.firstIndex(where: { $0.name == name }) {
                let entry = open.remove(at: index)
                open.append(entry)
                return entry.reader
            }
            let reader: ShardReader
            do {
                reader = try ShardReader(url: folder.appendingPathComponent(name))
            } catch let error as HDF5Error {
                throw ShardError(reason: "\(name): cannot open the shard: \(error.reason)")
            }
            open.append((name, reader))
            if open.count > openShards { open.removeFirst() }
            return reader
        }
    }
}
