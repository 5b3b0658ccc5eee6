import Foundation
import TacoCore

/// The part files of a batch split across machines (`--shard-index I --shard-count N`, docs/scale-out.md):
/// `part-<I+1>-of-<N>.json` in one folder, one per part, each written when its part is done. Prep and
/// Correspond keep their parts by this one rule:
///
/// - writing part I of N removes every part of another count: a run split differently (or not split)
///   supersedes an earlier split, whose parts can never be merged with its own;
/// - a merge takes the parts of the one count present and fails, naming the missing parts and the flags
///   that rerun them, unless all N are there.
///
/// ```swift
/// let parts = BatchParts(folder: output.appendingPathComponent("parts"))
/// try parts.write(json, index: 0, count: 4)       // removes part-1-of-1.json, part-2-of-2.json, ...
/// let files = try parts.complete()                // throws "parts 2, 3, 4 of 4 are missing (...)"
/// ```
public struct BatchParts: Sendable, Equatable {
    public let folder: URL

    public init(folder: URL) { self.folder = folder }

    /// One part file present.
    public struct Part: Sendable, Equatable {
        public let index: Int
        public let count: Int
        public let url: URL
    }

    /// The file of part `index` (0-based) of `count`.
    public func url(index: Int, count: Int) -> URL { folder.appendingPathComponent("part-\(index + 1)-of-\(count).json") }

    /// Writes part `index` of `count` atomically, then removes the parts of every other count.
    public func write(_ data: Data, index: Int, count: Int) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try AtomicFile.write(to: url(index: index, count: count)) { try data.write(to: $0) }
        for part in present() where part.count != count { try? FileManager.default.removeItem(at: part.url) }
    }

    /// Every part file in the folder, in (count, index) order.
    public func present() -> [Part] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.compactMap { name -> Part? in
            guard name.hasPrefix("part-"), name.hasSuffix(".json") else { return nil }
            let numbers = name.dropFirst(5).dropLast(5).split(separator: "-")
            guard numbers.count == 3, numbers[1] == "of", let i = Int(numbers[0]), let n = Int(numbers[2]), i >= 1, i <= n else { return nil }
            return Part(index: i - 1, count: n, url: folder.appendingPathComponent(name))
        }.sorted { ($0.count, $0.index) < ($1.count, $1.index) }
    }

    /// The parts of the split present, all of them, in index order. Fails when there is none, when parts
    /// of several counts are present (copied in by hand: a run never leaves two), or when any is missing.
    public func complete(rerunHint: String = "") throws -> [Part] {
        let parts = present()
        guard let count = parts.first?.count else { throw BatchPartsError("\(folder.path): no part files\(rerunHint)") }
        let counts = Set(parts.map(\.count)).sorted()
        guard counts.count == 1 else {
            throw BatchPartsError("\(folder.path): parts of different splits (\(counts.map { "of \($0)" }.joined(separator: ", "))); "
                                  + "remove those of the split you abandoned")
        }
        let missing = Set(0..<count).subtracting(parts.map(\.index)).sorted()
        guard missing.isEmpty else {
            throw BatchPartsError("\(folder.path): parts \(missing.map { String($0 + 1) }.joined(separator: ", ")) of \(count) are missing "
                                  + "(rerun with --shard-index \(missing.map(String.init).joined(separator: ",")) --shard-count \(count))")
        }
        return parts
    }
}

/// Why the parts of a split cannot be merged.
public struct BatchPartsError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
