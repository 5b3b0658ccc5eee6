import Foundation
import TacoCore

/// Runs one job in a child process, so that a crash inside a C++ library fails that job only.
///
/// The job goes to the child's standard input; the child prints its outcome as one line starting with
/// `outcomePrefix` (the last such line of its standard output counts). Its standard error is drained
/// on another thread so that neither pipe can fill up.
///
/// ```swift
/// let run = WorkerProcess(command: ["/usr/bin/taco", "prep", "worker"], outcomePrefix: "OUTCOME ")
/// switch run.run(input: jobJSON) { case .outcome(let line): ...; case .signal(let s, let name): ...; case .noOutcome(let status, let lastError): ... }
/// ```
public struct WorkerProcess: Sendable {
    /// An executable and its arguments.
    public let command: [String]
    public let outcomePrefix: String

    public init(command: [String], outcomePrefix: String) {
        precondition(!command.isEmpty)
        self.command = command
        self.outcomePrefix = outcomePrefix
    }

    /// How the child ended.
    public enum Ending: Sendable, Equatable {
        /// The outcome line, without its prefix.
        case outcome(Data)
        /// Killed by a signal (number and name).
        case signal(Int32, String)
        /// Exited without an outcome line: its status and the last line of its standard error.
        case noOutcome(status: Int32, lastError: String)
        /// The child could not be started.
        case notStarted(String)

        /// Why the job failed when the child gave no readable outcome: `doing` names the job ("while
        /// mapping this subject"), `redact` cleans the child's last diagnostic line (paths may name patients).
        public func failureReason(while doing: String, redact: (String) -> String = { $0 }) -> String {
            switch self {
            case .outcome: return "the worker's outcome is not readable"
            case let .signal(signal, name): return "the worker was killed by signal \(signal) (\(name)) \(doing)"
            case let .noOutcome(status, lastError): return "the worker exited with status \(status) without an outcome: " + redact(lastError)
            case .notStarted(let reason): return reason
            }
        }
    }

    /// Runs the child once with `input` on its standard input and waits for it.
    public func run(input: Data) -> Ending {
        // A child that dies before reading its job must not take the parent down with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        do { try process.run() } catch { return .notStarted("could not start a worker process: \(error)") }
        Termination.shared.register(process.processIdentifier)
        defer { Termination.shared.unregister(process.processIdentifier) }
        let diagnostics = PipeReader(stderr.fileHandleForReading)
        // A child that died before reading: its exit status tells why.
        try? stdin.fileHandleForWriting.write(contentsOf: input)
        try? stdin.fileHandleForWriting.close()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let errors = diagnostics.wait()
        if process.terminationReason == .uncaughtSignal {
            return .signal(process.terminationStatus, Self.signalName(process.terminationStatus))
        }
        let lines = String(decoding: output, as: UTF8.self).split(separator: "\n")
        if let line = lines.last(where: { $0.hasPrefix(outcomePrefix) }) {
            return .outcome(Data(line.dropFirst(outcomePrefix.count).utf8))
        }
        let last = String(decoding: errors, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? "no message"
        return .noOutcome(status: process.terminationStatus, lastError: last)
    }

    static func signalName(_ signal: Int32) -> String {
        let names: [Int32: String] = [SIGSEGV: "SIGSEGV", SIGABRT: "SIGABRT", SIGKILL: "SIGKILL", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE",
                                      SIGILL: "SIGILL", SIGTERM: "SIGTERM", SIGINT: "SIGINT"]
        return names[signal] ?? "signal"
    }
}

/// Runs `count` jobs on `threads` threads (8 MiB stacks), each index once, in index order of start;
/// `body` gets the index. Returns when every job has finished, or, after a termination signal
/// (``Termination``), when the running ones have: no job starts after it.
public enum JobPool {
    public static func run(count: Int, threads: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let next = Locked(0)
        let group = DispatchGroup()
        for _ in 0..<min(max(1, threads), max(1, count)) {
            group.enter()
            let thread = Thread {
                while let index = next.withLock({ n -> Int? in
                    guard n < count, !Termination.shared.isRequested else { return nil }
                    n += 1
                    return n - 1
                }) { body(index) }
                group.leave()
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        group.wait()
    }
}

extension WorkerProcess {
    /// Runs one job of a batch (prep's sessions, correspond's subjects) in a child: the job as JSON on its
    /// standard input, its outcome decoded from the outcome line. Returns the outcome, or why there is none
    /// (`doing` names the job, `redact` cleans the child's last diagnostic line).
    public func run<Job: Encodable, Outcome: Decodable>(job: Job, outcome: Outcome.Type, while doing: String,
                                                         redact: (String) -> String = { $0 }) -> Result<Outcome, WorkerFailure> {
        let ending = run(input: (try? JSONEncoder().encode(job)) ?? Data())
        if case .outcome(let line) = ending, let decoded = try? JSONDecoder().decode(Outcome.self, from: line) { return .success(decoded) }
        return .failure(WorkerFailure(reason: ending.failureReason(while: doing, redact: redact)))
    }
}

/// Why a worker gave no readable outcome.
public struct WorkerFailure: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}
