import Foundation
import Shards
import Train

/// What `taco_stream *` points at: a batch stream and the batch last given.
final class StreamHandle {
    let stream: BatchStream
    var batch: TrainingBatch?

    init(manifest: String, optionsJSON: String?) throws {
        let object = try optionsJSON.flatMap { $0.isEmpty ? nil : try JSONSerialization.jsonObject(with: Data($0.utf8)) } ?? [String: Any]()
        guard let options = object as? [String: Any] else { throw StreamError("options must be a JSON object") }
        let known: Set<String> = ["batch_size", "seed", "rank", "world_size", "roi", "token_stride", "flips", "rotations", "intensity_scale",
                                  "intensity_shift", "match_radius", "max_pairs", "shuffle_buffer", "prefetch", "threads", "skip_corrupt", "epoch", "batch",
                                  "equal_batches", "batch_step", "batch_offset"]
        if let unknown = options.keys.first(where: { !known.contains($0) }) { throw StreamError("unknown option '\(unknown)'") }
        func int(_ key: String) throws -> Int? {
            guard let value = options[key] else { return nil }
            guard let number = value as? NSNumber, Double(number.intValue) == number.doubleValue else { throw StreamError("option '\(key)' must be an integer") }
            return number.intValue
        }
        func bool(_ key: String, _ fallback: Bool) throws -> Bool {
            guard let value = options[key] else { return fallback }
            guard let flag = value as? Bool else { throw StreamError("option '\(key)' must be true or false") }
            return flag
        }
        func numbers(_ key: String, count: Int) throws -> [Double]? {
            guard let value = options[key] else { return nil }
            guard let list = value as? [NSNumber], list.count == count else { throw StreamError("option '\(key)' must be a list of \(count) numbers") }
            return list.map(\.doubleValue)
        }
        var sampling = SamplingOptions()
        if let roi = try numbers("roi", count: 3) { sampling.roi = SIMD3(Int(roi[0]), Int(roi[1]), Int(roi[2])) }
        sampling.tokenStride = try int("token_stride") ?? sampling.tokenStride
        sampling.flips = try bool("flips", sampling.flips)
        sampling.rotations = try bool("rotations", sampling.rotations)
        if let range = try numbers("intensity_scale", count: 2), range[0] <= range[1] { sampling.intensityScale = range[0]...range[1] }
        if let range = try numbers("intensity_shift", count: 2), range[0] <= range[1] { sampling.intensityShift = range[0]...range[1] }
        if let radius = options["match_radius"] { sampling.matchRadius = (radius as? NSNumber)?.doubleValue }
        sampling.maxPairs = try int("max_pairs") ?? sampling.maxPairs
        let streamOptions = StreamOptions(batchSize: try int("batch_size") ?? 2, seed: UInt64(try int("seed") ?? 0), rank: try int("rank"),
                                          worldSize: try int("world_size"), equalBatchCounts: try bool("equal_batches", false),
                                          batchStep: try int("batch_step") ?? 1, batchOffset: try int("batch_offset") ?? 0,
                                          shuffleBuffer: try int("shuffle_buffer") ?? 16,
                                          prefetch: try int("prefetch") ?? 4, threads: try int("threads") ?? 2,
                                          skipCorrupt: try bool("skip_corrupt", false), sampling: sampling)
        stream = try BatchStream(dataset: ShardDataset(manifest: URL(fileURLWithPath: manifest)), options: streamOptions,
                                 state: StreamState(epoch: try int("epoch") ?? 0, batch: try int("batch") ?? 0))
    }

    func current() throws -> TrainingBatch {
        guard let batch else { throw StreamError("no current batch: call taco_stream_next first") }
        return batch
    }

    /// The current batch as JSON (no voxels).
    func describe() throws -> String {
        let batch = try current()
        let samples: [[String: Any]] = batch.samples.map { s in
            ["key": s.key, "shard": s.shard, "modalities": s.modalities, "centre": [s.centre.x, s.centre.y, s.centre.z],
             "origin": [s.origin.x, s.origin.y, s.origin.z], "orientation": ["axes": s.orientation.axes, "flipped": s.orientation.flipped],
             "intensity": s.intensity, "flags": s.flags]
        }
        let object: [String: Any] = ["epoch": batch.state.epoch, "batch": batch.state.batch, "samples": samples, "warnings": batch.warnings]
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }
}
