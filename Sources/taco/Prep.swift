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
        subcommands: [PrepRunCommand.self, PrepMergeCommand.self, PrepWorkerCommand.self],
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
    var registration: String = "rigid"

    @Option(name: .long, help: "Finest registration resolution, mm (levels at 4x, 2x and 1x of it).")
    var registrationResolution: Double = 2

    @Option(name: .long, help: "Reference modality order, comma-separated (first present wins).")
    var referenceOrder: String = "T1w,T1w-CE,T2w,FLAIR,PDw,CT,PET"

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
        var options = try options()
        let printer = ProgressPrinter(style: batch.progress.resolved, unit: "sessions")
        do {
            try Self.checkWritable(output)
            let key = try PseudonymKey.openOrCreate(keyFile: URL(fileURLWithPath: keyFile), outputs: [output])
            let loaded = try ClassificationRules.load(rules.map { URL(fileURLWithPath: $0) })
            options.rulesDigest = loaded.digest
            var triage = SeriesTriage(rules: loaded)
            triage.keepDiffusion = keepDiffusion
            triage.missingSliceTolerance = missingSliceTolerance
            let fullPlan = try PrepPlanner(triage: triage, key: key, options: options, output: output).plan(inputURLs)
            let plan = fullPlan.shard(batch.shardIndex, of: batch.shardCount)
            printer.line(String(format: "scanned %d files in %.1f s (%.0f headers/s)", fullPlan.scannedFiles, fullPlan.scanSeconds,
                                Double(fullPlan.scannedFiles) / max(fullPlan.scanSeconds, 1e-9)))
            printer.line(plan.summary(shard: batch.shardCount > 1 ? "shard \(batch.shardIndex + 1) of \(batch.shardCount): " : ""))

            let prepBatch = PrepBatch(worker: BatchOptions.worker("prep", "worker"), jobs: batch.jobs, force: batch.force,
                                      threadsPerWorker: batch.threadsPerWorker)
            printer.begin(total: plan.jobs.count)
            let outcomes = prepBatch.run(plan) { printer.show($0) }
            printer.end()

            let part = PrepPart(plan: plan, outcomes: outcomes, index: batch.shardIndex, count: batch.shardCount,
                                version: TacoVersion.current, configuration: options.configuration)
            try part.write(in: output)
            if batch.shardCount == 1 {
                try PrepPart.merge(in: output, version: TacoVersion.current)
            }
            printer.line(Self.stepShares(outcomes))
            let failures = Self.failureLines(part: part, plan: plan, showPaths: showPaths)
            let prepared = outcomes.filter { $0.status == .prepared }.count, skipped = outcomes.filter { $0.status == .skipped }.count
            printer.line(String(format: "%d sessions prepared, %d up to date, %d failed in %.1f s; report: %@", prepared, skipped,
                                outcomes.filter { $0.status == .failed }.count, Date().timeIntervalSince(started),
                                output.appendingPathComponent("prep-report.json").path))
            if batch.shardCount > 1 {
                printer.line("part \(batch.shardIndex + 1) of \(batch.shardCount) written; run `taco prep merge \(output.path)` when every shard is done")
            }
            if !failures.isEmpty {
                printer.line("\(part.failures) unit(s) failed:")
                failures.forEach { printer.line("  " + $0) }
                throw ExitCode(1)
            }
        } catch let error as ExitCode {
            throw error
        } catch let error as ValidationError {
            throw error
        } catch {
            throw CommandFailure(message: "taco prep: \(error)")
        }
    }

    /// Fails with the folder and the reason when `output` cannot be created or written to.
    static func checkWritable(_ output: URL) throws {
        let fm = FileManager.default
        do {
            try fm.createDirectory(at: output, withIntermediateDirectories: true)
            let probe = output.appendingPathComponent(".taco-write-probe-\(UUID().uuidString.prefix(8))")
            try Data().write(to: probe)
            try fm.removeItem(at: probe)
        } catch {
            throw PrepFailure("\(output.path): the output folder cannot be written (\(error.localizedDescription))")
        }
    }

    /// One line per failed unit: series, sessions, unusable files.
    static func failureLines(part: PrepPart, plan: PrepPlan, showPaths: Bool) -> [String] {
        var lines: [String] = []
        for s in part.sessions where s.status == "failed" { lines.append("sub-\(s.subject) ses-\(s.session): \(s.reason ?? "failed")") }
        for e in part.report where e.fate == .failed && !part.sessions.contains(where: { $0.subject == e.subject && $0.session == e.session && $0.status == "failed" }) {
            lines.append("sub-\(e.subject) ses-\(e.session) \(e.modality ?? "series") \(e.seriesNumber.map { "series " + $0 } ?? ""): \(e.reason)")
        }
        for p in part.problems {
            let path = showPaths ? plan.problemPaths[p.file].map { " (\($0))" } ?? "" : ""
            lines.append("\(p.file)\(path): \(p.reason)")
        }
        if !part.problems.isEmpty && !showPaths {
            lines.append("(file ids are listed with their paths in the key folder's files.tsv, or rerun with --show-paths)")
        }
        return lines
    }

    /// The share of each step in the workers' time, and the largest worker peak memory.
    static func stepShares(_ outcomes: [SessionOutcome]) -> String {
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

/// How progress is shown.
enum ProgressStyle: String, ExpressibleByArgument, CaseIterable {
    case auto, bar, plain, json

    var resolved: ProgressStyle {
        guard self == .auto else { return self }
        return isatty(STDERR_FILENO) != 0 ? .bar : .plain
    }
}

extension SessionPreparation.ThickSlices: ExpressibleByArgument {}

extension PrepPlan {
    /// What the plan found, in one line.
    func summary(shard: String) -> String {
        let used = report.filter { $0.fate == .used }.count
        return "\(shard)\(report.count) series (\(used) to use) in \(sessionKeys.count) sessions; \(jobs.count) to prepare; "
            + "\(problems.count) unusable file(s), \(nonImageFiles) non-image DICOM and \(ignoredFiles) other file(s) set aside"
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
