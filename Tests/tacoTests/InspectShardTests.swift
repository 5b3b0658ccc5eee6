import Foundation
import Shards
import Testing

/// `taco inspect` on a shard: its subjects, and `--verify` catching a damaged byte.
@Suite struct InspectShardTests {
    @Test func describesAShardAndVerifyFindsADamagedChunk() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("taco-inspect-shard-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("shard-0001.h5")
        let size = SIMD3<Int>(20, 18, 16), voxels = 20 * 18 * 16
        let subject = ShardSubject(key: "sub-1a2b_ses-3c", modalities: ["T1w", "FLAIR"], size: size,
                                   image: (0..<(2 * voxels)).map { Float($0 % 100) / 10 }, mask: [UInt8](repeating: 1, count: voxels),
                                   affine: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1], spacing: [1, 1, 1], tokenGridSize: [5, 5, 4],
                                   atlasCoords: [Float](repeating: 0, count: 300), atlasLabels: [UInt8](repeating: 2, count: 100),
                                   confidence: [Float](repeating: 0.5, count: 100), flags: ["folding above 1% (1.20%)"])
        let writer = try ShardWriter(url: url, atlas: "mni152-2009a-sym", tokenStride: 4, createdBy: "test")
        try writer.add(subject)
        try writer.finish()

        let described = try TacoProcess.run(["inspect", url.path, "--verify"])
        #expect(described.status == 0, "\(described.err)")
        #expect(described.out.contains("format       taco-shard version 2") && described.out.contains("subjects     1"))
        #expect(described.out.contains("sub-1a2b_ses-3c: T1w FLAIR, 20 x 18 x 16 voxels at 1 x 1 x 1 mm, tokens 5 x 5 x 4; flags: folding above 1%"))
        #expect(described.out.contains("every chunk's checksum holds"))

        // The manifest beside it.
        let manifestURL = folder.appendingPathComponent(ShardManifest.fileName)
        try ShardManifest.build(shards: [url], configuration: [:]).write(to: manifestURL)
        let listed = try TacoProcess.run(["inspect", manifestURL.path, "--verify"])
        #expect(listed.status == 0 && listed.out.contains("subjects     1 (1 flagged)") && listed.out.contains("modalities   FLAIR 1, T1w 1")
                && listed.out.contains("every shard is present"), "\(listed.out)\n\(listed.err)")

        let chunk = try HDF5File.open(url).chunkLocation(of: "/subjects/sub-1a2b_ses-3c/image", index: 0)
        var bytes = try Data(contentsOf: url)
        bytes[chunk.offset + chunk.size / 3] ^= 0x01
        try bytes.write(to: url)
        let damaged = try TacoProcess.run(["inspect", url.path, "--verify"])
        #expect(damaged.status == 1 && damaged.out.contains("1 damaged dataset(s)") && damaged.out.contains("/subjects/sub-1a2b_ses-3c/image"),
                "\(damaged.out)\n\(damaged.err)")
        let changed = try TacoProcess.run(["inspect", manifestURL.path, "--verify"])
        #expect(changed.status == 1 && changed.out.contains("shard-0001.h5: SHA-256 differs"), "\(changed.out)")
    }
}
