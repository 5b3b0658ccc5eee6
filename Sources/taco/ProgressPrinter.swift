import Foundation

/// Shows the progress of a batch (`taco prep`, `taco correspond`): a bar with an ETA on a terminal (standard error), plain lines, or
/// JSON lines (one object per event). Only pseudonymous labels and counts are printed.
final class ProgressPrinter: @unchecked Sendable {
    private let style: ProgressStyle
    /// What the bar counts ("sessions", "subjects").
    private let unit: String
    private let lock = NSLock()
    private var total = 0, done = 0, failed = 0
    private var startDate = Date()

    init(style: ProgressStyle, unit: String) {
        self.style = style
        self.unit = unit
    }

    func begin(total: Int) {
        lock.withLock {
            self.total = total
            startDate = Date()
            if style == .bar { drawBar() }
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

    private func drawBar() {
        let width = 30
        let filled = total == 0 ? width : width * done / total
        var eta = ""
        if done > 0 && done < total {
            let remaining = Date().timeIntervalSince(startDate) / Double(done) * Double(total - done)
            eta = String(format: " ETA %dm%02ds", Int(remaining) / 60, Int(remaining) % 60)
        }
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let failures = failed > 0 ? " \(failed) failed" : ""
        FileHandle.standardError.write(Data("\r\u{1B}[K[\(bar)] \(done)/\(total) \(unit)\(failures)\(eta)".utf8))
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
