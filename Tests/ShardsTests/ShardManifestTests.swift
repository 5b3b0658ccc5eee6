import Crypto
import Foundation
import Testing
@testable import Shards

/// The manifest beside the shards: what it lists, merging parts, and catching a changed or missing shard.
@Suite struct ShardManifestTests {
    static func shard(_ dir: URL, _ name: String, keys: [String]) throws -> URL {
        let url = dir.appendingPathComponent(name)
        let writer = try ShardWriter(url: url, atlas: "mni152-2009a-sym", tokenStride: 4, createdBy: "test")
        for key in keys { try writer.add(ShardTests.subject(key, size: [12, 10, 8])) }
        try writer.finish()
        return url
    }

    @Test func aManifestListsShardsWithChecksumsAndEverySubjectOnce() throws {
        let dir = try ShardTests.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = try Self.shard(dir, "shard-0001.h5", keys: ["sub-aa_ses-1", "sub-bb_ses-1b"])
        let b = try Self.shard(dir, "shard-0002.h5", keys: ["sub-cc_ses-1"])
        let partA = try ShardManifest.build(shards: [a], configuration: ["token_stride": "4"])
        let partB = try ShardManifest.build(shards: [b], configuration: ["token_stride": "4"])
        let merged = try ShardManifest.merge([partB, partA])
        #expect(merged == (try ShardManifest.build(shards: [b, a], configuration: ["token_stride": "4"])), "N parts merged equal a single run")
        #expect(merged.subjects.map(\.key) == ["sub-aa_ses-1", "sub-bb_ses-1b", "sub-cc_ses-1"])
        #expect(merged.subjects[1].flags == ["folding above 1%"] && merged.subjects[0].shape == [12, 10, 8])
        // The SHA-256 is the file's, computed independently here.
        let digest = SHA256.hash(data: try Data(contentsOf: a)).map { String(format: "%02x", $0) }.joined()
        #expect(merged.shards[0].sha256 == digest && merged.shards[0].subjects == ["sub-aa_ses-1", "sub-bb_ses-1b"])
        // A subject in two parts is refused by name.
        #expect { try ShardManifest.merge([partA, partA]) } throws: { "\($0)".contains("sub-aa_ses-1 is in both") }

        let url = dir.appendingPathComponent(ShardManifest.fileName)
        try merged.write(to: url)
        #expect(try ShardManifest.read(from: url) == merged)
        #expect(try merged.verify(folder: dir).isEmpty)
        var bytes = try Data(contentsOf: b)
        bytes[bytes.count - 10] ^= 0xff
        try bytes.write(to: b)
        #expect(try merged.verify(folder: dir) == ["shard-0002.h5: SHA-256 differs from the manifest's"])
        try FileManager.default.removeItem(at: a)
        #expect(try merged.verify(folder: dir).first == "shard-0001.h5: missing")
    }
}
