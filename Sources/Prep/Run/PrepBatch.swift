import Foundation
import Imaging

/// Runs a plan's sessions, `jobs` at a time, each in its own worker process, so that a crash inside a
/// C++ decoder fails that session only; the outcome records the signal.
///
/// Before a session runs, what an earlier interrupted run left of it is removed; a session whose
/// `subject.json` has the same input fingerprint and configuration is skipped unless `force`. The worker
/// gets the job as JSON on its standard input and prints its outcome as the last line of its standard
/// output, prefixed by ``outcomePrefix``.
public struct PrepBatch: Sendable {
    /// The worker command: an executable and its arguments (`taco prep worker`).
    public let worker: [String]
    public let jobs: Int
    public let force: Bool
    /// ITK threads per worker.
    public let threadsPerWorker: Int

    /// The worker's outcome line starts with this.
    public static let outcomePrefix = "TACO-SESSION-OUTCOME "

    public init(worker: [String], jobs: Int, force: Bool, threadsPerWorker: Int) {
        self.worker = worker
        self.jobs = max(1, jobs)
        self.force = force
        self.threadsPerWorker = max(1, threadsPerWorker)
    }

    /// What happens, as it happens (called from the batch's threads, one call at a time).
    public enum Event: Sendable {
        case started(index: Int, job: SessionJob)
        case finished(index: Int, job: SessionJob, outcome: SessionOutcome, seconds: Double)
    }

    /// Runs every job of `plan`; returns the outcomes in the plan's job order.
    public func run(_ plan: PrepPlan, events: @escaping @Sendable (Event) -> Void) -> [SessionOutcome] {
        let state = BatchState(count: plan.jobs.count)
        JobPool.run(count: plan.jobs.count, threads: jobs) { [self] index in
            let job = plan.jobs[index]
            let start = Date()
            if !force, let done = SessionWorker.upToDate(job) {
                state.finish(index, done) { events(.finished(index: index, job: job, outcome: done, seconds: 0)) }
                return
            }
            state.report { events(.started(index: index, job: job)) }
            PreparedSessionWriter.removeLeftovers(subject: job.subject, session: job.session, under: URL(fileURLWithPath: job.output))
            let outcome = runWorker(job)
            if outcome.status == .failed {
                PreparedSessionWriter.removeLeftovers(subject: job.subject, session: job.session, under: URL(fileURLWithPath: job.output))
            }
            let seconds = Date().timeIntervalSince(start)
            state.finish(index, outcome) { events(.finished(index: index, job: job, outcome: outcome, seconds: seconds)) }
        }
        return state.outcomes()
    }

    /// One worker process for `job`.
    func runWorker(_ job: SessionJob) -> SessionOutcome {
        var failed = SessionOutcome(status: .failed)
        let process = WorkerProcess(command: worker + ["--threads", String(threadsPerWorker)], outcomePrefix: Self.outcomePrefix)
        let paths = job.sources.flatMap { $0.files.map { URL(fileURLWithPath: $0) } }
        let ending = process.run(input: (try? JSONEncoder().encode(job)) ?? Data())
        if case .outcome(let line) = ending, let outcome = try? JSONDecoder().decode(SessionOutcome.self, from: line) { return outcome }
        failed.reason = ending.failureReason(while: "while preparing this session") { PreparedDataset.redacting($0, paths: paths) }
        return failed
    }
}

/// The batch's shared counters and results, behind a lock.
private final class BatchState: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [SessionOutcome?]

    init(count: Int) { results = Array(repeating: nil, count: count) }

    func finish(_ index: Int, _ outcome: SessionOutcome, then notify: () -> Void) {
        lock.lock()
        defer { lock.unlock() }
        results[index] = outcome
        notify()
    }

    func report(_ notify: () -> Void) {
        lock.lock()
        defer { lock.unlock() }
        notify()
    }

    func outcomes() -> [SessionOutcome] {
        lock.lock()
        defer { lock.unlock() }
        return results.map { $0 ?? SessionOutcome(status: .failed) }
    }
}
