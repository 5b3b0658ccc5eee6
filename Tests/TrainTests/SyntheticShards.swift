import Foundation
import TacoCore
import Shards
@testable import Train

/// Shards written here with known geometry, no registration needed: subject s has an oblique-free but
/// flipped, offset RAS affine, random float16-exact intensities, a box-shaped mask, and an atlas map that
/// is an affine function of the voxel (so trilinear interpolation of it is exact):
/// `atlas(v) = affine(v) + shift_s`, i.e. every subject is its own RAS space moved by `shift_s`.
struct SyntheticShards {
    let folder: URL
    let subjects: [ShardSubject]
    let shifts: [SIMD3<Double>]

    static let stride = 2

    static func atlasPoint(_ subject: ShardSubject, shift: SIMD3<Double>, voxel v: SIMD3<Double>) -> SIMD3<Double> {
        ras(subject, voxel: v) + shift
    }

    static func ras(_ subject: ShardSubject, voxel v: SIMD3<Double>) -> SIMD3<Double> {
        let a = subject.affine
        return SIMD3((0..<3).map { r in a[4 * r] * v.x + a[4 * r + 1] * v.y + a[4 * r + 2] * v.z + a[4 * r + 3] })
    }

    /// `count` subjects in shards of `perShard` subjects each, with a manifest; subjects listed in
    /// `flagged` carry a QC flag; `oneModality` ones have a single modality; `notANumber` ones have NaN images.
    init(count: Int, perShard: Int, size: SIMD3<Int> = SIMD3(40, 36, 32), flagged: Set<Int> = [], oneModality: Set<Int> = [],
         notANumber: Set<Int> = [], seed: UInt64 = 1) throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("taco-train-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var rng = SeededGenerator(seed: seed)
        var subjects: [ShardSubject] = [], shifts: [SIMD3<Double>] = []
        for s in 0..<count {
            let modalities = oneModality.contains(s) ? ["T1w"] : ["FLAIR", "T1w", "T2w"]
            let voxels = size.x * size.y * size.z
            let image = (0..<modalities.count * voxels).map { _ in notANumber.contains(s) ? Float.nan : Float(Float16(rng.gaussian())) }
            var mask = [UInt8](repeating: 0, count: voxels)
            for z in 8..<size.z - 8 { for y in 8..<size.y - 8 { for x in 8..<size.x - 8 { mask[(z * size.y + y) * size.x + x] = 1 } } }
            // x runs right to left (a flipped axis), 2 mm voxels, an offset per subject.
            let offset = SIMD3(rng.uniform(-10...10), rng.uniform(-10...10), rng.uniform(-10...10))
            let affine = [-2, 0, 0, 40 + offset.x, 0, 2, 0, -30 + offset.y, 0, 0, 2, -20 + offset.z, 0, 0, 0, 1]
            let shift = SIMD3(rng.uniform(-3...3), rng.uniform(-3...3), rng.uniform(-3...3))
            let grid = (size &+ (Self.stride - 1)) / Self.stride
            let tokens = grid.x * grid.y * grid.z
            var coords = [Float](repeating: 0, count: 3 * tokens)
            var subject = ShardSubject(key: String(format: "sub-%02d_ses-1", s), modalities: modalities, size: size, image: image, mask: mask,
                                       affine: affine, spacing: [2, 2, 2], tokenGridSize: grid, atlasCoords: [], atlasLabels: [],
                                       confidence: [], flags: flagged.contains(s) ? ["folding above 1%"] : [])
            for k in 0..<grid.z { for j in 0..<grid.y { for i in 0..<grid.x {
                let t = (k * grid.y + j) * grid.x + i
                let p = Self.atlasPoint(subject, shift: shift, voxel: SIMD3(Double(i), Double(j), Double(k)) * Double(Self.stride))
                for c in 0..<3 { coords[c * tokens + t] = Float(p[c]) }
            } } }
            subject.atlasCoords = coords
            subject.atlasLabels = (0..<tokens).map { UInt8($0 % 4) }
            subject.confidence = [Float](repeating: 1, count: tokens)
            subjects.append(subject)
            shifts.append(shift)
        }
        var urls: [URL] = []
        for (index, start) in Swift.stride(from: 0, to: count, by: perShard).enumerated() {
            let url = folder.appendingPathComponent(String(format: "shard-%05d.h5", index + 1))
            let writer = try ShardWriter(url: url, atlas: "test-atlas", tokenStride: Self.stride, createdBy: "TrainTests")
            for s in start..<min(start + perShard, count) { try writer.add(subjects[s]) }
            try writer.finish()
            urls.append(url)
        }
        try ShardManifest.build(shards: urls, configuration: [:]).write(to: folder.appendingPathComponent(ShardManifest.fileName))
        self.subjects = subjects
        self.shifts = shifts
    }

    func dataset() throws -> ShardDataset { try ShardDataset(manifest: folder) }

    func remove() { try? FileManager.default.removeItem(at: folder) }
}
