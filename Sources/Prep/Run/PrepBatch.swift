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
        // A worker that dies before reading its job must not take the batch down with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        let state = BatchState(count: plan.jobs.count)
        let threads = min(jobs, max(1, plan.jobs.count))
        let group = DispatchGroup()
        for _ in 0..<threads {
            group.enter()
            let thread = Thread { [self] in
                while let index = state.next() {
                    let job = plan.jobs[index]
                    let start = Date()
                    if !force, let done = SessionWorker.upToDate(job) {
                        state.finish(index, done) { events(.finished(index: index, job: job, outcome: done, seconds: 0)) }
                        continue
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
                group.leave()
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        group.wait()
        return state.outcomes()
    }

    /// One worker process for `job`.
    func runWorker(_ job: SessionJob) -> SessionOutcome {
        var failed = SessionOutcome(status: .failed)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: worker[0])
        process.arguments = Array(worker.dropFirst()) + ["--threads", String(threadsPerWorker)]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        do {
            try process.run()
        } catch {
            failed.reason = "could not start a worker process: \(error)"
            return failed
        }
        // The worker's diagnostics are drained on another thread so that neither pipe can fill up.
        let diagnostics = PipeReader(errors.fileHandleForReading)
        do {
            let encoder = JSONEncoder()
            try input.fileHandleForWriting.write(contentsOf: encoder.encode(job))
        } catch {
            // The worker died before reading: its exit status tells why.
        }
        try? input.fileHandleForWriting.close()
        let stdout = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let stderr = diagnostics.wait()
        let paths = job.sources.flatMap { $0.files.map { URL(fileURLWithPath: $0) } }

        if process.terminationReason == .uncaughtSignal {
            let signal = process.terminationStatus
            failed.reason = "the worker was killed by signal \(signal) (\(Self.signalName(signal))) while preparing this session"
            return failed
        }
        let lines = String(decoding: stdout, as: UTF8.self).split(separator: "\n")
        if let line = lines.last(where: { $0.hasPrefix(Self.outcomePrefix) }),
           let outcome = try? JSONDecoder().decode(SessionOutcome.self, from: Data(line.dropFirst(Self.outcomePrefix.count).utf8)) {
            return outcome
        }
        let last = String(decoding: stderr, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? "no message"
        failed.reason = "the worker exited with status \(process.terminationStatus) without an outcome: "
            + PreparedDataset.redacting(last, paths: paths)
        return failed
    }

    static func signalName(_ signal: Int32) -> String {
        let names: [Int32: String] = [SIGSEGV: "SIGSEGV", SIGABRT: "SIGABRT", SIGKILL: "SIGKILL", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE",
                                      SIGILL: "SIGILL", SIGTERM: "SIGTERM", SIGINT: "SIGINT"]
        return names[signal] ?? "signal"
    }
}

/// The batch's shared counters and results, behind a lock.
private final class BatchState: @unchecked Sendable {
    private let lock = NSLock()
    private var nextIndex = 0
    private var results: [SessionOutcome?]

    init(count: Int) { results = Array(repeating: nil, count: count) }

    func next() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard nextIndex < results.count else { return nil }
        nextIndex += 1
        return nextIndex - 1
    }

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
