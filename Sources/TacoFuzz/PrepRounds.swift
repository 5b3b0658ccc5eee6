import Foundation
import Imaging
import TacoCore

/// DICOM through `taco prep` as a user runs it: each round copies one synthetic session, mutates some files
/// of its FLAIR series and adds mutated copies of real scanners' files, then prepares the folder. Pass: prep
/// ends by itself (not by a signal, not past the time bound), its report is readable, the session's untouched
/// T1w and T2w are prepared, and every series set aside or failed carries a reason.
struct PrepRounds {
    let taco: URL
    let work: URL
    let realData: URL
    /// Seconds a round may take.
    let bound: Double

    struct Seeds {
        let dump: URL
        let flair: [URL]
        let real: [URL]
    }

    func makeSeeds() throws -> Seeds {
        let dump = work.appendingPathComponent("dicom-seed")
        let synth = try run(["synth", "--out", dump.path, "--subjects", "1", "--seed", "7", "--size", "small", "--formats", "dicom"], timeout: 300)
        guard synth.status == 0 else { throw FuzzSetupError("taco synth failed: \(synth.output)") }
        let files = try FileTree.regularFiles(under: dump.appendingPathComponent("dicom"))
        let headers = try DICOMHeaderScan.scan(files, tags: [.seriesDescription])
        let flair = headers.filter { ($0[.seriesDescription] ?? "").lowercased().contains("flair") }.map(\.url)
        guard !flair.isEmpty else { throw FuzzSetupError("the synthetic session has no FLAIR series") }
        var real: [URL] = []
        for name in ["transfer_syntaxes", "bits12", "ge_ax_oblique_mprage", "siemens_xa30_enhanced_t1", "siemens_decubitus_hfs"] {
            let folder = realData.appendingPathComponent("dicom/\(name)/dicom")
            guard let found = try? FileTree.regularFiles(under: folder) else { continue }
            real += found.filter { !$0.lastPathComponent.hasPrefix("README") }.sorted { $0.path < $1.path }.prefix(3)
        }
        return Seeds(dump: dump.appendingPathComponent("dicom"), flair: flair, real: real)
    }

    struct Round {
        var inputs = 0
        var crash: String?
        var hang = false
        var goodDataLost: String?
        var unexplained: String?
        /// Files the header scan crashed on, and series whose session worker crashed (isolated: the batch went on).
        var scanCrashes = 0
        var workerCrashes = 0
    }

    func round(_ n: Int, seeds: Seeds, mutator: inout Mutator) throws -> Round {
        let fm = FileManager.default
        let folder = work.appendingPathComponent("dicom-round-\(n)")
        try? fm.removeItem(at: folder)
        let dump = folder.appendingPathComponent("dump")
        try fm.createDirectory(at: folder, withIntermediateDirectories: true)
        try fm.copyItem(at: seeds.dump, to: dump)
        let relative = seeds.flair.map { String($0.path.dropFirst(seeds.dump.path.count + 1)) }
        var result = Round()
        for path in relative.shuffled(using: &mutator.rng).prefix(3) {
            let url = dump.appendingPathComponent(path)
            try mutator.mutate(try Data(contentsOf: url)).write(to: url)
            result.inputs += 1
        }
        let extra = dump.appendingPathComponent("extra")
        try fm.createDirectory(at: extra, withIntermediateDirectories: true)
        for k in 0..<3 where !seeds.real.isEmpty {
            let seed = seeds.real[mutator.rng.integer(0...(seeds.real.count - 1))]
            try mutator.mutate(try Data(contentsOf: seed)).write(to: extra.appendingPathComponent("real-\(k).dcm"))
            result.inputs += 1
        }
        let out = folder.appendingPathComponent("out")
        let prep = try run(["prep", dump.path, "--out", out.path, "--key-file", folder.appendingPathComponent("key").path,
                            "--spacing", "3", "--progress", "plain", "--jobs", "2"], timeout: bound)
        defer { try? fm.removeItem(at: dump) }
        if prep.timedOut { result.hang = true; return result }
        if let signal = prep.signal { result.crash = "taco prep was killed by signal \(signal)"; return result }
        guard prep.status == 0 || prep.status == 1,
              let data = fm.contents(atPath: out.appendingPathComponent("prep-report.json").path),
              let report = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            result.crash = "taco prep exited \(prep.status) without a readable report: \(prep.output.suffix(400))"
            return result
        }
        let series = report["series"] as? [[String: Any]] ?? []
        let problems = report["unusable_files"] as? [[String: Any]] ?? []
        for entry in series + problems {
            let reason = entry["reason"] as? String ?? ""
            if reason.isEmpty { result.unexplained = "a series or file without a reason: \(entry)" }
        }
        result.scanCrashes = problems.filter { ($0["reason"] as? String ?? "").contains("crashed") }.count
        let crashedSessions = (report["sessions"] as? [[String: Any]] ?? []).filter { ($0["reason"] as? String ?? "").contains("killed by signal") }
        result.workerCrashes = crashedSessions.count
        if !crashedSessions.isEmpty {
            // Keep the round: a mutant that passes the scan and crashes a decoder is worth a regression test.
            try? fm.copyItem(at: dump, to: folder.appendingPathComponent("crashed-dump"))
        }
        // The synthetic session is the one whose T1w is untouched: its T1w and T2w must be prepared.
        let prepared = try FileTree.regularFiles(under: out).map(\.lastPathComponent)
        for modality in ["T1w", "T2w"] where !prepared.contains(where: { $0.hasSuffix("_desc-preproc_\(modality).nii.gz") }) {
            result.goodDataLost = "the untouched \(modality) was not prepared: \(prep.output.suffix(600))"
        }
        return result
    }

    struct Ended {
        var status: Int32
        var signal: Int32?
        var timedOut: Bool
        var output: String
    }

    /// Runs taco with `arguments`, killing it after `timeout` seconds.
    func run(_ arguments: [String], timeout: Double) throws -> Ended {
        let process = Process()
        process.executableURL = taco
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let lines = LineCollector()
        let reader = Thread { lines.collect(from: output.fileHandleForReading) }
        reader.start()
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while process.isRunning {
            usleep(50_000)
            if Date() > deadline { timedOut = true; kill(process.processIdentifier, SIGKILL); break }
        }
        process.waitUntilExit()
        lines.waitForEnd()
        let signal = process.terminationReason == .uncaughtSignal && !timedOut ? process.terminationStatus : nil
        return Ended(status: process.terminationStatus, signal: signal, timedOut: timedOut, output: lines.all.joined(separator: "\n"))
    }
}

struct FuzzSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
