import Foundation
import TacoCore
import Shards
import Testing
@testable import Train

/// Crop pairs, their tokens and the batch stream on shards of known geometry (SyntheticShards).
@Suite struct StreamTests {
    static let sampling = SamplingOptions(roi: SIMD3(16, 16, 16), tokenStride: 4)

    static func voxel(_ s: ShardSubject, modality: Int, _ v: SIMD3<Int>) -> Float {
        guard v.x >= 0, v.y >= 0, v.z >= 0, v.x < s.size.x, v.y < s.size.y, v.z < s.size.z else { return 0 }
        return s.image[modality * s.size.x * s.size.y * s.size.z + (v.z * s.size.y + v.y) * s.size.x + v.x]
    }

    static func point(_ values: [Float], _ t: Int) -> SIMD3<Double> { SIMD3(Double(values[3 * t]), Double(values[3 * t + 1]), Double(values[3 * t + 2])) }

    @Test func aCropPairsTokensMapToTheSamePhysicalPointsUnderFlipsAndRotations() throws {
        let shards = try SyntheticShards(count: 2, perShard: 2)
        defer { shards.remove() }
        let sampler = try CropSampler(dataset: shards.dataset(), options: Self.sampling)
        let s = shards.subjects[0], roi = Self.sampling.roi, grid = Self.sampling.tokenGrid, stride = 4
        var exchanged = 0, flipped = 0
        for seed in 0..<12 {
            var rng = SeededGenerator(seed: UInt64(seed))
            let (pair, _) = try sampler.sample(s.key, using: &rng)
            let o = pair.orientation
            if o.axes != [0, 1, 2] { exchanged += 1 }
            if o.flipped.contains(true) { flipped += 1 }
            #expect(pair.modalityIndices[0] != pair.modalityIndices[1] && pair.modalities[0] == s.modalities[pair.modalityIndices[0]])
            // Centred on a mask voxel, which the crop contains.
            #expect(s.mask[(pair.centre.z * s.size.y + pair.centre.y) * s.size.x + pair.centre.x] == 1)
            #expect(all(pair.centre .>= pair.origin) && all(pair.centre .< pair.origin &+ roi))
            // Both views read the same source voxel at every output voxel (value * scale + shift, independently per view).
            for z in 0..<roi.z { for y in 0..<roi.y { for x in 0..<roi.x {
                let source = pair.origin &+ o.source(of: SIMD3(x, y, z), size: roi), index = (z * roi.y + y) * roi.x + x
                for (view, values) in [pair.first, pair.second].enumerated() {
                    let expected = Self.voxel(s, modality: pair.modalityIndices[view], source) * Float(pair.intensity[view][0]) + Float(pair.intensity[view][1])
                    #expect(values[index] == expected)
                }
            } } }
            // Token t sits at the centre of its s^3 block of the augmented crop: every voxel of the block is within
            // half a block diagonal of the token's point, and the token's atlas coordinates are the map's value there.
            for k in 0..<grid.z { for j in 0..<grid.y { for i in 0..<grid.x {
                let t = (k * grid.y + j) * grid.x + i
                let tokenPoint = Self.point(pair.tokenPoints, t)
                let sourceToken = o.source(of: SIMD3(i, j, k), size: grid)
                let centre = SIMD3<Double>(pair.origin &+ sourceToken &* stride) + 1.5
                #expect(length(tokenPoint - SyntheticShards.ras(s, voxel: centre)) < 1e-3)
                for corner in [SIMD3(0, 0, 0), SIMD3(3, 3, 3), SIMD3(0, 3, 1)] {
                    let voxel = pair.origin &+ o.source(of: SIMD3(i, j, k) &* stride &+ corner, size: roi)
                    #expect(length(SyntheticShards.ras(s, voxel: SIMD3<Double>(voxel)) - tokenPoint) <= 1.5 * 2 * 3.0.squareRoot() + 1e-3)
                }
                #expect(length(pair.atlasCoordinate(t) - (tokenPoint + shards.shifts[0])) < 1e-3)
                #expect(pair.tokenConfidence[t] == 1)
            } } }
        }
        #expect(exchanged > 0 && flipped > 0)
    }

    @Test func theBatchsOtherCropsCoverTheSameAtlasRegionAndItsMatchesAgreeWithTheTruth() throws {
        let shards = try SyntheticShards(count: 2, perShard: 1)
        defer { shards.remove() }
        let sampler = try CropSampler(dataset: shards.dataset(), options: Self.sampling)
        var matched = 0, good = 0
        for seed in 0..<6 {
            var rng = SeededGenerator(seed: UInt64(seed))
            let (anchor, point) = try sampler.sample(shards.subjects[0].key, using: &rng)
            let (other, _) = try sampler.sample(shards.subjects[1].key, near: point, using: &rng)
            // The other crop's centre lies at the stored token nearest the point: within half a stored-token diagonal.
            let otherCentre = SyntheticShards.atlasPoint(shards.subjects[1], shift: shards.shifts[1], voxel: SIMD3<Double>(other.centre))
            #expect(length(otherCentre - point) <= 2 * 3.0.squareRoot() + 1e-6, "\(otherCentre) vs \(point)")
            let matches = try #require(BatchStream.matches(anchor, other, radius: nil))
            #expect(matches.count >= anchor.tokenCount / 4, "\(matches.count) matches of \(anchor.tokenCount) tokens")
            for m in matches {
                let truthA = Self.point(anchor.tokenPoints, m.a) + shards.shifts[0], truthB = Self.point(other.tokenPoints, m.b) + shards.shifts[1]
                matched += 1
                if length(truthA - truthB) <= 3 { good += 1 }
                #expect(length(anchor.atlasCoordinate(m.a) - other.atlasCoordinate(m.b)) <= 8 + 1e-3)
            }
        }
        #expect(Double(good) >= 0.9 * Double(matched), "\(good) of \(matched) within 3 mm")
    }

    /// Everything a batch holds that depends on the draws.
    static func signature(_ batch: TrainingBatch) -> [String] {
        batch.samples.map { "\($0.key) \($0.modalities) \($0.origin) \($0.orientation.axes) \($0.orientation.flipped) \($0.first[100]) \($0.second[7])" }
            + batch.pairs.map { "\($0.p)->\($0.q) \($0.matches?.count ?? -1)" }
    }

    static func epoch(_ stream: BatchStream) throws -> [[String]] {
        var out: [[String]] = []
        while let batch = try stream.next() { out.append(Self.signature(batch)) }
        return out
    }

    @Test func everySampleGoesToExactlyOneRankPerEpochAndTheSeedFixesTheBatches() throws {
        let shards = try SyntheticShards(count: 11, perShard: 4)
        defer { shards.remove() }
        let dataset = try shards.dataset()
        var perEpoch: [[String]] = []
        for epoch in 0..<2 {
            var seen: [String] = []
            for rank in 0..<3 {
                let options = StreamOptions(batchSize: 2, seed: 7, rank: rank, worldSize: 3, sampling: Self.sampling)
                let stream = try BatchStream(dataset: dataset, options: options, state: StreamState(epoch: epoch))
                while let batch = try stream.next() { seen += batch.samples.map(\.key) }
                #expect(stream.state == StreamState(epoch: epoch + 1, batch: 0))
            }
            #expect(seen.sorted() == shards.subjects.map(\.key).sorted(), "epoch \(epoch): \(seen)")
            perEpoch.append(seen)
        }
        #expect(perEpoch[0] != perEpoch[1], "the order changes from epoch to epoch")

        // The same seed gives the same batches whatever the threads; another seed others.
        let one = try Self.epoch(BatchStream(dataset: dataset, options: StreamOptions(batchSize: 3, seed: 7, rank: 0, worldSize: 1, threads: 1, sampling: Self.sampling)))
        let three = try Self.epoch(BatchStream(dataset: dataset, options: StreamOptions(batchSize: 3, seed: 7, rank: 0, worldSize: 1, prefetch: 2, threads: 3, sampling: Self.sampling)))
        let other = try Self.epoch(BatchStream(dataset: dataset, options: StreamOptions(batchSize: 3, seed: 8, rank: 0, worldSize: 1, sampling: Self.sampling)))
        #expect(one == three && one.count == 4)
        #expect(one != other)
        #expect(one.allSatisfy { batch in batch.filter { $0.contains("->") }.count == 6 || batch.count < 9 })
    }

    /// Data-parallel ranks must stop together: with equal batch counts every rank of every world size gets the
    /// same number of batches, none larger than the batch size, and every subject still once per epoch.
    @Test func equalBatchCountsGiveEveryRankTheSameNumberOfBatchesAndEverySampleOnce() throws {
        let shards = (0..<4).map { "shard-\($0).h5" }
        for subjects in [7, 11, 12, 13] {
            let manifest = (0..<subjects).map { ShardManifest.Subject(key: "sub-\($0)_ses-1", shard: shards[$0 % 4], modalities: ["T1w", "T2w"],
                                                                     shape: [8, 8, 8], flags: []) }
            for (world, batchSize) in [(2, 2), (3, 2), (4, 3), (2, 4)] {
                let plans = (0..<world).map {
                    EpochPlan(subjects: manifest, shards: shards, seed: 3, epoch: 1, rank: $0, worldSize: world, shuffleBuffer: 4,
                              batchSize: batchSize, equalBatchCounts: true)
                }
                let counts = Set(plans.map(\.batches.count))
                #expect(counts.count == 1, "\(subjects) subjects, \(world) ranks, batches of \(batchSize): counts \(counts)")
                #expect(plans.allSatisfy { $0.batches.allSatisfy { !$0.isEmpty && $0.count <= batchSize } })
                let keys = plans.flatMap { $0.batches.flatMap { $0.map(\.key) } }
                #expect(keys.sorted() == manifest.map(\.key).sorted(), "every subject exactly once")
            }
        }
    }

    @Test func aStreamResumedFromASavedStateContinuesTheSameSequence() throws {
        let shards = try SyntheticShards(count: 7, perShard: 3)
        defer { shards.remove() }
        let dataset = try shards.dataset()
        let options = StreamOptions(batchSize: 2, seed: 3, rank: 0, worldSize: 1, sampling: Self.sampling)
        let whole = try BatchStream(dataset: dataset, options: options)
        var reference = try Self.epoch(whole)
        reference += try Self.epoch(whole)
        // Interrupted after 5 batches (epoch 0 has 4): saved state is batch 1 of epoch 1.
        let first = try BatchStream(dataset: dataset, options: options)
        var got: [[String]] = []
        while got.count < 5 { if let b = try first.next() { got.append(Self.signature(b)) } }
        let saved = first.state
        first.close()
        #expect(saved == StreamState(epoch: 1, batch: 1))
        let resumed = try BatchStream(dataset: dataset, options: options, state: saved)
        got += try Self.epoch(resumed)
        #expect(got == reference)
    }

    @Test func ranksComeFromTorchrunsEnvironmentAndBadOptionsAreRefused() throws {
        let options = StreamOptions(environment: ["RANK": "2", "WORLD_SIZE": "4"])
        #expect(options.rank == 2 && options.worldSize == 4)
        #expect(throws: StreamError.self) { try StreamOptions(rank: 4, worldSize: 4).validate() }
        #expect(throws: StreamError.self) { try StreamOptions(sampling: SamplingOptions(roi: SIMD3(30, 32, 32), tokenStride: 8)).validate() }
    }

    @Test func flaggedSubjectsFallBackToFeatureMatchingAndSingleModalitySubjectsAreLeftOut() throws {
        let shards = try SyntheticShards(count: 4, perShard: 4, flagged: [1], oneModality: [3])
        defer { shards.remove() }
        let stream = try BatchStream(dataset: shards.dataset(), options: StreamOptions(batchSize: 3, seed: 1, rank: 0, worldSize: 1, sampling: Self.sampling))
        #expect(stream.excluded.keys.sorted() == [shards.subjects[3].key])
        let batch = try #require(try stream.next())
        #expect(batch.samples.count == 3 && batch.pairs.count == 6)
        for pair in batch.pairs {
            let flagged = !batch.samples[pair.p].flags.isEmpty || !batch.samples[pair.q].flags.isEmpty
            #expect((pair.matches == nil) == flagged)
        }
    }

    /// Damages every stored chunk of one subject's image.
    static func damage(_ shard: URL, key: String) throws {
        let file = try HDF5File.open(shard)
        var locations: [(offset: Int, size: Int)] = []
        while let location = try? file.chunkLocation(of: "/subjects/\(key)/image", index: locations.count) { locations.append(location) }
        file.close()
        var bytes = try Data(contentsOf: shard)
        for location in locations { bytes[location.offset + location.size / 2] ^= 0x5A }
        try bytes.write(to: shard)
    }

    @Test func aDamagedShardIsAnErrorNamingShardAndSubjectOrWithSkipCorruptAWarning() throws {
        let shards = try SyntheticShards(count: 6, perShard: 3)
        defer { shards.remove() }
        let victim = shards.subjects[4].key
        try Self.damage(shards.folder.appendingPathComponent("shard-00002.h5"), key: victim)
        var error: (any Error)?
        do {
            let strict = try BatchStream(dataset: shards.dataset(), options: StreamOptions(batchSize: 1, seed: 2, rank: 0, worldSize: 1, sampling: Self.sampling))
            while try strict.next() != nil {}
        } catch let e { error = e }
        let reason = "\(error.map { "\($0)" } ?? "no error")"
        #expect(reason.contains("shard-00002.h5, subject \(victim): cannot read its image: damaged data"), "\(reason)")

        var keys: [String] = [], warnings: [String] = []
        do {
            let lenient = try BatchStream(dataset: shards.dataset(), options: StreamOptions(batchSize: 1, seed: 2, rank: 0, worldSize: 1, skipCorrupt: true, sampling: Self.sampling))
            while let batch = try lenient.next() {
                keys += batch.samples.map(\.key)
                warnings += batch.warnings
            }
        }
        #expect(!keys.contains(victim) && keys.count >= 3 && Set(keys).isSuperset(of: shards.subjects[0..<3].map(\.key)))
        #expect(warnings.contains { $0.contains(victim) && $0.contains("shard-00002.h5") }, "\(warnings)")

    }

    @Test func aShardThatIsNotHDF5OrIsMissingIsAnErrorNamingIt() throws {
        let shards = try SyntheticShards(count: 6, perShard: 3)
        defer { shards.remove() }
        try Data("not a shard".utf8).write(to: shards.folder.appendingPathComponent("shard-00001.h5"))
        try FileManager.default.removeItem(at: shards.folder.appendingPathComponent("shard-00002.h5"))
        let dataset = try shards.dataset()
        for (key, shard) in [(shards.subjects[0].key, "shard-00001.h5"), (shards.subjects[3].key, "shard-00002.h5")] {
            let thrown = #expect(throws: ShardError.self) { try dataset.reader(for: key) }
            #expect(thrown?.reason.contains(shard) == true, "\(thrown?.reason ?? "")")
        }
    }
}
