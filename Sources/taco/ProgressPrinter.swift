import Foundation

/// Shows the progress of every command that runs long (`taco prep`, `correspond`, `train`, `embed`): a bar with
/// an ETA on a terminal (standard error), plain lines, or JSON lines (one object per event). Only pseudonymous
/// labels and counts are printed.
///
/// `@unchecked Sendable`: every mutable field is touched with `lock` held (batches report from many threads).
final class ProgressPrinter: @unchecked Sendable {
    private let style: ProgressStyle
    /// What the bar counts ("sessions", "subjects", "steps").
    private let unit: String
    private let lock = NSLock()
    private var total = 0, done = 0, failed = 0, first = 0
    private var status = ""
    private var startDate = Date()

    init(style: ProgressStyle, unit: String) {
        self.style = style
        self.unit = unit
    }

    /// Starts counting: `total` units, of which `alreadyDone` were done before (a resumed run).
    func begin(total: Int, alreadyDone: Int = 0) {
        lock.withLock {
            self.total = total
            done = alreadyDone
            first = alreadyDone
            startDate = Date()
            if style == .bar { drawBar() }
        }
    }

    /// Progress to `done` of the total with a status for the bar (a training step's loss): `plain` is printed
    /// as a plain line when given, `fields` become a JSON `event` object.
    func advance(to done: Int, status: String, plain: String?, event: String, fields: [String: Any]) {
        lock.withLock {
            self.done = done
            self.status = status
            switch style {
            case .json:
                emit(["event": event, "eta_seconds": Int(eta)].merging(fields) { _, b in b })
            case .plain, .auto:
                if let plain { write(plain + " " + etaText) }
            case .bar:
                drawBar()
            }
        }
    }

    /// A summary line (plain, or a JSON `message` object).
    func line(_ text: String) {
        lock.withLock {
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
        lock.withLock { if style == .json { emit(["event": "started"].merging(fields) { a, _ in a }) } }
    }

    /// A unit finished: `line` for plain output (and for the bar when it failed), `fields` for JSON.
    func finished(line: String, failed isFailure: Bool, fields: [String: Any]) {
        lock.withLock {
            done += 1
            if isFailure { failed += 1 }
            switch style {
            case .json:
                emit(["event": "finished"].merging(fields) { a, _ in a })
            case .plain:
                write("[\(done)/\(total)] " + line)
            case .bar:
                if isFailure { FileHandle.standardError.write(Data("\r\u{1B}[K[\(done)/\(total)] \(line)\n".utf8)) }
                drawBar()
            case .auto:
                break
            }
        }
    }

    func end() {
        lock.withLock { if style == .bar { FileHandle.standardError.write(Data("\n".utf8)) } }
    }

    /// Seconds left at the pace since `begin` (0 before the first unit).
    private var eta: Double {
        done > first && done < total ? Date().timeIntervalSince(startDate) / Double(done - first) * Double(total - done) : 0
    }

    private var etaText: String { String(format: "ETA %dm%02ds", Int(eta) / 60, Int(eta) % 60) }

    private func drawBar() {
        let width = 30
        let filled = total == 0 ? width : width * min(done, total) / total
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let failures = failed > 0 ? " \(failed) failed" : ""
        let remaining = done > first && done < total ? " " + etaText : ""
        let state = status.isEmpty ? "" : " " + status
        FileHandle.standardError.write(Data("\r\u{1B}[K[\(bar)] \(done)/\(total) \(unit)\(failures)\(state)\(remaining)".utf8))
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
