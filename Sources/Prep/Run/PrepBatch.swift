import Foundation
import Imaging
import TacoCore

/// Runs a plan's sessions, `jobs` at a time, each in its own worker process, so that a crash inside a
/// C++ decoder fails that session only; the outcome records the signal.
///
/// Before a session runs, what an earlier interrupted run left of it is removed; a session whose
/// `subject.json` has the same input fingerprint and configuration is skipped unless `force`. The worker
/// gets the job as JSON on its standard input and prints its outcome as the last line of its standard
/// output, prefixed by ``outcomePrefix``.
public struct PrepBatch: Sendable {
    /// The workers (`taco prep worker`), how many at once, and whether up-to-date sessions are redone.
    public let settings: BatchSettings

    /// The worker's outcome line starts with this.
    public static let outcomePrefix = "TACO-SESSION-OUTCOME "

    public init(_ settings: BatchSettings) { self.settings = settings }

    /// What happens, as it happens (called from the batch's threads, one call at a time).
    public enum Event: Sendable {
        case started(index: Int, job: SessionJob)
        case finished(index: Int, job: SessionJob, outcome: SessionOutcome, seconds: Double)
    }

    /// Runs every job of `plan`; returns the outcomes in the plan's job order.
    public func run(_ plan: PrepPlan, events: @escaping @Sendable (Event) -> Void) -> [SessionOutcome] {
        let results = Locked([SessionOutcome?](repeating: nil, count: plan.jobs.count))
        JobPool.run(count: plan.jobs.count, threads: settings.jobs) { [self] index in
            let job = plan.jobs[index]
            let start = Date()
            // Events are reported with the results' lock held, so that they arrive one at a time.
            if !settings.force, let done = SessionWorker.upToDate(job) {
                results.withLock { $0[index] = done; events(.finished(index: index, job: job, outcome: done, seconds: 0)) }
                return
            }
            results.withLock { _ in events(.started(index: index, job: job)) }
            PreparedSessionWriter.removeLeftovers(subject: job.subject, session: job.session, under: URL(fileURLWithPath: job.output))
            let outcome = runWorker(job)
            if outcome.status == .failed {
                PreparedSessionWriter.removeLeftovers(subject: job.subject, session: job.session, under: URL(fileURLWithPath: job.output))
            }
            let seconds = Date().timeIntervalSince(start)
            results.withLock { $0[index] = outcome; events(.finished(index: index, job: job, outcome: outcome, seconds: seconds)) }
        }
        return results.value.map { $0 ?? SessionOutcome(status: .failed) }
    }

    /// One worker process for `job`.
    func runWorker(_ job: SessionJob) -> SessionOutcome {
        let process = settings.process(outcomePrefix: Self.outcomePrefix)
        let paths = job.sources.flatMap { ([$0] + $0.fallbacks).flatMap { $0.files.map { URL(fileURLWithPath: $0) } } }
        switch process.run(job: job, outcome: SessionOutcome.self, while: "while preparing this session", redact: { PreparedDataset.redacting($0, paths: paths) }) {
        case .success(let outcome): return outcome
        case .failure(let failure):
            var failed = SessionOutcome(status: .failed)
            failed.reason = failure.reason
            return failed
        }
    }
}
