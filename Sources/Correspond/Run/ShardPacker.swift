import Foundation
import Imaging
import Shards

/// Packs mapped subjects into shards of a target size: subjects in the given order, a new shard when
/// the next subject would take the current one past `targetBytes` (a subject larger than the target
/// gets a shard of its own). Each subject's datasets are copied as stored (no re-compression).
///
/// The shards are written in a staging folder and moved into the output only when all are finished,
/// because a subject may be copied from an earlier shard that a new shard of the same name replaces.
public struct ShardPacker: Sendable {
    /// Where a subject's stored group comes from: its work shard or a shard of an earlier run.
    public struct Source: Sendable, Equatable {
        public let key: String
        public let shard: URL
        /// Estimated stored size, bytes.
        public let bytes: Int

        public init(key: String, shard: URL, bytes: Int) {
            self.key = key
            self.shard = shard
            self.bytes = bytes
        }
    }

    public let layout: CorrespondLayout
    public let index: Int
    public let count: Int
    public let targetBytes: Int
    public let atlas: String
    public let tokenStride: Int
    public let createdBy: String

    public init(layout: CorrespondLayout, index: Int, count: Int, targetBytes: Int, atlas: String, tokenStride: Int, createdBy: String) {
        self.layout = layout
        self.index = index
        self.count = count
        self.targetBytes = targetBytes
        self.atlas = atlas
        self.tokenStride = tokenStride
        self.createdBy = createdBy
    }

    /// The staging folder of this part.
    public var staging: URL { layout.work.appendingPathComponent("pack-\(index + 1)-of-\(count)") }

    /// Groups `sources` into shards (in order) by `targetBytes`.
    public func groups(_ sources: [Source]) -> [[Source]] {
        var groups: [[Source]] = []
        var current: [Source] = [], size = 0
        for source in sources {
            if !current.isEmpty && size + source.bytes > targetBytes {
                groups.append(current)
                current = []
                size = 0
            }
            current.append(source)
            size += source.bytes
        }
        if !current.isEmpty { groups.append(current) }
        return groups
    }

    /// Writes the shards into the staging folder; returns their URLs there.
    public func stage(_ sources: [Source]) throws -> [URL] {
        let fm = FileManager.default
        try? fm.removeItem(at: staging)
        try fm.createDirectory(at: staging, withIntermediateDirectories: true)
        var urls: [URL] = []
        var readers: [URL: ShardReader] = [:]
        for (number, group) in groups(sources).enumerated() {
            let url = staging.appendingPathComponent(CorrespondLayout.shardName(number: number + 1, index: index, count: count))
            let writer = try ShardWriter(url: url, atlas: atlas, tokenStride: tokenStride, createdBy: createdBy)
            do {
                for source in group {
                    let reader = try readers[source.shard] ?? ShardReader(url: source.shard)
                    readers[source.shard] = reader
                    try writer.copySubject(source.key, from: reader)
                }
                try writer.finish()
            } catch {
                writer.discard()
                throw error
            }
            urls.append(url)
        }
        return urls
    }

    /// Moves staged shards into the output folder; removes `stale` shards (of this part's previous run)
    /// that no new shard replaced, and the staging folder.
    public func publish(_ staged: [URL], replacing stale: [String]) throws {
        let fm = FileManager.default
        for url in staged {
            let destination = layout.root.appendingPathComponent(url.lastPathComponent)
            guard rename(url.path, destination.path) == 0 else {
                throw CorrespondFailure("\(destination.path): could not move the finished shard into place: \(String(cString: strerror(errno)))")
            }
        }
        let names = Set(staged.map(\.lastPathComponent))
        for name in stale where !names.contains(name) { try? fm.removeItem(at: layout.root.appendingPathComponent(name)) }
        try? fm.removeItem(at: staging)
    }
}
