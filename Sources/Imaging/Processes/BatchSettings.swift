/// How a batch of units (prep's sessions, correspond's subjects) runs: this machine's part of a split run,
/// how many units at once, each in a worker process with its own threads, and whether finished units are redone.
///
/// ```swift
/// let settings = BatchSettings(index: 2, count: 8, jobs: 2, worker: ["/usr/local/bin/taco", "prep", "worker"])
/// settings.process(outcomePrefix: "OUTCOME ").command   // [..., "prep", "worker", "--threads", "1"]
/// ```
public struct BatchSettings: Sendable, Equatable {
    /// Part `index` (0-based) of `count` (``BatchParts``).
    public var index: Int
    public var count: Int
    /// Units processed at once, each in its own worker process.
    public var jobs: Int
    /// Redo units that are up to date.
    public var force: Bool
    /// The worker command (an executable and its arguments), without `--threads`.
    public var worker: [String]
    /// Threads per worker.
    public var threadsPerWorker: Int

    public init(index: Int = 0, count: Int = 1, jobs: Int = 1, force: Bool = false, worker: [String], threadsPerWorker: Int = 1) {
        self.index = index
        self.count = max(1, count)
        self.jobs = max(1, jobs)
        self.force = force
        self.worker = worker
        self.threadsPerWorker = max(1, threadsPerWorker)
    }

    /// The worker process of one unit.
    public func process(outcomePrefix: String) -> WorkerProcess {
        WorkerProcess(command: worker + ["--threads", String(threadsPerWorker)], outcomePrefix: outcomePrefix)
    }
}
