import TacoCore
import Shards

/// Which subjects a rank sees in an epoch, and in what order: a pure function of the manifest, the seed,
/// the epoch, the rank and the world size, so every rank computes its share alone and a resumed run
/// computes the same order.
///
/// The shards' order is shuffled per epoch; their subjects then pass through a shuffle buffer of
/// `shuffleBuffer` entries (reading stays mostly within a few shards at a time, as with WebDataset); the
/// resulting sequence is dealt round-robin to the ranks, so every sample goes to exactly one rank per
/// epoch and the ranks' shares differ by at most one sample.
public struct EpochPlan: Sendable, Equatable {
    /// One sample of the epoch: the subject, and its position in the whole epoch's sequence (all ranks).
    public struct Entry: Sendable, Equatable {
        public let key: String
        public let sequence: Int
    }

    /// This rank's samples in order, grouped in batches (the last one may be smaller; with equal batch counts,
    /// sizes spread as evenly as possible).
    public let batches: [[Entry]]

    /// With `equalBatchCounts`, every rank gets the same number of batches, `ceil(ceil(N / worldSize) / batchSize)`,
    /// its share split into that many batches whose sizes differ by at most one (none larger than `batchSize`):
    /// data-parallel ranks that stop at different counts wait for each other for ever. A share smaller than that
    /// count (batches of one only) ends with batches that repeat its first sample.
    public init(subjects: [ShardManifest.Subject], shards: [String], seed: UInt64, epoch: Int, rank: Int, worldSize: Int,
                shuffleBuffer: Int, batchSize: Int, equalBatchCounts: Bool = false) {
        precondition(worldSize > 0 && (0..<worldSize).contains(rank) && batchSize > 0)
        var rng = SeededGenerator(seed: seed).stream(epoch)
        var shardOrder = shards
        for i in stride(from: shardOrder.count - 1, to: 0, by: -1) { shardOrder.swapAt(i, rng.integer(0...i)) }
        let byShard = Dictionary(grouping: subjects, by: \.shard)
        var sequence: [String] = [], buffer: [String] = []
        let capacity = max(1, shuffleBuffer)
        for shard in shardOrder {
            for subject in byShard[shard] ?? [] {
                buffer.append(subject.key)
                if buffer.count >= capacity { sequence.append(buffer.remove(at: rng.integer(0...buffer.count - 1))) }
            }
        }
        while !buffer.isEmpty { sequence.append(buffer.remove(at: rng.integer(0...buffer.count - 1))) }
        let mine = sequence.enumerated().filter { $0.offset % worldSize == rank }.map { Entry(key: $0.element, sequence: $0.offset) }
        guard equalBatchCounts else {
            batches = stride(from: 0, to: mine.count, by: batchSize).map { Array(mine[$0..<min($0 + batchSize, mine.count)]) }
            return
        }
        let largestShare = (sequence.count + worldSize - 1) / worldSize
        let count = (largestShare + batchSize - 1) / batchSize
        guard !mine.isEmpty else {
            batches = []
            return
        }
        var split: [[Entry]] = [], start = 0
        for b in 0..<count {
            let size = mine.count / count + (b < mine.count % count ? 1 : 0)
            split.append(size > 0 ? Array(mine[start..<(start + size)]) : [mine[0]])
            start += size
        }
        batches = split
    }
}
