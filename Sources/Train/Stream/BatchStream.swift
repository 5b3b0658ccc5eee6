import Foundation
import TacoCore
import Shards

/// Batches of crop pairs over a manifest, prepared ahead on background threads.
///
/// Deterministic for a seed: every sample's randomness comes from (seed, epoch, its place in the epoch's
/// sequence), every batch's pair draw from (seed, epoch, its first sample's place), so the batches do not
/// depend on the number of threads or on timing, and a stream opened at a saved ``StreamState`` continues
/// the same sequence. `next()` gives the batches of the current epoch in order, then nil once, then the
/// next epoch's.
///
/// Serial HDF5 admits one call at a time in the process, so the threads overlap the reading of one batch
/// with the rest of the work (decoding float16, augmenting, interpolating, matching) and with the
/// consumer's own work; docs/benchmarks.md has the measured effect of 1 and 2 threads.
///
/// ```swift
/// let stream = try BatchStream(dataset: ShardDataset(manifest: shards), options: StreamOptions(batchSize: 4))
/// while let batch = try stream.next() { ... }          // one epoch
/// let resumeFrom = stream.state                         // save with the checkpoint
/// ```
///
/// `@unchecked Sendable`: `state` and the producer are touched by the consumer's thread only; the producing
/// threads share the damaged-shard list, which is ``Locked``.
public final class BatchStream: @unchecked Sendable {
    public let dataset: ShardDataset
    public let options: StreamOptions
    /// Subjects left out of every epoch, with the reason (fewer than two modalities).
    public let excluded: [String: String]
    /// The next batch `next()` will give.
    public private(set) var state: StreamState

    private let sampler: CropSampler
    private let eligible: [ShardManifest.Subject]
    private var producer: EpochProducer?
    /// Shards found damaged during the run (with `skipCorrupt`), so that their other subjects are skipped at once.
    private let damaged = Locked([String: String]())

    /// A stream over `dataset`, starting at `state` (the first batch of epoch 0 by default).
    public init(dataset: ShardDataset, options: StreamOptions, state: StreamState = StreamState()) throws {
        try options.validate()
        self.dataset = dataset
        self.options = options
        self.state = state
        sampler = try CropSampler(dataset: dataset, options: options.sampling)
        var excluded: [String: String] = [:]
        eligible = dataset.manifest.subjects.filter { subject in
            guard subject.modalities.count >= 2 else { excluded[subject.key] = "one modality (\(subject.modalities.joined())); a crop pair needs two"; return false }
            return true
        }
        self.excluded = excluded
    }

    deinit { producer?.stop() }

    /// This rank's plan for `epoch`.
    public func plan(epoch: Int) -> EpochPlan {
        EpochPlan(subjects: eligible, shards: dataset.manifest.shards.map(\.name), seed: options.seed, epoch: epoch, rank: options.rank,
                  worldSize: options.worldSize, shuffleBuffer: options.shuffleBuffer, batchSize: options.batchSize,
                  equalBatchCounts: options.equalBatchCounts)
    }

    /// The next batch of the current epoch, or nil at its end (the state then moves to the next epoch).
    public func next() throws -> TrainingBatch? {
        if producer == nil {
            let plan = plan(epoch: state.epoch), epoch = state.epoch
            // This stream's batches of the epoch: from the saved one (the first of its share at or after it), every step-th.
            let step = options.batchStep
            let first = state.batch + (options.batchOffset - state.batch % step + step) % step
            let indices = Array(Swift.stride(from: first, to: plan.batches.count, by: step))
            producer = EpochProducer(batches: indices.count, start: 0, depth: options.prefetch, threads: options.threads) {
                [sampler, options, damaged] position in
                let index = indices[position]
                return try Self.batch(plan.batches[index], state: StreamState(epoch: epoch, batch: index), sampler: sampler, options: options,
                                      damaged: damaged)
            }
        }
        guard let result = producer!.take() else {
            producer = nil
            state = StreamState(epoch: state.epoch + 1, batch: options.batchOffset)
            return nil
        }
        do {
            let batch = try result.get()
            state.batch = batch.state.batch + options.batchStep
            return batch
        } catch {
            producer?.stop()
            producer = nil
            throw error
        }
    }

    /// Stops the background threads (also done when the stream is released).
    public func close() {
        producer?.stop()
        producer = nil
    }

    /// Builds one batch: the first subject's crop at a random mask voxel, the others at the same atlas point.
    static func batch(_ entries: [EpochPlan.Entry], state: StreamState, sampler: CropSampler, options: StreamOptions,
                      damaged: Locked<[String: String]>) throws -> TrainingBatch {
        let root = SeededGenerator(seed: options.seed)
        var samples: [CropPair] = [], warnings: [String] = []
        var anchor: SIMD3<Double>?
        for entry in entries {
            var rng = root.stream(1 + 2 * state.epoch).stream(entry.sequence)
            if let shard = try? sampler.dataset.subject(entry.key).shard, let reason = damaged.withLock({ $0[shard] }) {
                warnings.append("\(entry.key) skipped: its shard \(shard) is damaged (\(reason))")
                continue
            }
            do {
                let (pair, centre) = try sampler.sample(entry.key, near: anchor, using: &rng)
                samples.append(pair)
                if anchor == nil { anchor = centre }
            } catch {
                guard options.skipCorrupt else { throw error }
                if let shard = try? sampler.dataset.subject(entry.key).shard { damaged.withLock { if $0[shard] == nil { $0[shard] = "\(error)" } } }
                warnings.append("\(entry.key) skipped: \(error)")
            }
        }
        var pairRng = root.stream(2 + 2 * state.epoch).stream(entries.first?.sequence ?? 0)
        let pairs = SubjectPair.draw(subjects: samples.count, maxPairs: options.sampling.maxPairs, using: &pairRng).map { p, q in
            SubjectPair(p: p, q: q, matches: matches(samples[p], samples[q], radius: options.sampling.matchRadius))
        }
        return TrainingBatch(state: state, samples: samples, pairs: pairs, warnings: warnings)
    }

    /// Atlas pseudo-correspondences between two crops' tokens, weighted by confidence; nil when either
    /// subject is flagged (its atlas coordinates are not trusted: the loss falls back to feature space).
    public static func matches(_ a: CropPair, _ b: CropPair, radius: Double?) -> [TokenMatch]? {
        guard a.flags.isEmpty, b.flags.isEmpty else { return nil }
        let r = radius ?? Double(a.tokenStride) * max(a.spacing, b.spacing)
        return AtlasMatches.match((0..<a.tokenCount).map(a.atlasCoordinate), confidence: a.tokenConfidence.map(Double.init),
                                  (0..<b.tokenCount).map(b.atlasCoordinate), confidence: b.tokenConfidence.map(Double.init), radius: r)
    }
}

/// Builds an epoch's batches on background threads, at most `depth` ahead of the consumer, and hands
/// them over in order.
final class EpochProducer: @unchecked Sendable {
    private let count: Int
    private let depth: Int
    private let build: @Sendable (Int) throws -> TrainingBatch
    /// A condition variable (the consumer waits for the next batch, producers for room): more than ``Locked`` does.
    private let condition = NSCondition()
    private var nextToBuild: Int
    private var nextToTake: Int
    private var results: [Int: Result<TrainingBatch, any Error>] = [:]
    private var stopped = false
    /// Producing threads that have not returned yet.
    private var running = 0

    init(batches count: Int, start: Int, depth: Int, threads: Int, build: @escaping @Sendable (Int) throws -> TrainingBatch) {
        self.count = count
        self.depth = depth
        self.build = build
        nextToBuild = start
        nextToTake = start
        running = threads
        for _ in 0..<threads {
            let thread = Thread { [self] in work() }
            thread.name = "taco-stream"
            thread.start()
        }
    }

    private func work() {
        while true {
            condition.lock()
            while !stopped, nextToBuild < count, nextToBuild >= nextToTake + depth { condition.wait() }
            if stopped || nextToBuild >= count {
                running -= 1
                condition.broadcast()
                condition.unlock()
                return
            }
            let index = nextToBuild
            nextToBuild += 1
            condition.unlock()
            let result = Result { try build(index) }
            condition.lock()
            results[index] = result
            condition.broadcast()
            condition.unlock()
        }
    }

    /// The next batch in order (waiting for it), or nil when the epoch is done.
    func take() -> Result<TrainingBatch, any Error>? {
        condition.lock()
        defer { condition.unlock() }
        guard nextToTake < count, !stopped else { return nil }
        while results[nextToTake] == nil { condition.wait() }
        let result = results.removeValue(forKey: nextToTake)!
        nextToTake += 1
        condition.broadcast()
        return result
    }

    /// Stops producing and waits until every producing thread has returned (a batch being read is finished
    /// first), so that no thread of the stream touches HDF5 after the stream is closed: a process that forks
    /// then (a DataLoader starting its workers) copies no lock held by a thread it does not have.
    func stop() {
        condition.lock()
        stopped = true
        results.removeAll()
        condition.broadcast()
        while running > 0 { condition.wait() }
        results.removeAll()
        condition.unlock()
    }
}
