import Crypto
import Foundation

/// The manifest beside the shards (`dataset.json`, docs/shard-format.md): every shard with its size, SHA-256 and
/// subjects; every subject with its shard, modalities, shape and flags; the atlas, the token stride and
/// the configuration. Holds pseudonymous keys only.
public struct ShardManifest: Sendable, Codable, Equatable {
    public struct Shard: Sendable, Codable, Equatable {
        public let name: String
        public let bytes: Int
        public let sha256: String
        public let subjects: [String]
    }

    public struct Subject: Sendable, Codable, Equatable {
        public let key: String
        public let shard: String
        public let modalities: [String]
        /// (x, y, z) voxels.
        public let shape: [Int]
        public let flags: [String]

        public init(key: String, shard: String, modalities: [String], shape: [Int], flags: [String]) {
            self.key = key
            self.shard = shard
            self.modalities = modalities
            self.shape = shape
            self.flags = flags
        }
    }

    public var format = "taco-shard-manifest"
    public var version = 1
    public var atlas: String
    public var tokenStride: Int
    public var configuration: [String: String]
    public var shards: [Shard]
    public var subjects: [Subject]

    public static let fileName = "dataset.json"

    /// The manifest of `shards` (files in one folder), read from the files themselves.
    public static func build(shards urls: [URL], configuration: [String: String]) throws -> ShardManifest {
        var shards: [Shard] = [], subjects: [Subject] = []
        var atlas: String?, stride: Int?
        for url in urls.sorted(by: { $0.lastPathComponent < $1.lastPathComponent }) {
            let reader = try ShardReader(url: url)
            if let atlas, atlas != reader.atlas { throw ShardError(reason: "\(url.path): atlas \(reader.atlas), the other shards \(atlas)") }
            if let stride, stride != reader.tokenStride {
                throw ShardError(reason: "\(url.path): token stride \(reader.tokenStride), the other shards \(stride)")
            }
            atlas = reader.atlas
            stride = reader.tokenStride
            let keys = try reader.keys()
            for key in keys {
                let d = try reader.describe(key)
                subjects.append(Subject(key: key, shard: url.lastPathComponent, modalities: d.modalities,
                                        shape: [d.size.x, d.size.y, d.size.z], flags: d.flags))
            }
            let size = (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
            shards.append(Shard(name: url.lastPathComponent, bytes: size, sha256: try sha256(of: url), subjects: keys))
        }
        let manifest = ShardManifest(atlas: atlas ?? "", tokenStride: stride ?? 0, configuration: configuration, shards: shards,
                                     subjects: subjects.sorted { $0.key < $1.key })
        try manifest.checkUniqueSubjects()
        return manifest
    }

    /// One manifest from the parts that shards of a batch wrote: same atlas, token stride and
    /// configuration, every subject exactly once.
    public static func merge(_ parts: [ShardManifest]) throws -> ShardManifest {
        guard let first = parts.first else { throw ShardError(reason: "no manifest parts to merge") }
        for part in parts.dropFirst() where part.atlas != first.atlas || part.tokenStride != first.tokenStride
            || part.configuration != first.configuration {
            throw ShardError(reason: "the parts were made with different atlases, token strides or configurations")
        }
        var merged = first
        merged.shards = parts.flatMap(\.shards).sorted { $0.name < $1.name }
        merged.subjects = parts.flatMap(\.subjects).sorted { $0.key < $1.key }
        try merged.checkUniqueSubjects()
        return merged
    }

    /// Fails naming a subject or shard name that appears twice.
    func checkUniqueSubjects() throws {
        var seen: [String: String] = [:]
        for s in subjects {
            if let other = seen[s.key] { throw ShardError(reason: "subject \(s.key) is in both \(other) and \(s.shard)") }
            seen[s.key] = s.shard
        }
        let names = shards.map(\.name)
        if Set(names).count != names.count { throw ShardError(reason: "a shard name appears twice in the manifest") }
    }

    /// Checks the shards in `folder` against the manifest (presence, size, SHA-256); returns the problems.
    public func verify(folder: URL) throws -> [String] {
        var problems: [String] = []
        for shard in shards {
            let url = folder.appendingPathComponent(shard.name)
            guard FileManager.default.fileExists(atPath: url.path) else { problems.append("\(shard.name): missing"); continue }
            let size = (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? -1
            if size != shard.bytes { problems.append("\(shard.name): \(size) bytes, the manifest says \(shard.bytes)"); continue }
            if try Self.sha256(of: url) != shard.sha256 { problems.append("\(shard.name): SHA-256 differs from the manifest's") }
        }
        return problems
    }

    /// Writes the manifest (atomically: a temporary file renamed).
    public func write(to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let temporary = url.deletingLastPathComponent().appendingPathComponent("." + url.lastPathComponent + ".partial")
        try encoder.encode(self).write(to: temporary)
        if FileManager.default.fileExists(atPath: url.path) { try FileManager.default.removeItem(at: url) }
        try FileManager.default.moveItem(at: temporary, to: url)
    }

    public static func read(from url: URL) throws -> ShardManifest {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            let manifest = try decoder.decode(ShardManifest.self, from: Data(contentsOf: url))
            guard manifest.format == "taco-shard-manifest", manifest.version == 1 else {
                throw ShardError(reason: "\(url.path): not a version 1 taco-shard manifest")
            }
            return manifest
        } catch let error as ShardError { throw error } catch {
            throw ShardError(reason: "\(url.path): not a readable manifest (\(error.localizedDescription))")
        }
    }

    /// SHA-256 of a file, streamed in 4 MiB blocks, hexadecimal.
    static func sha256(of url: URL) throws -> String {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        var hasher = SHA256()
        while let block = try handle.read(upToCount: 4 << 20), !block.isEmpty { hasher.update(data: block) }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
