import Foundation
import Imaging
import TacoCore
import Testing
@testable import Correspond
@testable import Prep
import Shards

/// A prepared session (written by Prep's writer) read from its files, packed with its atlas map into a
/// shard, read back; and the bad sessions that must fail with the file and the reason.
@Suite(.serialized) struct PreparedSessionTests {
    /// Writes MappedCohort's first subject as a prepared session; returns the session folder.
    static func writeSession(under root: URL) throws -> URL {
        let s = MappedCohort.subjects[0]
        return try PreparedSessionWriter().write(s.prepared, subject: "a1", session: "b2", fingerprint: "f", configuration: [:], under: root)
    }

    @Test func aPreparedSessionBecomesAShardSubjectWithItsGeometryAndMap() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("taco-prepared-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let folder = try Self.writeSession(under: root)
        let session = try PreparedSession(folder: folder)
        #expect(session.key == "sub-a1_ses-b2" && session.modalities == ["T1w", "T2w"] && session.reference == "T1w")
        let s = MappedCohort.subjects[0]
        let subject = ShardSubjectBuilder.subject(session, map: s.map)
        let url = root.appendingPathComponent("shard-0001.h5")
        let writer = try ShardWriter(url: url, atlas: "mni152-2009a-sym", tokenStride: MappedCohort.mapping.tokenStride, createdBy: "test")
        try writer.add(subject)
        try writer.finish()
        let back = try ShardReader(url: url).subject(session.key)
        // The affine is the NIfTI's voxel -> RAS: a voxel's RAS point from the shard equals the grid's.
        let g = s.prepared.grid
        let affine = AffineTransform3D(rowMajor4x4: back.affine)
        let index = Vector3(7, 11, 5)
        let ras = g.point(ofIndex: index) * Vector3(-1, -1, 1)
        #expect(length(affine.apply(to: index) - ras) < 1e-6)
        // Voxels within float16 precision; the atlas map unchanged.
        let t1 = s.prepared.volumes["T1w"]!.voxels
        #expect(zip(back.image, t1).allSatisfy { abs($0 - $1) <= 2e-3 * max(1, abs($1)) })
        #expect(back.atlasCoords == s.map.atlasCoords && back.atlasLabels == s.map.atlasLabels)
        #expect(back.metrics["folded_fraction"] == s.map.metrics["folded_fraction"])
    }

    @Test func aMissingModalityOrACorruptVolumeIsNamed() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("taco-prepared-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let folder = try Self.writeSession(under: root)
        let volume = folder.appendingPathComponent("anat/sub-a1_ses-b2_desc-preproc_T1w.nii.gz")
        let bytes = try Data(contentsOf: volume)
        try bytes.prefix(bytes.count / 2).write(to: volume)
        #expect { try PreparedSession(folder: folder) } throws: { "\($0)".contains(volume.path) && "\($0)".contains("unreadable") }
        try FileManager.default.removeItem(at: volume)
        #expect { try PreparedSession(folder: folder) } throws: { "\($0)".contains(volume.path) && "\($0)".contains("missing") }
        #expect { try PreparedSession(folder: root) } throws: { "\($0)".contains("not a prepared session folder") }
    }
}
