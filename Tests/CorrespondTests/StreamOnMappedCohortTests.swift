import Foundation
import Imaging
import TacoCore
import Shards
import Testing
@testable import Synth
@testable import Train

/// The training stream on shards of two synthetic subjects registered with the default registration
/// (MappedCohort), against synth's ground truth: inter-instance matches between the batch's two crops
/// must join tokens whose true atlas points lie within 3 mm.
@Suite(.serialized) struct StreamOnMappedCohortTests {
    static func shards() throws -> URL {
        let subjects = MappedCohort.subjects      // synthesised and mapped first: synth wants a fresh root folder
        let folder = MappedCohort.root.appendingPathComponent("shards-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let url = folder.appendingPathComponent("shard-00001.h5")
        let writer = try ShardWriter(url: url, atlas: "mni152-2009a-sym", tokenStride: MappedCohort.mapping.tokenStride, createdBy: "test")
        for (index, s) in subjects.enumerated() {
            let g = s.prepared.grid, modalities = ["T1w", "T2w"]
            try writer.add(ShardSubject(key: "sub-\(index)_ses-1", modalities: modalities, size: g.size,
                                        image: modalities.flatMap { s.prepared.volumes[$0]!.voxels }, mask: s.prepared.mask.voxels.map { $0 > 0 ? 1 : 0 },
                                        affine: g.indexToRAS.rowMajor4x4, spacing: [g.spacing.x, g.spacing.y, g.spacing.z],
                                        tokenGridSize: s.map.tokenGridSize, atlasCoords: s.map.atlasCoords, atlasLabels: s.map.atlasLabels,
                                        confidence: s.map.confidence, metrics: s.map.metrics, flags: []))
        }
        try writer.finish()
        try ShardManifest.build(shards: [url], configuration: [:]).write(to: folder.appendingPathComponent(ShardManifest.fileName))
        return folder
    }

    @Test func interInstanceMatchesAgreeWithTheTruthWithinThreeMillimetres() throws {
        let folder = try Self.shards()
        let spacing = MappedCohort.subjects[0].prepared.grid.spacing.x
        // Tokens every 2 voxels (4 mm at 2 mm voxels, one stored token spacing), crops of 64 mm; radius one token spacing.
        let sampling = SamplingOptions(roi: SIMD3(32, 32, 32), tokenStride: 2)
        var matched = 0, good = 0, coordinateErrors: [Double] = []
        for seed in 0..<4 {
            let stream = try BatchStream(dataset: ShardDataset(manifest: folder),
                                         options: StreamOptions(batchSize: 2, seed: UInt64(seed), rank: 0, worldSize: 1, sampling: sampling))
            let batch = try #require(try stream.next())
            #expect(batch.samples.count == 2 && batch.pairs.count == 2)
            let subjects = batch.samples.map { Int($0.key.dropFirst(4).prefix(1))! }
            func truth(_ sample: Int, _ t: Int) -> SIMD3<Double> {
                let p = batch.samples[sample].tokenPoints
                // The truth map takes LPS and gives atlas RAS.
                return MappedCohort.subjects[subjects[sample]].truthMap.value(at: Vector3(-Double(p[3 * t]), -Double(p[3 * t + 1]), Double(p[3 * t + 2])))
            }
            for (sample, crop) in batch.samples.enumerated() {
                for t in Swift.stride(from: 0, to: crop.tokenCount, by: 7) where crop.tokenLabels[t] > 0 {
                    coordinateErrors.append(length(crop.atlasCoordinate(t) - truth(sample, t)))
                }
            }
            for pair in batch.pairs {
                let matches = try #require(pair.matches)
                #expect(matches.count >= batch.samples[pair.p].tokenCount / 10, "\(matches.count) matches")
                for m in matches {
                    matched += 1
                    if length(truth(pair.p, m.a) - truth(pair.q, m.b)) <= 3 { good += 1 }
                }
            }
        }
        let fraction = Double(good) / Double(max(matched, 1))
        let meanError = coordinateErrors.reduce(0, +) / Double(coordinateErrors.count)
        print(String(format: "stream: %d matches, %.1f%% within 3 mm of the truth; token atlas coordinates %.2f mm from the truth (mean, %.0f mm voxels)",
                     matched, 100 * fraction, meanError, spacing))
        #expect(matched > 200)
        #expect(fraction >= 0.9)
        #expect(meanError <= 2)
    }
}
