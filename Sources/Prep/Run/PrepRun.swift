import Foundation
import Imaging
import TacoCore

/// One part of a `taco prep` run: open the pseudonym key, load the classification rules, plan from the
/// inputs' headers, take this part's sessions, prepare them in worker processes (``PrepBatch``), write the
/// part file, and merge at once when the run has one part. The mirror of Correspond's `CorrespondRun`.
///
/// ```swift
/// let run = PrepRun(inputs: [dump], output: prepared, keyFile: key, options: PrepOptions(),
///                   batch: BatchSettings(jobs: 2, worker: ["/usr/local/bin/taco", "prep", "worker"]))
/// let summary = try run.run(planned: { full, part in print(part.jobs.count) }, events: { print($0) })
/// ```
public struct PrepRun: Sendable {
    public let inputs: [URL]
    public let output: URL
    public let keyFile: URL
    /// Classification rules (YAML); nil: the shipped rules.
    public let rulesFile: URL?
    public let options: PrepOptions
    /// The part, the workers (`taco prep worker`) and whether up-to-date sessions are redone.
    public let batch: BatchSettings
    public let version: String
    /// Where DICOM headers are scanned (`taco prep` isolates the scan in `taco prep scan-worker` children).
    public var scanner: DICOMHeaderScanner = .inProcess

    public init(inputs: [URL], output: URL, keyFile: URL, rulesFile: URL? = nil, options: PrepOptions, batch: BatchSettings, version: String = "") {
        self.inputs = inputs
        self.output = output
        self.keyFile = keyFile
        self.rulesFile = rulesFile
        self.options = options
        self.batch = batch
        self.version = version
    }

    public struct Summary: Sendable {
        /// The whole plan (every part's) and this part's share of it.
        public let fullPlan: PrepPlan
        public let plan: PrepPlan
        /// Outcomes in the order of `plan.jobs`.
        public let outcomes: [SessionOutcome]
        public let part: PrepPart
        /// Whether the dataset-level files were written (a run of one part).
        public let merged: Bool
    }

    /// Runs the part. Throws for what stops it (an output or key that cannot be used, unreadable rules, a
    /// merge that cannot be done); a session's failure is in its outcome and the part.
    public func run(planned: (_ full: PrepPlan, _ part: PrepPlan) -> Void = { _, _ in },
                    events: @escaping @Sendable (PrepBatch.Event) -> Void) throws -> Summary {
        try AtomicFile.checkWritable(folder: output)
        // One run per part of a folder at a time (parts of an array job run side by side).
        let lock = try OutputLock(folder: output, name: "prep-part-\(batch.index + 1)-of-\(batch.count)", command: "taco prep")
        defer { lock.release() }
        let key = try PseudonymKey.openOrCreate(keyFile: keyFile, outputs: [output])
        let rules = try ClassificationRules.load(rulesFile)
        var options = self.options
        options.rulesDigest = rules.digest
        var triage = SeriesTriage(rules: rules)
        triage.keepDiffusion = options.keepDiffusion
        triage.missingSliceTolerance = options.missingSliceTolerance
        var planner = PrepPlanner(triage: triage, key: key, options: options, output: output)
        planner.scanner = scanner
        let fullPlan = try planner.plan(inputs)
        let index = batch.index, count = batch.count
        let plan = fullPlan.shard(index, of: count)
        planned(fullPlan, plan)

        let outcomes = PrepBatch(batch).run(plan, events: events)
        if let signal = Termination.shared.signal {
            // Interrupted sessions failed and their leftovers were removed; without a part file the run is not
            // taken as done, and a rerun skips the sessions that finished.
            throw BatchInterrupted(signal: signal, finished: outcomes.filter { $0.status != .failed }.count, total: plan.jobs.count)
        }
        let part = PrepPart(plan: plan, outcomes: outcomes, index: index, count: count, version: version, configuration: options.configuration)
        try part.write(in: output)
        if count == 1 { try PrepPart.merge(in: output, version: version) }
        return Summary(fullPlan: fullPlan, plan: plan, outcomes: outcomes, part: part, merged: count == 1)
    }

    /// One line per failed unit (series, sessions, unusable files), with pseudonymous labels; a file's
    /// path only when `paths` maps its id (the operator's console, never a file).
    public static func failureLines(part: PrepPart, paths: [String: String]? = nil) -> [String] {
        var lines: [String] = []
        func labels(_ subject: String, _ session: String) -> String { PreparedLayout.Session(subject: subject, session: session).description }
        for s in part.sessions where s.status == "failed" { lines.append("\(labels(s.subject, s.session)): \(s.reason ?? "failed")") }
        for e in part.report where e.fate == .failed && !part.sessions.contains(where: { $0.subject == e.subject && $0.session == e.session && $0.status == "failed" }) {
            lines.append("\(labels(e.subject, e.session)) \(e.modality ?? "series") \(e.seriesNumber.map { "series " + $0 } ?? ""): \(e.reason)")
        }
        for p in part.problems {
            let path = paths.flatMap { $0[p.file] }.map { " (\($0))" } ?? ""
            lines.append("\(p.file)\(path): \(p.reason)")
        }
        if !part.problems.isEmpty && paths == nil {
            lines.append("(file ids are listed with their paths in the key folder's files.tsv, or rerun with --show-paths)")
        }
        return lines
    }

    /// The share of each step in the workers' time, and the largest worker peak memory.
    public static func stepShares(_ outcomes: [SessionOutcome]) -> String {
        var totals: [String: Double] = [:]
        for o in outcomes { for (step, s) in o.seconds { totals[step, default: 0] += s } }
        let sum = totals.values.reduce(0, +)
        let peak = outcomes.map(\.peakMemoryBytes).max() ?? 0
        guard sum > 0 else { return "no session was prepared in this run" }
        let shares = ["decode", "resample", "register", "mask", "bias_correction", "normalise", "write"].compactMap { step in
            totals[step].flatMap { $0 > 0 ? String(format: "%@ %.0f%%", step, 100 * $0 / sum) : nil }
        }
        return String(format: "worker time by step: %@; largest worker peak memory %.2f GiB; this process (the plan) %.0f MiB",
                      shares.joined(separator: ", "), Double(peak) / Double(1 << 30),
                      Double(ProcessMemory.peakResidentBytes()) / Double(1 << 20))
    }
}
