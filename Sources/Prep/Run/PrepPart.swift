import Foundation
import Imaging
import TacoCore

/// What one shard of a `taco prep` run did, written to `OUT/prep-parts/part-<i>-of-<n>.json`; `taco prep
/// merge` (``PrepPart/merge(in:version:)``) turns the parts into the dataset-level files. A run with one
/// shard merges at once. Holds pseudonymous labels only, like every file in the output.
public struct PrepPart: Sendable, Codable, Equatable {
    public var shardIndex: Int
    public var shardCount: Int
    public var version: String
    public var configuration: [String: String]
    public var report: [PreparedDataset.ReportEntry]
    public var sessions: [PreparedDataset.SessionStatus]
    /// Modalities written per prepared (or up-to-date) session, "subject/session" -> names.
    public var modalities: [String: [String]]
    public var problems: [InputProblem]
    public var ignoredFiles: Int
    public var notDicomFiles: [InputProblem]
    public var nonImageFiles: Int

    /// The part files of a prepared folder.
    public static func parts(in root: URL) -> BatchParts { BatchParts(folder: PreparedLayout(root: root).parts) }

    /// The part's file in `root`.
    public static func url(in root: URL, index: Int, count: Int) -> URL { parts(in: root).url(index: index, count: count) }

    /// The part of shard `index` of `count` from its plan and its sessions' outcomes (in job order):
    /// a failed session fails its used series; an unreadable input fails its series.
    public init(plan: PrepPlan, outcomes: [SessionOutcome], index: Int, count: Int, version: String, configuration: [String: String]) {
        shardIndex = index
        shardCount = count
        self.version = version
        self.configuration = configuration
        var report = plan.report
        var sessions: [PreparedDataset.SessionStatus] = []
        var modalities: [String: [String]] = [:]
        for (job, outcome) in zip(plan.jobs, outcomes) {
            for source in job.sources {
                if outcome.status == .failed {
                    report[source.reportIndex] = report[source.reportIndex].with(fate: .failed, reason: outcome.reason ?? "the session failed")
                    continue
                }
                func name(_ index: Int) -> String { report[index].seriesNumber.map { "series " + $0 } ?? "another input" }
                if let usedIndex = outcome.fallbackUsed[source.modality] {
                    // The inputs tried before the one used could not be read: set aside, since their class was prepared.
                    for tried in [source] + source.fallbacks.prefix { $0.reportIndex != usedIndex } {
                        let why = outcome.readFailures[String(tried.reportIndex)] ?? "unknown"
                        report[tried.reportIndex] = report[tried.reportIndex].with(fate: .rejected, reason: "could not be read: \(why); \(name(usedIndex)) was used instead")
                    }
                    report[usedIndex] = report[usedIndex].with(fate: .used, reason: "complete \(source.modality) series, used because \(name(source.reportIndex)) could not be read")
                } else if let failure = outcome.inputFailures[source.modality] {
                    report[source.reportIndex] = report[source.reportIndex].with(fate: .failed, reason: "could not be read: " + failure)
                    for fallback in source.fallbacks {
                        report[fallback.reportIndex] = report[fallback.reportIndex].with(fate: .failed, reason: "could not be read: " + (outcome.readFailures[String(fallback.reportIndex)] ?? "unknown"))
                    }
                }
            }
            sessions.append(.init(subject: job.subject, session: job.session, status: outcome.status.rawValue, reason: outcome.reason,
                                  qcFlags: outcome.qcFlags))
            if outcome.status != .failed { modalities["\(job.subject)/\(job.session)"] = outcome.modalities }
        }
        self.report = report
        self.sessions = sessions
        self.modalities = modalities
        problems = plan.problems
        ignoredFiles = plan.ignoredFiles
        notDicomFiles = plan.notDicomFiles
        nonImageFiles = plan.nonImageFiles
    }

    /// Units that failed: failed series (incl. malformed NIfTI inputs), failed sessions, unusable files.
    public var failures: Int {
        report.filter { $0.fate == .failed }.count + sessions.filter { $0.status == "failed" }.count + problems.count
    }

    /// Writes the part atomically; parts of an earlier, differently split run are removed (``BatchParts``).
    public func write(in root: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        try Self.parts(in: root).write(try encoder.encode(self), index: shardIndex, count: shardCount)
    }

    /// Reads the parts in `root` and writes `prep-report.json`, `datalist.json`, `participants.tsv` and
    /// `dataset_description.json`. Fails, naming what is missing, unless every part of the split is there
    /// with one configuration. Returns the merged parts.
    @discardableResult
    public static func merge(in root: URL, version: String) throws -> [PrepPart] {
        let files: [BatchParts.Part]
        do { files = try parts(in: root).complete(rerunHint: " (run taco prep with --out \(root.path) first)") } catch {
            throw PrepFailure("\(error)")
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        var parts: [PrepPart] = []
        for file in files {
            do { parts.append(try decoder.decode(PrepPart.self, from: Data(contentsOf: file.url))) } catch {
                throw PrepFailure("\(file.url.path): not a readable part file (\(error.localizedDescription))")
            }
        }
        guard Set(parts.map(\.configuration)).count == 1 else {
            let keys = Set(parts.flatMap { $0.configuration.keys }).filter { key in Set(parts.map { $0.configuration[key] }).count > 1 }.sorted()
            throw PrepFailure("\(PrepPart.parts(in: root).folder.path): the parts were made with different configurations (\(keys.joined(separator: ", "))); "
                              + "rerun the shards with one")
        }
        parts.sort { $0.shardIndex < $1.shardIndex }
        let sessions = parts.flatMap { part in
            part.modalities.map { key, modalities -> PreparedDataset.Session in
                let labels = key.split(separator: "/").map(String.init)
                return PreparedDataset.Session(subject: labels[0], session: labels[1], modalities: modalities)
            }
        }
        let report = parts.flatMap(\.report).sorted {
            ($0.subject, $0.session, Int($0.seriesNumber ?? "") ?? Int.max) < ($1.subject, $1.session, Int($1.seriesNumber ?? "") ?? Int.max)
        }
        try PreparedDataset.write(under: root, sessions: sessions, report: report, version: version,
                                  configuration: parts[0].configuration, sessionStatuses: parts.flatMap(\.sessions),
                                  problems: parts.flatMap(\.problems), ignoredFiles: parts.map(\.ignoredFiles).reduce(0, +),
                                  notDicomFiles: parts.flatMap(\.notDicomFiles),
                                  nonImageFiles: parts.map(\.nonImageFiles).reduce(0, +))
        return parts
    }
}
