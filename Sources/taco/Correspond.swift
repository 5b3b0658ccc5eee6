import ArgumentParser
import Correspond
import Foundation
import Imaging
import Shards
import TacoCore

/// `taco correspond`: prepared sessions to HDF5 shards with each subject's map into atlas space.
struct CorrespondCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "correspond",
        abstract: "Register prepared subjects to an atlas and pack them with their atlas maps into HDF5 shards.",
        discussion: "See docs/correspond.md. `taco correspond PREPARED --out SHARDS` runs; `taco correspond merge SHARDS` joins parts.",
        subcommands: [CorrespondRunCommand.self, CorrespondMergeCommand.self, CorrespondWorkerCommand.self],
        defaultSubcommand: CorrespondRunCommand.self
    )
}

/// `taco correspond run` (the default).
struct CorrespondRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Map the prepared sessions in PREPARED to the atlas and write shards into --out.",
        discussion: """
            Exit status: 0 when every subject was mapped, 1 when some failed (listed; the others are in the shards), \
            2 for a usage error. A subject flagged by QC is packed (for intra-subject use) with its flags.
            """
    )

    @Argument(help: "A `taco prep` output folder.")
    var prepared: String

    @Option(name: .long, help: "Output folder for the shards, dataset.json and the QC pictures.")
    var out: String

    @Option(name: .long, help: "A bundled atlas name or an atlas folder (with atlas.json).")
    var atlas: String = "mni152-2009a-sym"

    @Option(name: .long, help: "Token grid step, voxels.")
    var tokenStride: Int = 4

    @Option(name: .long, help: "Grid spacing of the deformable registration and its field, mm (greedy: 1, syn-itk: 2).")
    var deformableResolution: Double?

    @Option(name: .long, help: "The deformable registration: greedy (TacoKit's, default) or syn-itk (ITK's SyN, slower).")
    var deformable: AtlasMapping.DeformableMethod = .greedy

    @Option(name: .long, help: "Iterations per level, coarse first, each level twice the next one's spacing (greedy: 100,60,30,10; syn-itk: 40,20).")
    var deformableIterations: String?

    @Option(name: .long, help: "SyN's metric: cc (neighbourhood cross-correlation) or mi (mutual information); syn-itk only.")
    var deformableMetric: CorrespondOptions.DeformableMetric = .cc

    @Option(name: .long, help: "Finest level of the affine registration, mm.")
    var affineResolution: Double = 2

    @Option(name: .long, help: "How images are stored: gzip (small files) or none (4-5x larger, crops read many times faster).")
    var imageCompression: ShardFormat.ImageCompression = .gzip

    @Option(name: .long, help: "Target shard size (e.g. 1GiB, 500MB).")
    var shardSize: String = "1GiB"

    @OptionGroup var batch: BatchOptions

    func validate() throws {
        try batch.validate()
        do { try options().validate() } catch let error as ValidationError { throw error } catch { throw ValidationError("\(error)") }
    }

    func options() throws -> CorrespondOptions {
        var o = CorrespondOptions()
        o.atlas = atlas
        o.tokenStride = tokenStride
        o.deformableResolution = deformableResolution
        o.affineResolution = affineResolution
        o.deformableMetric = deformableMetric
        o.imageCompression = imageCompression
        o.deformableMethod = deformable
        if let deformableIterations {
            let counts = deformableIterations.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard counts.allSatisfy({ $0 != nil }) else {
                throw ValidationError("--deformable-iterations: '\(deformableIterations)' is not a list of counts (e.g. 100,60,30,10)")
            }
            o.deformableIterations = counts.compactMap { $0 }
        }
        guard let size = CorrespondOptions.parseSize(shardSize) else {
            throw ValidationError("--shard-size: '\(shardSize)' is not a size (e.g. 1GiB, 500MB, 1000000)")
        }
        o.shardSizeBytes = size
        return o
    }

    func run() throws {
        let started = Date()
        Termination.shared.install()
        let output = URL(fileURLWithPath: out).standardizedFileURL
        let printer = ProgressPrinter(style: batch.progress.resolved, unit: "subjects")
        do {
            try AtomicFile.checkWritable(folder: output)
            let options = try options()
            let atlas = try Atlas.load(options.atlas)
            let planner = CorrespondPlanner(prepared: URL(fileURLWithPath: prepared).standardizedFileURL, output: output,
                                            options: options, atlas: atlas, version: TacoVersion.current)
            let run = CorrespondRun(planner: planner, batch: batch.settings(worker: "correspond", "worker"))
            let summary = try run.run(total: { printer.begin(total: $0) }) { printer.show($0) }
            printer.end()
            let outcomes = summary.outcomes.map(\.1)
            printer.line(Self.timing(outcomes, packSeconds: summary.packSeconds))
            let mapped = outcomes.filter { $0.status == .mapped }.count, skipped = outcomes.filter { $0.status == .skipped }.count
            let flagged = summary.outcomes.filter { $0.1.status != .failed && !$0.1.flags.isEmpty }
            printer.line(String(format: "%d subjects mapped, %d up to date, %d failed, %d flagged by QC in %.1f s; %d shard(s) in %@",
                                mapped, skipped, summary.part.failures.count, flagged.count, Date().timeIntervalSince(started),
                                summary.part.manifest.shards.count, output.path))
            for (key, outcome) in flagged { printer.line("  \(key) flagged: \(outcome.flags.joined(separator: "; "))") }
            if let merged = summary.merged {
                printer.line("manifest: \(CorrespondLayout(root: output).manifest.path); pictures: \(CorrespondLayout(root: output).qc.path)")
                _ = merged
            } else {
                printer.line("part \(batch.shardIndex + 1) of \(batch.shardCount) written; run `taco correspond merge \(output.path)` when every part is done")
            }
            if !summary.part.failures.isEmpty {
                printer.line("\(summary.part.failures.count) subject(s) failed:")
                for (key, reason) in summary.part.failures.sorted(by: { $0.key < $1.key }) { printer.line("  \(key): \(reason)") }
                throw ExitCode(1)
            }
        } catch let error as ExitCode {
            throw error
        } catch let error as ValidationError {
            throw error
        } catch let interrupted as BatchInterrupted {
            printer.end()
            throw interrupted.exitCode("taco correspond")
        } catch {
            printer.end()
            throw CommandFailure(message: "taco correspond: \(error)")
        }
    }

    /// Mean seconds per mapped subject by step, the largest worker peak memory, the packing time.
    static func timing(_ outcomes: [SubjectOutcome], packSeconds: Double) -> String {
        let mapped = outcomes.filter { $0.status == .mapped }
        guard !mapped.isEmpty else { return String(format: "no subject was mapped in this run; packing %.1f s", packSeconds) }
        let steps = ["read", "rigid", "affine", "deformable", "maps", "write", "pictures"].map { step in
            String(format: "%@ %.1f", step, mapped.map { $0.seconds[step] ?? 0 }.reduce(0, +) / Double(mapped.count))
        }
        return String(format: "seconds per subject: %@; largest worker peak memory %.2f GiB; packing %.1f s", steps.joined(separator: ", "),
                      Double(mapped.map(\.peakMemoryBytes).max() ?? 0) / Double(1 << 30), packSeconds)
    }
}

/// `taco correspond merge SHARDS`: dataset.json from the parts.
struct CorrespondMergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Write dataset.json (and the cohort picture) from the parts that `taco correspond --shard-index` runs wrote."
    )

    @Argument(help: "The --out folder the parts wrote to.")
    var folder: String

    func run() throws {
        let merged: CorrespondPart.Merged
        do { merged = try CorrespondPart.merge(CorrespondLayout(root: URL(fileURLWithPath: folder))) } catch {
            throw CommandFailure(message: "taco correspond merge: \(error)")
        }
        print("merged \(merged.parts) part(s): \(merged.manifest.subjects.count) subjects in \(merged.manifest.shards.count) shard(s), "
              + "\(merged.failures.count) failed")
        for (key, reason) in merged.failures.sorted(by: { $0.key < $1.key }) { print("  \(key): \(reason)") }
        if !merged.failures.isEmpty { throw ExitCode(1) }
    }
}

/// `taco correspond worker`: maps the one subject given as JSON on standard input.
struct CorrespondWorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "worker", abstract: "Internal: map one subject.", shouldDisplay: false)

    @Option(name: .long, help: "ITK threads.")
    var threads: Int = 1

    func run() throws {
        let input = FileHandle.standardInput.readDataToEndOfFile()
        let job: SubjectJob
        do { job = try JSONDecoder().decode(SubjectJob.self, from: input) } catch {
            throw CommandFailure(message: "taco correspond worker: the job on standard input is not readable (\(error))")
        }
        ITKThreads.set(threads)
        let outcome = SubjectWorker.run(job, version: TacoVersion.current)
        print(CorrespondRun.outcomePrefix + String(decoding: try JSONEncoder().encode(outcome), as: UTF8.self))
    }
}

extension ProgressPrinter {
    /// A correspond event (subject keys are pseudonymous).
    func show(_ event: CorrespondRun.Event) {
        switch event {
        case let .started(index, key):
            started(["index": index, "subject": key])
        case let .finished(index, key, outcome, seconds):
            var fields: [String: Any] = ["index": index, "subject": key, "status": outcome.status.rawValue, "seconds": seconds,
                                         "flags": outcome.flags, "metrics": outcome.metrics, "peak_memory_bytes": outcome.peakMemoryBytes]
            if let reason = outcome.reason { fields["reason"] = reason }
            let line: String
            switch outcome.status {
            case .mapped:
                let flags = outcome.flags.isEmpty ? "" : "; QC: " + outcome.flags.joined(separator: "; ")
                line = String(format: "%@ mapped in %.1f s (mean confidence %.2f, Jacobian %.2f..%.2f)%@", key, seconds,
                              outcome.metrics["mean_confidence"] ?? 0, outcome.metrics["jacobian_min"] ?? 0,
                              outcome.metrics["jacobian_max"] ?? 0, flags)
            case .skipped:
                line = "\(key) up to date"
            case .failed:
                line = "\(key) FAILED: \(outcome.reason ?? "unknown reason")"
            }
            finished(line: line, failed: outcome.status == .failed, fields: fields)
        }
    }
}

extension CorrespondOptions.DeformableMetric: ExpressibleByArgument {}
extension AtlasMapping.DeformableMethod: ExpressibleByArgument {}
extension ShardFormat.ImageCompression: ExpressibleByArgument {}
