import Foundation
import TacoCore

/// Shows the progress of every command that runs long (`taco prep`, `correspond`, `train`, `embed`): a bar with
/// an ETA on a terminal (standard error), plain lines, or JSON lines (one object per event). Only pseudonymous
/// labels and counts are printed. Batches report from many threads: every event is printed whole, one at a time.
final class ProgressPrinter: Sendable {
    private let style: ProgressStyle
    /// What the bar counts ("sessions", "subjects", "steps").
    private let unit: String
    private let state = Locked(Counts())

    private struct Counts {
        var total = 0, done = 0, failed = 0, first = 0
        var status = ""
        var startDate = Date()

        /// Seconds left at the pace since `begin` (0 before the first unit).
        var eta: Double {
            done > first && done < total ? Date().timeIntervalSince(startDate) / Double(done - first) * Double(total - done) : 0
        }
        var etaText: String { String(format: "ETA %dm%02ds", Int(eta) / 60, Int(eta) % 60) }
    }

    init(style: ProgressStyle, unit: String) {
        self.style = style
        self.unit = unit
    }

    /// Starts counting: `total` units, of which `alreadyDone` were done before (a resumed run).
    func begin(total: Int, alreadyDone: Int = 0) {
        state.withLock { c in
            c.total = total
            c.done = alreadyDone
            c.first = alreadyDone
            c.startDate = Date()
            if style == .bar { drawBar(c) }
        }
    }

    /// Progress to `done` of the total with a status for the bar (a training step's loss): `plain` is printed
    /// as a plain line when given, `fields` become a JSON `event` object.
    func advance(to done: Int, status: String, plain: String?, event: String, fields: [String: Any]) {
        let fields = SendableFields(fields)
        state.withLock { c in
            c.done = done
            c.status = status
            switch style {
            case .json:
                emit(["event": event, "eta_seconds": Int(c.eta)].merging(fields.value) { _, b in b })
            case .plain, .auto:
                if let plain { write(plain + " " + c.etaText) }
            case .bar:
                drawBar(c)
            }
        }
    }

    /// A summary line (plain, or a JSON `message` object).
    func line(_ text: String) {
        state.withLock { _ in
            if style == .json {
                emit(["event": "message", "text": text])
            } else {
                if style == .bar { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                write(text)
            }
        }
    }

    /// A unit started (JSON lines only).
    func started(_ fields: [String: Any]) {
        let fields = SendableFields(fields)
        state.withLock { _ in if style == .json { emit(["event": "started"].merging(fields.value) { a, _ in a }) } }
    }

    /// A unit finished: `line` for plain output (and for the bar when it failed), `fields` for JSON.
    func finished(line: String, failed isFailure: Bool, fields: [String: Any]) {
        let fields = SendableFields(fields)
        state.withLock { c in
            c.done += 1
            if isFailure { c.failed += 1 }
            switch style {
            case .json:
                emit(["event": "finished"].merging(fields.value) { a, _ in a })
            case .plain:
                write("[\(c.done)/\(c.total)] " + line)
            case .bar:
                if isFailure { FileHandle.standardError.write(Data("\r\u{1B}[K[\(c.done)/\(c.total)] \(line)\n".utf8)) }
                drawBar(c)
            case .auto:
                break
            }
        }
    }

    func end() {
        state.withLock { _ in if style == .bar { FileHandle.standardError.write(Data("\n".utf8)) } }
    }

    private func drawBar(_ c: Counts) {
        let width = 30
        let filled = c.total == 0 ? width : width * min(c.done, c.total) / c.total
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let failures = c.failed > 0 ? " \(c.failed) failed" : ""
        let remaining = c.done > c.first && c.done < c.total ? " " + c.etaText : ""
        let status = c.status.isEmpty ? "" : " " + c.status
        FileHandle.standardError.write(Data("\r\u{1B}[K[\(bar)] \(c.done)/\(c.total) \(unit)\(failures)\(status)\(remaining)".utf8))
    }

    /// A line on standard output, unbuffered (lines from several threads stay whole and in order).
    private func write(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    private func emit(_ object: [String: Any]) {
        if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
            write(String(decoding: data, as: UTF8.self))
        }
    }
}

/// JSON fields (numbers, strings, arrays and dictionaries of them) handed to the printer from any thread.
private struct SendableFields: @unchecked Sendable {
    let value: [String: Any]
    init(_ value: [String: Any]) { self.value = value }
}
