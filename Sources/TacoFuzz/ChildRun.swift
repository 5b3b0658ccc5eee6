import Foundation
import TacoCore

/// What became of one input.
enum InputResult: Equatable {
    case accepted
    case rejected(String)
    /// The process reading it died (signal or exit without an answer).
    case crashed(String)
    /// It did not finish within the per-input bound.
    case hung
}

/// Runs inputs of an in-process target in child processes (`taco-fuzz child TARGET`), so that a crash or a
/// hang is counted against the input that caused it and the next child carries on with the rest.
///
/// The child reads one input path per line and prints `start N` before and `done N accepted` or
/// `done N rejected REASON` after each; an input started and never done is the culprit.
struct ChildRun {
    let command: [String]
    /// Seconds an input may take.
    let bound: Double

    func run(_ inputs: [URL]) -> [InputResult] {
        var results = [InputResult?](repeating: nil, count: inputs.count)
        var pending = Array(inputs.indices)
        while !pending.isEmpty {
            let (answers, ending) = runChild(pending.map { inputs[$0] })
            for (local, result) in answers { results[pending[local]] = result }
            guard let (culprit, result) = ending else { break }
            results[pending[culprit]] = result
            pending = Array(pending[(culprit + 1)...])
        }
        return results.map { $0 ?? .crashed("never run") }
    }

    /// One child over `inputs`: the answers it gave (by position), and the input it died or hung on.
    private func runChild(_ inputs: [URL]) -> ([Int: InputResult], (Int, InputResult)?) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        signal(SIGPIPE, SIG_IGN)
        do { try process.run() } catch { return ([:], (0, .crashed("could not start the child: \(error)"))) }
        let lines = LineCollector()
        let reader = Thread { lines.collect(from: stdout.fileHandleForReading) }
        reader.start()
        try? stdin.fileHandleForWriting.write(contentsOf: Data(inputs.map { $0.path + "\n" }.joined().utf8))
        try? stdin.fileHandleForWriting.close()
        var hung = false
        while process.isRunning {
            usleep(20_000)
            if Date().timeIntervalSince(lines.lastProgress) > bound {
                hung = true
                kill(process.processIdentifier, SIGKILL)
                break
            }
        }
        process.waitUntilExit()
        lines.waitForEnd()
        var answers: [Int: InputResult] = [:]
        var started: Int?
        for line in lines.all {
            let parts = line.split(separator: " ", maxSplits: 3).map(String.init)
            guard parts.count >= 2, let n = Int(parts[1]), inputs.indices.contains(n) else { continue }
            if parts[0] == "start" { started = n }
            if parts[0] == "done" {
                answers[n] = parts.count >= 3 && parts[2] == "accepted" ? .accepted : .rejected(parts.count >= 4 ? parts[3] : "")
                started = nil
            }
        }
        if let started {
            let why = hung ? InputResult.hung
                : .crashed(process.terminationReason == .uncaughtSignal ? "signal \(process.terminationStatus)" : "exit \(process.terminationStatus) without an answer")
            return (answers, (started, why))
        }
        if answers.count < inputs.count, let first = inputs.indices.first(where: { answers[$0] == nil }) {
            return (answers, (first, .crashed("the child ended before starting it (exit \(process.terminationStatus))")))
        }
        return (answers, nil)
    }
}

/// The lines a child prints, collected on a thread, with the time of the last one.
final class LineCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    private var last = Date()
    private let ended = DispatchSemaphore(value: 0)

    var lastProgress: Date { lock.withLock { last } }
    var all: [String] { lock.withLock { lines } }

    func collect(from handle: FileHandle) {
        var buffer = Data()
        while true {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
            while let newline = buffer.firstIndex(of: 10) {
                let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...newline)
                lock.withLock { lines.append(line); last = Date() }
            }
        }
        ended.signal()
    }

    func waitForEnd() { ended.wait() }
}
