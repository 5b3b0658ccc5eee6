import Foundation
import Imaging
import Testing

/// Child processes as the batches use them: the outcome line, a signal, a silent exit.
@Suite struct WorkerProcessTests {
    @Test func theLastOutcomeLineIsTheOutcomeAndTheInputReachesTheChild() {
        let worker = WorkerProcess(command: ["/bin/sh", "-c", "read job; echo 'OUTCOME early'; echo noise; echo \"OUTCOME got $job\""],
                                   outcomePrefix: "OUTCOME ")
        #expect(worker.run(input: Data("job-7\n".utf8)) == .outcome(Data("got job-7".utf8)))
    }

    @Test func aKilledChildIsReportedWithItsSignal() {
        let worker = WorkerProcess(command: ["/bin/sh", "-c", "kill -SEGV $$"], outcomePrefix: "OUTCOME ")
        let ending = worker.run(input: Data())
        #expect(ending == .signal(SIGSEGV, "SIGSEGV"))
        #expect(ending.failureReason(while: "while mapping this subject") == "the worker was killed by signal 11 (SIGSEGV) while mapping this subject")
    }

    @Test func aChildWithoutAnOutcomeGivesItsStatusAndLastError() {
        let worker = WorkerProcess(command: ["/bin/sh", "-c", "echo first >&2; echo 'the last reason' >&2; exit 3"], outcomePrefix: "OUTCOME ")
        let ending = worker.run(input: Data())
        #expect(ending == .noOutcome(status: 3, lastError: "the last reason"))
        #expect(ending.failureReason(while: "-") { $0.replacingOccurrences(of: "last", with: "[redacted]") }
                == "the worker exited with status 3 without an outcome: the [redacted] reason")
        if case .notStarted = WorkerProcess(command: ["/nonexistent/worker"], outcomePrefix: "X").run(input: Data()) {} else {
            Issue.record("a missing executable must be reported as not started")
        }
    }

    @Test func everyJobRunsExactlyOnce() {
        let seen = Counter(count: 100)
        JobPool.run(count: 100, threads: 4) { seen.add($0) }
        #expect(seen.counts == Array(repeating: 1, count: 100))
    }
}

private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Int]
    init(count: Int) { values = Array(repeating: 0, count: count) }
    func add(_ i: Int) { lock.withLock { values[i] += 1 } }
    var counts: [Int] { lock.withLock { values } }
}
