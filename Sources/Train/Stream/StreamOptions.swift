import Foundation

/// How the batch stream runs.
public struct StreamOptions: Sendable, Equatable {
    /// Subjects per batch; the first one's crop is random, the others cover the same atlas region.
    public var batchSize: Int
    public var seed: UInt64
    /// This process's rank and the number of ranks (torchrun's RANK and WORLD_SIZE by default).
    public var rank: Int
    public var worldSize: Int
    /// Every rank gets the same number of batches per epoch (``EpochPlan``), as data-parallel training needs.
    public var equalBatchCounts: Bool
    /// This stream gives every `batchStep`-th batch of the rank's epoch, starting each epoch at `batchOffset`: the
    /// share of one of `batchStep` loader workers, which together give the rank's batches in order.
    public var batchStep: Int
    public var batchOffset: Int
    /// Subjects in the within-shard shuffle buffer.
    public var shuffleBuffer: Int
    /// Batches prepared ahead of the consumer (memory is bounded by this, never by the dataset).
    public var prefetch: Int
    /// Background threads preparing batches.
    public var threads: Int
    /// A subject that cannot be read (damaged shard, missing file): false stops the stream with an error
    /// naming the shard and the subject; true drops it with a warning and skips the rest of its shard.
    public var skipCorrupt: Bool
    public var sampling: SamplingOptions

    public init(batchSize: Int = 2, seed: UInt64 = 0, rank: Int? = nil, worldSize: Int? = nil, equalBatchCounts: Bool = false,
                batchStep: Int = 1, batchOffset: Int = 0,
                shuffleBuffer: Int = 16, prefetch: Int = 4, threads: Int = 2, skipCorrupt: Bool = false, sampling: SamplingOptions = SamplingOptions(),
                environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.batchSize = batchSize
        self.equalBatchCounts = equalBatchCounts
        self.batchStep = batchStep
        self.batchOffset = batchOffset
        self.seed = seed
        self.rank = rank ?? environment["RANK"].flatMap(Int.init) ?? 0
        self.worldSize = worldSize ?? environment["WORLD_SIZE"].flatMap(Int.init) ?? 1
        self.shuffleBuffer = shuffleBuffer
        self.prefetch = prefetch
        self.threads = threads
        self.skipCorrupt = skipCorrupt
        self.sampling = sampling
    }

    /// Checks the options, naming the first that is wrong.
    public func validate() throws {
        try sampling.validate()
        guard batchSize > 0 else { throw StreamError("the batch size must be at least 1") }
        guard worldSize > 0, (0..<worldSize).contains(rank) else { throw StreamError("rank \(rank) is not in a world of \(worldSize)") }
        guard prefetch > 0, threads > 0 else { throw StreamError("prefetch depth and threads must be at least 1") }
        guard batchStep > 0, (0..<batchStep).contains(batchOffset) else {
            throw StreamError("batch offset \(batchOffset) is not one of \(batchStep) workers' (0 to \(batchStep - 1))")
        }
    }
}

/// Where a stream is: the next batch it will give is batch `batch` of epoch `epoch` (of this rank).
/// Save it with a checkpoint; a stream opened with it continues the same sequence.
public struct StreamState: Sendable, Equatable, Codable {
    public var epoch: Int
    public var batch: Int
    public init(epoch: Int = 0, batch: Int = 0) {
        self.epoch = epoch
        self.batch = batch
    }
}

/// A batch: the subjects' crop pairs and the ordered subject pairs (with their atlas matches) that the
/// inter-instance loss uses.
public struct TrainingBatch: Sendable {
    /// Where this batch is in the stream.
    public var state: StreamState
    public var samples: [CropPair]
    /// Up to `maxPairs` ordered pairs; `matches` is nil where a subject is flagged (feature-space fallback).
    public var pairs: [SubjectPair]
    /// Subjects dropped from this batch because they could not be read (with `skipCorrupt`), with the reason.
    public var warnings: [String]
}
