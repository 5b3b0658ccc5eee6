import ArgumentParser
import Foundation
import Imaging
import TacoCore
import Prep

/// `taco prep`: raw hospital dumps (DICOM, NIfTI, BIDS) to voxel-aligned multi-modal sessions.
struct PrepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prep",
        abstract: "Prepare DICOM dumps, NIfTI files and BIDS datasets as voxel-aligned multi-modal sessions.",
        discussion: "See docs/prep.md. `taco prep INPUT... --out DIR` runs; `taco prep merge DIR` joins shards.",
        subcommands: [PrepRunCommand.self, PrepMergeCommand.self, PrepWorkerCommand.self, PrepScanWorkerCommand.self],
        defaultSubcommand: PrepRunCommand.self
    )
}

/// `taco prep run` (the default): plan, prepare every session in worker processes, write the dataset files.
struct PrepRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Prepare the sessions found in INPUT... into --out.",
        discussion: """
            Exit status: 0 when every unit went well, 1 when some failed (they are listed), 2 for a usage error. \
            Rejected series (localizers, screenshots, duplicates, ...) are not failures: prep-report.json gives each its reason.
            """
    )

    @Argument(help: "DICOM folders (any layout), NIfTI files or folders, BIDS datasets.")
    var inputs: [String]

    @Option(name: .long, help: "Output folder (BIDS-derivatives layout).")
    var out: String

    @Option(name: .long, help: "The pseudonym key (created if absent; the id table lives beside it). Never inside --out.")
    var keyFile: String = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".taco/prep-key").path

    @Option(name: .long, help: "Classification rules (YAML); `extends: shipped` in it adds to the shipped rules.")
    var rules: String?

    @Option(name: .long, help: "Target voxel spacing, mm.")
    var spacing: Double = 1

    @Option(name: .long, help: "rigid or affine co-registration to the reference.")
    var registration: PrepOptions.Registration = .rigid

    @Option(name: .long, help: "Finest registration resolution, mm (levels at 4x, 2x and 1x of it).")
    var registrationResolution: Double = 2

    @Option(name: .long, help: "Reference modality order, comma-separated (first present wins).")
    var referenceOrder: String = Modality.referenceOrder.map(\.rawValue).joined(separator: ",")

    @Flag(name: .long, help: "N4 bias-field correction of MR volumes.")
    var n4 = false

    @Option(name: .long, help: "CT window LOW,HIGH in HU: clip, then scale to [0, 1].")
    var ctWindow: String = "-1000,1000"

    @Option(name: .long, help: "Thick-slice reference: interpolate (to --spacing) or keep (its slice spacing).")
    var thickSlices: SessionPreparation.ThickSlices = .interpolate

    @Option(name: .long, help: "Margin around the mask's box when cropping, mm.")
    var margin: Double = 5

    @Option(name: .long, help: "Missing slices a series may have and still be used.")
    var missingSliceTolerance: Int = 0

    @Flag(name: .long, help: "Prepare DWI and ADC series too (rejected by default).")
    var keepDiffusion = false

    @OptionGroup var batch: BatchOptions

    @Flag(name: .long, help: "Name unusable input files by path on the console (paths may name patients; never written to --out).")
    var showPaths = false

    func validate() throws {
        try batch.validate()
        do { try options().validate() } catch { throw ValidationError("\(error)") }
    }

    func options() throws -> PrepOptions {
        var o = PrepOptions()
        o.targetSpacing = spacing
        o.registration = registration
        o.registrationResolution = registrationResolution
        o.referenceOrder = referenceOrder.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        o.biasCorrection = n4
        let window = ctWindow.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard window.count == 2 else { throw ValidationError("--ct-window needs LOW,HIGH (got '\(ctWindow)')") }
        o.ctWindow = window
        o.thickSlices = thickSlices
        o.margin = margin
        o.missingSliceTolerance = missingSliceTolerance
        o.keepDiffusion = keepDiffusion
        return o
    }

    func run() throws {
        let output = URL(fileURLWithPath: out).standardizedFileURL
        let inputURLs = inputs.map { URL(fileURLWithPath: $0).standardizedFileURL }
        for input in inputURLs where output.path == input.path || output.path.hasPrefix(input.path + "/") {
            throw ValidationError("--out \(output.path) lies inside the input \(input.path)")
        }
        let started = Date()
        Termination.shared.install()
        let printer = ProgressPrinter(style: batch.progress.resolved, unit: "sessions")
        var run = PrepRun(inputs: inputURLs, output: output, keyFile: URL(fileURLWithPath: keyFile), rulesFile: rules.map { URL(fileURLWithPath: $0) },
                          options: try options(), batch: batch.settings(worker: "prep", "worker"), version: TacoVersion.current)
        run.scanner = .isolated(IsolatedHeaderScan(worker: BatchOptions.executable(arguments: "prep", "scan-worker")))
        let summary: PrepRun.Summary
        do {
            summary = try run.run(planned: { full, plan in
                printer.line(String(format: "scanned %d files in %.1f s (%.0f headers/s)", full.scannedFiles, full.scanSeconds,
                                    Double(full.scannedFiles) / max(full.scanSeconds, 1e-9)))
                printer.line(plan.summary(shard: batch.shardCount > 1 ? "shard \(batch.shardIndex + 1) of \(batch.shardCount): " : ""))
                printer.begin(total: plan.jobs.count)
            }, events: { printer.show($0) })
        } catch let interrupted as BatchInterrupted {
            printer.end()
            throw interrupted.exitCode("taco prep")
        } catch {
            printer.end()
            throw CommandFailure(message: "taco prep: \(error)")
        }
        printer.end()
        let outcomes = summary.outcomes
        printer.line(PrepRun.stepShares(outcomes))
        let prepared = outcomes.filter { $0.status == .prepared }.count, skipped = outcomes.filter { $0.status == .skipped }.count
        printer.line(String(format: "%d sessions prepared, %d up to date, %d failed in %.1f s; report: %@", prepared, skipped,
                            outcomes.filter { $0.status == .failed }.count, Date().timeIntervalSince(started), PreparedLayout(root: output).report.path))
        if !summary.merged {
            printer.line("part \(batch.shardIndex + 1) of \(batch.shardCount) written; run `taco prep merge \(output.path)` when every shard is done")
        }
        let failures = PrepRun.failureLines(part: summary.part, paths: showPaths ? summary.plan.problemPaths : nil)
        if !failures.isEmpty {
            printer.line("\(summary.part.failures) unit(s) failed:")
            failures.forEach { printer.line("  " + $0) }
            throw ExitCode(1)
        }
    }
}

/// `taco prep merge DIR`: the dataset-level files from the parts that shards wrote.
struct PrepMergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Write prep-report.json, datalist.json, participants.tsv and dataset_description.json from the shards' parts."
    )

    @Argument(help: "The --out folder the shards wrote to.")
    var folder: String

    func run() throws {
        let parts: [PrepPart]
        do { parts = try PrepPart.merge(in: URL(fileURLWithPath: folder), version: TacoVersion.current) } catch {
            throw CommandFailure(message: "taco prep merge: \(error)")
        }
        let failures = parts.map(\.failures).reduce(0, +)
        print("merged \(parts.count) part(s): \(parts.flatMap(\.modalities).count) sessions, \(failures) failed unit(s)")
        if failures > 0 { throw ExitCode(1) }
    }
}

/// `taco prep worker`: prepares the one session given as JSON on standard input (used by `taco prep`).
struct PrepWorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "worker", abstract: "Internal: prepare one session.",
                                                    shouldDisplay: false)

    @Option(name: .long, help: "ITK threads.")
    var threads: Int = 1

    func run() throws {
        let input = FileHandle.standardInput.readDataToEndOfFile()
        let job: SessionJob
        do { job = try JSONDecoder().decode(SessionJob.self, from: input) } catch {
            throw CommandFailure(message: "taco prep worker: the job on standard input is not readable (\(error))")
        }
        ITKThreads.set(threads)
        let outcome = SessionWorker.run(job)
        let text = String(decoding: try JSONEncoder().encode(outcome), as: UTF8.self)
        print(PrepBatch.outcomePrefix + text)
    }
}

/// `taco prep scan-worker`: scans the DICOM headers of the files given as JSON on standard input (used by
/// `taco prep` and `taco inspect`, so that a file that crashes the reader costs that file only).
struct PrepScanWorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "scan-worker", abstract: "Internal: scan DICOM headers.",
                                                    shouldDisplay: false)

    func run() throws {
        let reply: Data
        do { reply = try IsolatedHeaderScan.serve(FileHandle.standardInput.readDataToEndOfFile()) } catch {
            throw CommandFailure(message: "taco prep scan-worker: \(error)")
        }
        print(IsolatedHeaderScan.outcomePrefix + String(decoding: reply, as: UTF8.self))
    }
}

/// How progress is shown.
enum ProgressStyle: String, ExpressibleByArgument, CaseIterable {
    case auto, bar, plain, json

    var resolved: ProgressStyle {
        guard self == .auto else { return self }
        return isatty(STDERR_FILENO) != 0 ? .bar : .plain
    }
}

extension SessionPreparation.ThickSlices: ExpressibleByArgument {}
extension PrepOptions.Registration: ExpressibleByArgument {}

extension PrepPlan {
    /// What the plan found, in one line.
    func summary(shard: String) -> String {
        let used = report.filter { $0.fate == .used }.count
        return "\(shard)\(report.count) series (\(used) to use) in \(sessionKeys.count) sessions; \(jobs.count) to prepare; "
            + "\(problems.count) unusable file(s), \(nonImageFiles) non-image DICOM, \(notDicomFiles.count) not DICOM and \(ignoredFiles) other file(s) set aside"
    }
}

extension ProgressPrinter {
    /// A prep batch event, with pseudonymous labels only.
    func show(_ event: PrepBatch.Event) {
        switch event {
        case let .started(index, job):
            started(["index": index, "subject": job.subject, "session": job.session])
        case let .finished(index, job, outcome, seconds):
            var fields: [String: Any] = ["index": index, "subject": job.subject, "session": job.session, "status": outcome.status.rawValue,
                                         "seconds": seconds, "modalities": outcome.modalities, "qc_flags": outcome.qcFlags,
                                         "peak_memory_bytes": outcome.peakMemoryBytes]
            if let reason = outcome.reason { fields["reason"] = reason }
            let line: String
            switch outcome.status {
            case .prepared:
                let flags = outcome.qcFlags.isEmpty ? "" : "; QC: " + outcome.qcFlags.joined(separator: "; ")
                line = String(format: "%@ prepared in %.1f s (%@)%@", job.name, seconds, outcome.modalities.joined(separator: " "), flags)
            case .skipped:
                line = "\(job.name) up to date (\(outcome.modalities.joined(separator: " ")))"
            case .failed:
                line = "\(job.name) FAILED: \(outcome.reason ?? "unknown reason")"
            }
            finished(line: line, failed: outcome.status == .failed, fields: fields)
        }
    }
}
