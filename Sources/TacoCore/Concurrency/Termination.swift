import Foundation

/// SIGTERM and SIGINT for a command that runs a batch (what Slurm sends at a job's time limit, what Ctrl-C
/// sends): once ``install()`` has run, the first such signal is recorded instead of killing the process, the
/// registered worker processes are sent SIGTERM, and the batch stops starting units and ends cleanly
/// (``BatchInterrupted``), leaving only complete outputs, so that a rerun resumes. A second signal ends the
/// process at once. Never installed in a library's host process (the plugin): there the flag stays false.
public final class Termination: @unchecked Sendable {
    public static let shared = Termination()

    private let lock = NSLock()
    private var received: Int32?
    private var workers = Set<Int32>()
    private var sources: [DispatchSourceSignal] = []

    /// The signal received, if any.
    public var signal: Int32? { lock.withLock { received } }
    public var isRequested: Bool { signal != nil }

    /// Takes over SIGTERM and SIGINT (idempotent).
    public func install() {
        lock.withLock {
            guard sources.isEmpty else { return }
            for number in [SIGTERM, SIGINT] {
                Foundation.signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler { [self] in handle(number) }
                source.resume()
                sources.append(source)
            }
        }
    }

    private func handle(_ number: Int32) {
        let pids: Set<Int32>? = lock.withLock {
            if received != nil { return nil }
            received = number
            return workers
        }
        guard let pids else {
            Foundation.signal(number, SIG_DFL)
            kill(getpid(), number)      // a second signal: end now
            return
        }
        for pid in pids { kill(pid, SIGTERM) }
    }

    /// A worker process the batch started; it is sent SIGTERM if a signal arrives (or at once, if one has).
    public func register(_ pid: Int32) {
        let now = lock.withLock { () -> Bool in
            workers.insert(pid)
            return received != nil
        }
        if now { kill(pid, SIGTERM) }
    }

    public func unregister(_ pid: Int32) {
        _ = lock.withLock { workers.remove(pid) }
    }
}

/// A batch stopped by a signal before it finished: what completed is kept and complete; a rerun resumes.
public struct BatchInterrupted: Error, Sendable, CustomStringConvertible {
    public let signal: Int32
    /// Units finished before the signal, and units in all.
    public let finished: Int
    public let total: Int

    public init(signal: Int32, finished: Int, total: Int) {
        self.signal = signal
        self.finished = finished
        self.total = total
    }

    public var description: String {
        let name = signal == SIGTERM ? "SIGTERM" : signal == SIGINT ? "SIGINT" : "signal \(signal)"
        return "stopped by \(name) after \(finished) of \(total) units; what finished is kept, nothing partial is left: rerun the same command to continue"
    }
}
