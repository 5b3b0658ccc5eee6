import Foundation
import Prep

/// Shows a `taco prep` run's progress: a bar with an ETA on a terminal (standard error), plain lines, or
/// JSON lines (one object per event). Only pseudonymous labels and counts are printed.
final class ProgressPrinter: @unchecked Sendable {
    private let style: ProgressStyle
    private let lock = NSLock()
    private var total = 0, done = 0, failed = 0
    private var started = Date()

    init(style: ProgressStyle) { self.style = style }

    func begin(total: Int) {
        lock.withLock {
            self.total = total
            started = Date()
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

    func event(_ event: PrepBatch.Event) {
        lock.withLock {
            switch event {
            case let .started(index, job):
                if style == .json { emit(["event": "started", "index": index, "subject": job.subject, "session": job.session]) }
            case let .finished(index, job, outcome, seconds):
                done += 1
                if outcome.status == .failed { failed += 1 }
                switch style {
                case .json:
                    var object: [String: Any] = ["event": "finished", "index": index, "subject": job.subject, "session": job.session,
                                                 "status": outcome.status.rawValue, "seconds": seconds, "modalities": outcome.modalities,
                                                 "qc_flags": outcome.qcFlags, "peak_memory_bytes": outcome.peakMemoryBytes]
                    if let reason = outcome.reason { object["reason"] = reason }
                    emit(object)
                case .plain:
                    write(describe(job, outcome, seconds))
                case .bar:
                    if outcome.status == .failed { FileHandle.standardError.write(Data("\r\u{1B}[K\(describe(job, outcome, seconds))\n".utf8)) }
                    drawBar()
                case .auto:
                    break
                }
            }
        }
    }

    func end() {
        lock.withLock { if style == .bar { FileHandle.standardError.write(Data("\n".utf8)) } }
    }

    private func describe(_ job: SessionJob, _ outcome: SessionOutcome, _ seconds: Double) -> String {
        let head = "[\(done)/\(total)] \(job.name)"
        switch outcome.status {
        case .prepared:
            let flags = outcome.qcFlags.isEmpty ? "" : "; QC: " + outcome.qcFlags.joined(separator: "; ")
            return String(format: "%@ prepared in %.1f s (%@)%@", head, seconds, outcome.modalities.joined(separator: " "), flags)
        case .skipped:
            return "\(head) up to date (\(outcome.modalities.joined(separator: " ")))"
        case .failed:
            return "\(head) FAILED: \(outcome.reason ?? "unknown reason")"
        }
    }

    private func drawBar() {
        let width = 30
        let filled = total == 0 ? width : width * done / total
        var eta = ""
        if done > 0 && done < total {
            let remaining = Date().timeIntervalSince(started) / Double(done) * Double(total - done)
            eta = String(format: " ETA %dm%02ds", Int(remaining) / 60, Int(remaining) % 60)
        }
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let failures = failed > 0 ? " \(failed) failed" : ""
        FileHandle.standardError.write(Data("\r\u{1B}[K[\(bar)] \(done)/\(total) sessions\(failures)\(eta)".utf8))
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
