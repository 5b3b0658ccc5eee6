import Foundation
import Imaging
import Prep
import Shards
import TacoCore
import Train

/// Readers that run inside the caller's process (the plugin's host, taco's own): each input is one mutant
/// in its own folder, named as the reader expects, and a rejection must name that file.
enum InProcessTarget: String, CaseIterable {
    /// ImageFile.read of a NIfTI file (.nii, .nii.gz): what prep's worker and correspond read.
    case nifti
    /// A shard through ShardReader (keys, description, boxes, verification) and the stream (two batches).
    case shards
    /// A classification rules YAML file.
    case rules
    /// An atlas folder's atlas.json.
    case atlas

    /// Reads the mutant in `folder`; throws the reader's rejection.
    func read(_ folder: URL) throws {
        switch self {
        case .nifti:
            let file = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil).first { $0.lastPathComponent.hasPrefix("seed") }!
            _ = try ImageFile.read(file)
        case .shards:
            let shard = folder.appendingPathComponent("shard-00001.h5")
            let reader = try ShardReader(url: shard)
            for key in try reader.keys() {
                let d = try reader.describe(key)
                let box = SIMD3(min(8, d.size.x), min(8, d.size.y), min(8, d.size.z))
                _ = try reader.imageBox(key, origin: .zero, size: box)
                _ = try reader.maskBox(key, origin: .zero, size: box)
                _ = try reader.atlasBox(key)
            }
            _ = try reader.verify()
            let dataset = try ShardDataset(manifest: folder.appendingPathComponent(ShardManifest.fileName))
            let stream = try BatchStream(dataset: dataset, options: StreamOptions(batchSize: 1, seed: 1, rank: 0, worldSize: 1, prefetch: 1, threads: 1,
                                                                                  sampling: SamplingOptions(roi: SIMD3(8, 8, 8), tokenStride: 4)))
            defer { stream.close() }
            for _ in 0..<2 { _ = try stream.next() }
        case .rules:
            _ = try ClassificationRules.load(folder.appendingPathComponent("rules.yaml"))
        case .atlas:
            _ = try Atlas(folder: folder)
        }
    }

    /// The file a rejection must name.
    func mutantName(in folder: URL) -> String {
        switch self {
        case .nifti: return (try? FileManager.default.contentsOfDirectory(atPath: folder.path).first { $0.hasPrefix("seed") }) ?? "seed"
        case .shards: return "shard-00001.h5"
        case .rules: return "rules.yaml"
        case .atlas: return "atlas.json"
        }
    }

    /// The seeds, as (file name in a mutant's folder, bytes, whether to mutate as text), and files every
    /// mutant's folder also holds unchanged (name, source).
    func seeds(work: URL, repository: URL, realData: URL) throws -> (seeds: [(String, Data, Bool)], alongside: [(String, URL)]) {
        let fm = FileManager.default
        switch self {
        case .nifti:
            var seeds: [(String, Data, Bool)] = []
            let folder = work.appendingPathComponent("nifti-seeds")
            try fm.createDirectory(at: folder, withIntermediateDirectories: true)
            var volume = Volume(geometry: Geometry(size: SIMD3(12, 10, 8), spacing: Vector3(1, 1.5, 2), origin: Vector3(-5, 3, 7)))
            for i in volume.voxels.indices { volume.voxels[i] = Float(i % 97) }
            for (name, storage) in [("seed.nii", NIfTIFile.Storage.float32), ("seed.nii.gz", .int16(slope: 1, intercept: 0))] {
                let url = folder.appendingPathComponent(name)
                try NIfTIFile.write(volume, to: url, storage: storage)
                seeds.append((name, try Data(contentsOf: url), false))
            }
            let real = realData.appendingPathComponent("dicom/bits12/reference/2.nii.gz")
            if fm.fileExists(atPath: real.path) { seeds.append(("seed-real.nii.gz", try Data(contentsOf: real), false)) }
            return (seeds, [])
        case .shards:
            let folder = work.appendingPathComponent("shard-seed")
            try fm.createDirectory(at: folder, withIntermediateDirectories: true)
            let shard = folder.appendingPathComponent("shard-00001.h5")
            try Self.writeSeedShard(to: shard)
            return ([("shard-00001.h5", try Data(contentsOf: shard), false)], [(ShardManifest.fileName, folder.appendingPathComponent(ShardManifest.fileName))])
        case .rules:
            let shipped = repository.appendingPathComponent("rules/classification.yaml")
            return ([("rules.yaml", try Data(contentsOf: shipped), true)], [])
        case .atlas:
            let atlas = repository.appendingPathComponent("atlases/mni152-2009a-sym")
            let others = try fm.contentsOfDirectory(atPath: atlas.path).filter { $0 != "atlas.json" }.map { ($0, atlas.appendingPathComponent($0)) }
            return ([("atlas.json", try Data(contentsOf: atlas.appendingPathComponent("atlas.json")), true)], others)
        }
    }

    /// A shard of two small subjects (20 x 18 x 16 voxels, two modalities, token stride 4) and its manifest.
    static func writeSeedShard(to url: URL) throws {
        let size = SIMD3(20, 18, 16), voxels = 20 * 18 * 16, grid = SIMD3(5, 5, 4), tokens = 100
        let writer = try ShardWriter(url: url, atlas: "fuzz-atlas", tokenStride: 4, createdBy: "taco-fuzz")
        for s in 0..<2 {
            var mask = [UInt8](repeating: 0, count: voxels)
            for z in 3..<13 { for y in 3..<15 { for x in 3..<17 { mask[(z * 18 + y) * 20 + x] = 1 } } }
            let image = (0..<2 * voxels).map { Float(($0 * 37 + s * 11) % 101) / 50 - 1 }
            var coords = [Float](repeating: 0, count: 3 * tokens)
            for t in 0..<tokens { for c in 0..<3 { coords[c * tokens + t] = Float(t % (5 + c)) * 4 + Float(s) } }
            try writer.add(ShardSubject(key: String(format: "sub-%02d_ses-1", s), modalities: ["FLAIR", "T1w"], size: size, image: image, mask: mask,
                                        affine: [-1, 0, 0, 10, 0, 1, 0, -9, 0, 0, 1, -8, 0, 0, 0, 1], spacing: [1, 1, 1], tokenGridSize: grid,
                                        atlasCoords: coords, atlasLabels: (0..<tokens).map { UInt8($0 % 4) }, confidence: [Float](repeating: 1, count: tokens)))
        }
        _ = try writer.finish()
        try ShardManifest.build(shards: [url], configuration: [:]).write(to: url.deletingLastPathComponent().appendingPathComponent(ShardManifest.fileName))
    }
}
