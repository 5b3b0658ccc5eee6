import Foundation

/// This process's memory as Linux reports it (workers report their peak; benchmarks measure one piece of work).
public enum ProcessMemory {
    /// Resets this process's peak resident set (VmHWM) to its current size (Linux; no effect elsewhere), so
    /// that a benchmark can read the peak of one piece of work.
    public static func resetPeak() {
        try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .ascii)
    }

    /// This process's peak resident set (VmHWM in /proc/self/status), bytes; 0 where unknown.
    public static func peakResidentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kB = Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") else { return 0 }
        return kB * 1024
    }
}
