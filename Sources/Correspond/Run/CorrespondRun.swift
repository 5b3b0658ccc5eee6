import Foundation
import Imaging
import TacoCore
import Shards

/// One part of a `taco correspond` run: map this part's subjects in worker processes (`jobs` at a
/// time; a crash fails one subject), pack them into shards, write the part file, and merge at once
/// when the run has one part.
///
/// Resumable: a subject mapped by an interrupted run (its work files) or packed by an earlier run (a
/// part file lists it in an existing shard) with the same fingerprint is not mapped again unless
/// `force`. Nothing appears half-written: work files, shards, part files and the manifest are written
/// under temporary names and renamed.
public struct CorrespondRun: Sendable {
    public let planner: CorrespondPlanner
    /// The part, the workers (`taco correspond worker`) and whether finished subjects are redone.
    public let batch: BatchSettings

    /// The worker's outcome line starts with this.
    public static let outcomePrefix = "TACO-SUBJECT-OUTCOME "

    public init(planner: CorrespondPlanner, batch: BatchSettings) {
        self.planner = planner
        self.batch = batch
    }

    public enum Event: Sendable {
        case started(index: Int, key: String)
        case finished(index: Int, key: String, outcome: SubjectOutcome, seconds: Double)
    }

    public struct Summary: Sendable {
        /// (key, outcome) in key order.
        public let outcomes: [(String, SubjectOutcome)]
        public let part: CorrespondPart
        /// The merged manifest, when the run has one part.
        public let merged: CorrespondPart.Merged?
        public let packSeconds: Double
    }

    /// Plans, maps, packs and writes the part (and, with one part, the manifest). Throws for what stops
    /// the whole part (no prepared sessions, an output that cannot be written); a subject's failure is
    /// in its outcome.
    public func run(total: @Sendable (Int) -> Void = { _ in }, events: @escaping @Sendable (Event) -> Void) throws -> Summary {
        let layout = planner.layout, index = batch.index, count = batch.count, force = batch.force
        let lock = try OutputLock(folder: layout.root, name: "correspond-part-\(index + 1)-of-\(count)", command: "taco correspond")
        defer { lock.release() }
        let jobs = try planner.jobs(index: index, count: count)
        total(jobs.count)
        try FileManager.default.createDirectory(at: layout.work, withIntermediateDirectories: true)
        let previous = force ? [:] : Self.packedEarlier(layout)
        let results = Locked([(outcome: SubjectOutcome, source: ShardPacker.Source?)?](repeating: nil, count: jobs.count))
        JobPool.run(count: jobs.count, threads: batch.jobs) { [self] i in
            let job = jobs[i]
            let start = Date()
            if !force {
                if var done = SubjectWorker.finished(job.key, fingerprint: job.fingerprint, layout: layout) {
                    done.status = .skipped
                    results.withLock { $0[i] = (done, .init(key: job.key, shard: layout.workShard(job.key), bytes: done.bytes)) }
                    events(.finished(index: i, key: job.key, outcome: done, seconds: 0))
                    return
                }
                if let earlier = previous[job.key], earlier.fingerprint == job.fingerprint {
                    var done = SubjectOutcome(status: .skipped)
                    done.fingerprint = job.fingerprint
                    done.flags = earlier.flags
                    results.withLock { $0[i] = (done, earlier.source) }
                    events(.finished(index: i, key: job.key, outcome: done, seconds: 0))
                    return
                }
            }
            events(.started(index: i, key: job.key))
            Self.removeWork(job.key, layout: layout)
            let outcome = runWorker(job)
            if outcome.status == .failed { Self.removeWork(job.key, layout: layout) }
            let source: ShardPacker.Source? = outcome.status == .failed ? nil : .init(key: job.key, shard: layout.workShard(job.key), bytes: outcome.bytes)
            results.withLock { $0[i] = (outcome, source) }
            events(.finished(index: i, key: job.key, outcome: outcome, seconds: Date().timeIntervalSince(start)))
        }

        if let signal = Termination.shared.signal {
            // Interrupted subjects failed and their work was removed; finished ones stay in the work folder for
            // the rerun, which packs them.
            throw BatchInterrupted(signal: signal, finished: results.value.filter { ($0?.outcome.status ?? .failed) != .failed }.count, total: jobs.count)
        }
        // Pack, in key order.
        let packStart = Date()
        let collected = results.value
        let outcomes = collected.map { $0?.outcome ?? SubjectOutcome(status: .failed) }, sources = collected.compactMap { $0?.source }
        let configuration = planner.configuration
        let packer = ShardPacker(layout: layout, index: index, count: count, targetBytes: planner.options.shardSizeBytes,
                                 atlas: planner.atlas.name, tokenStride: planner.options.tokenStride,
                                 createdBy: SubjectWorker.createdBy(version: planner.version))
        let staged = try packer.stage(sources)
        var manifest = try ShardManifest.build(shards: staged, configuration: configuration)
        manifest.atlas = planner.atlas.name
        manifest.tokenStride = planner.options.tokenStride
        let partURL = layout.part(index: index, count: count)
        let stale = (try? CorrespondPart.read(partURL))?.manifest.shards.map(\.name) ?? []
        try packer.publish(staged, replacing: stale)
        var fingerprints: [String: String] = [:], failures: [String: String] = [:]
        for (job, outcome) in zip(jobs, outcomes) {
            if outcome.status == .failed { failures[job.key] = outcome.reason ?? "failed" } else { fingerprints[job.key] = job.fingerprint }
        }
        let part = CorrespondPart(shardIndex: index, shardCount: count, version: planner.version, atlasFolder: planner.atlas.folder.path,
                                  manifest: manifest, fingerprints: fingerprints, failures: failures)
        try part.write(to: layout)
        for source in sources { Self.removeWork(source.key, layout: layout) }
        if (try? FileManager.default.contentsOfDirectory(atPath: layout.work.path))?.isEmpty == true {
            try? FileManager.default.removeItem(at: layout.work)
        }
        let packSeconds = Date().timeIntervalSince(packStart)
        let merged = count == 1 ? try CorrespondPart.merge(layout) : nil
        return Summary(outcomes: zip(jobs, outcomes).map { ($0.key, $1) }, part: part, merged: merged, packSeconds: packSeconds)
    }

    /// One worker process for `job`.
    func runWorker(_ job: SubjectJob) -> SubjectOutcome {
        switch batch.process(outcomePrefix: Self.outcomePrefix).run(job: job, outcome: SubjectOutcome.self, while: "while mapping this subject") {
        case .success(let outcome): return outcome
        case .failure(let failure):
            var failed = SubjectOutcome(status: .failed)
            failed.reason = failure.reason
            return failed
        }
    }

    /// A subject packed by an earlier run: where it is, its fingerprint and flags.
    struct Packed {
        let source: ShardPacker.Source
        let fingerprint: String
        let flags: [String]
    }

    /// Subjects that the part files list in shards that exist and hold them.
    static func packedEarlier(_ layout: CorrespondLayout) -> [String: Packed] {
        var packed: [String: Packed] = [:]
        for part in CorrespondPart.all(in: layout) {
            for shard in part.manifest.shards {
                let url = layout.root.appendingPathComponent(shard.name)
                guard let keys = try? ShardReader(url: url).keys() else { continue }
                let each = shard.bytes / max(shard.subjects.count, 1)
                for key in shard.subjects where keys.contains(key) {
                    guard let fingerprint = part.fingerprints[key] else { continue }
                    let flags = part.manifest.subjects.first { $0.key == key }?.flags ?? []
                    packed[key] = Packed(source: .init(key: key, shard: url, bytes: each), fingerprint: fingerprint, flags: flags)
                }
            }
        }
        return packed
    }

    /// Removes a subject's work files, finished or not.
    static func removeWork(_ key: String, layout: CorrespondLayout) {
        let fm = FileManager.default
        try? fm.removeItem(at: layout.workShard(key))
        try? fm.removeItem(at: layout.workOutcome(key))
        try? fm.removeItem(at: layout.work.appendingPathComponent(".\(key).h5.partial"))
    }
}
