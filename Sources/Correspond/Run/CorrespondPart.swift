import Foundation
import Imaging
import TacoCore
import Shards

/// What part `shardIndex` of `shardCount` of a correspond run wrote (`parts/part-<i>-of-<n>.json`):
/// its shards (a manifest of them), each packed subject's fingerprint, and the subjects that failed
/// with their reasons. `taco correspond merge` turns the parts into `dataset.json`.
public struct CorrespondPart: Sendable, Codable, Equatable {
    public var shardIndex: Int
    public var shardCount: Int
    public var version: String
    /// The atlas folder the maps were made with (for the cohort picture).
    public var atlasFolder: String
    public var manifest: ShardManifest
    /// Packed subject -> its fingerprint (``CorrespondPlanner/fingerprint(of:)``).
    public var fingerprints: [String: String]
    /// Failed subject -> why.
    public var failures: [String: String]

    /// Writes the part atomically; parts of an earlier, differently split run are removed (``BatchParts``).
    public func write(to layout: CorrespondLayout) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        try layout.partFiles.write(try encoder.encode(self), index: shardIndex, count: shardCount)
    }

    public static func read(_ url: URL) throws -> CorrespondPart {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do { return try decoder.decode(CorrespondPart.self, from: Data(contentsOf: url)) } catch {
            throw CorrespondFailure("\(url.path): not a readable part file (\(error.localizedDescription))")
        }
    }

    /// Every readable part file in the output (any shard count).
    static func all(in layout: CorrespondLayout) -> [CorrespondPart] {
        layout.partFiles.present().compactMap { try? read($0.url) }
    }

    /// What `taco correspond merge` did.
    public struct Merged: Sendable {
        public let manifest: ShardManifest
        public let parts: Int
        /// Failed subject -> why, over every part.
        public let failures: [String: String]
    }

    /// Merges the parts of the split into `dataset.json`, removes shards that no part lists (left by a
    /// superseded split) and draws the cohort picture. Fails naming the missing parts, a subject packed
    /// twice, or mixed configurations.
    @discardableResult
    public static func merge(_ layout: CorrespondLayout) throws -> Merged {
        let files: [BatchParts.Part]
        do { files = try layout.partFiles.complete(rerunHint: " (run taco correspond with --out \(layout.root.path) first)") } catch {
            throw CorrespondFailure("\(error)")
        }
        let parts = try files.map { try read($0.url) }
        let configurations = parts.map(\.manifest.configuration)
        if let differing = Set(configurations.flatMap(\.keys)).sorted().first(where: { key in Set(configurations.map { $0[key] }).count > 1 }) {
            throw CorrespondFailure("\(layout.parts.path): the parts were made with different configurations (\(differing) differs); rerun them with one")
        }
        let manifest: ShardManifest
        do { manifest = try ShardManifest.merge(parts.map(\.manifest)) } catch { throw CorrespondFailure("\(layout.parts.path): \(error)") }
        var failures: [String: String] = [:]
        for part in parts { failures.merge(part.failures) { a, _ in a } }
        for shard in manifest.shards where !FileManager.default.fileExists(atPath: layout.root.appendingPathComponent(shard.name).path) {
            throw CorrespondFailure("\(layout.root.appendingPathComponent(shard.name).path): missing (listed by a part)")
        }
        try manifest.write(to: layout.manifest)
        let listed = Set(manifest.shards.map(\.name))
        for name in (try? FileManager.default.contentsOfDirectory(atPath: layout.root.path)) ?? []
        where CorrespondLayout.isShardName(name) && !listed.contains(name) {
            try? FileManager.default.removeItem(at: layout.root.appendingPathComponent(name))
        }
        try drawCohort(manifest, atlasFolder: parts[0].atlasFolder, layout: layout)
        return Merged(manifest: manifest, parts: parts.count, failures: failures)
    }

    /// The mean reference in atlas space of the unflagged subjects, beside the template.
    static func drawCohort(_ manifest: ShardManifest, atlasFolder: String, layout: CorrespondLayout) throws {
        let atlas: Atlas
        do { atlas = try Atlas(folder: URL(fileURLWithPath: atlasFolder)) } catch {
            throw CorrespondFailure("the cohort picture needs the atlas: \(error)")
        }
        let pictures = try AtlasPictures(atlas: atlas)
        var warped: [Volume] = []
        for subject in manifest.subjects where subject.flags.isEmpty {
            let url = layout.warpedReference(subject.key)
            guard FileManager.default.fileExists(atPath: url.path) else { continue }
            let volume = try NIfTIFile.read(url).0
            guard volume.geometry.isClose(to: pictures.grid, tolerance: 1e-3) else {
                throw CorrespondFailure("\(url.path): not on the atlas picture grid")
            }
            warped.append(Volume(geometry: pictures.grid, voxels: volume.voxels))
        }
        guard !warped.isEmpty else { return }
        try FileManager.default.createDirectory(at: layout.qc, withIntermediateDirectories: true)
        try pictures.cohort(mean: pictures.mean(warped)).write(to: layout.cohortPicture)
    }
}
