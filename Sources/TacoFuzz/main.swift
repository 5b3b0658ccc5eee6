import ArgumentParser
import Foundation
import TacoCore

/// `taco-fuzz`: a seeded mutation fuzzer over TacoKit's readers (docs/reliability.md). DICOM goes through
/// `taco prep` (its header scan and its workers' decoding); NIfTI, shards with the stream, the rules YAML
/// and atlas.json are read in child processes of the fuzzer, as a host process would read them, so that a
/// crash or a hang is pinned on its input. Every finding is kept in WORK/findings with the reason.
struct TacoFuzz: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "taco-fuzz",
        abstract: "Mutate real and synthetic inputs and check that no reader crashes, hangs or rejects a file without naming it.",
        subcommands: [Fuzz.self, Child.self],
        defaultSubcommand: Fuzz.self
    )
}

struct Fuzz: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Fuzz for a bounded time and report the counts.")

    @Option(name: .long, help: "Seconds in all, shared among the targets.")
    var seconds: Double = 120

    @Option(name: .long, help: "The mutations' seed (a run is reproducible from it).")
    var seed: UInt64 = 1

    @Option(name: .long, help: "Working folder (default: a temporary folder, removed unless something is found).")
    var work: String?

    @Option(name: .long, help: "Targets: dicom, nifti, shards, rules, atlas.")
    var targets: String = "dicom,nifti,shards,rules,atlas"

    @Option(name: .long, help: "Seconds an in-process input may take before it counts as a hang.")
    var perInput: Double = 20

    @Option(name: .long, help: "The taco binary (default: beside this one).")
    var taco: String?

    func run() throws {
        let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let tacoBinary = taco.map { URL(fileURLWithPath: $0) } ?? me.deletingLastPathComponent().appendingPathComponent("taco")
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let realData = repository.deletingLastPathComponent().appendingPathComponent("shared/realdata")
        let folder = work.map { URL(fileURLWithPath: $0) } ?? FileManager.default.temporaryDirectory.appendingPathComponent("taco-fuzz-\(UUID().uuidString.prefix(8))")
        let findings = folder.appendingPathComponent("findings")
        try FileManager.default.createDirectory(at: findings, withIntermediateDirectories: true)
        let chosen = targets.split(separator: ",").map(String.init)
        let weights = chosen.map { $0 == "dicom" ? 3.0 : 1.0 }
        var mutator = Mutator(seed: seed)
        var table: [Tally] = []
        var found = 0
        for (target, weight) in zip(chosen, weights) {
            let budget = seconds * weight / weights.reduce(0, +)
            var tally = Tally(target: target)
            let deadline = Date().addingTimeInterval(budget)
            if target == "dicom" {
                let rounds = PrepRounds(taco: tacoBinary, work: folder, realData: realData, bound: max(120, perInput * 6))
                let seeds = try rounds.makeSeeds()
                var n = 0
                while Date() < deadline {
                    n += 1
                    let r = try rounds.round(n, seeds: seeds, mutator: &mutator)
                    tally.tried += r.inputs
                    tally.scanCrashes += r.scanCrashes
                    tally.workerCrashes += r.workerCrashes
                    let problem = r.crash.map { "crash: " + $0 } ?? (r.hang ? "hang" : nil) ?? r.goodDataLost.map { "good data lost: " + $0 } ?? r.unexplained
                    if r.crash != nil { tally.crashes += 1 }
                    if r.hang { tally.hangs += 1 }
                    if r.goodDataLost != nil || r.unexplained != nil { tally.unnamed += 1 }
                    if let problem {
                        let kept = findings.appendingPathComponent("dicom-round-\(n)")
                        try? FileManager.default.moveItem(at: folder.appendingPathComponent("dicom-round-\(n)"), to: kept)
                        try? Data((problem + "\n").utf8).write(to: kept.appendingPathComponent("finding.txt"))
                        print("finding (dicom round \(n)): \(problem.prefix(300))")
                    } else if r.workerCrashes > 0 {
                        let kept = findings.appendingPathComponent("dicom-round-\(n)-worker-crash")
                        try? FileManager.default.moveItem(at: folder.appendingPathComponent("dicom-round-\(n)"), to: kept)
                    } else {
                        try? FileManager.default.removeItem(at: folder.appendingPathComponent("dicom-round-\(n)"))
                    }
                }
            } else {
                guard let kind = InProcessTarget(rawValue: target) else { throw ValidationError("unknown target \(target)") }
                let (seeds, alongside) = try kind.seeds(work: folder, repository: repository, realData: realData)
                let child = ChildRun(command: [me.path, "child", target], bound: perInput)
                var batch = 0
                while Date() < deadline {
                    batch += 1
                    var inputs: [URL] = []
                    for k in 0..<16 {
                        let (name, bytes, text) = seeds[mutator.rng.integer(0...(seeds.count - 1))]
                        let input = folder.appendingPathComponent("\(target)/\(batch)-\(k)")
                        try FileManager.default.createDirectory(at: input, withIntermediateDirectories: true)
                        for (other, source) in alongside {
                            try? FileManager.default.createSymbolicLink(at: input.appendingPathComponent(other), withDestinationURL: source)
                        }
                        let mutated = text ? mutator.mutateText(String(decoding: bytes, as: UTF8.self)) : mutator.mutate(bytes)
                        try mutated.write(to: input.appendingPathComponent(name))
                        inputs.append(input)
                    }
                    for (input, result) in zip(inputs, child.run(inputs)) {
                        tally.tried += 1
                        var problem: String?
                        switch result {
                        case .accepted: tally.accepted += 1
                        case .rejected(let reason):
                            tally.rejected += 1
                            if !reason.contains(kind.mutantName(in: input)) { tally.unnamed += 1; problem = "rejected without naming the file: \(reason)" }
                        case .crashed(let why): tally.crashes += 1; problem = "crash: \(why)"
                        case .hung: tally.hangs += 1; problem = "hang: more than \(perInput) s"
                        }
                        if let problem {
                            let kept = findings.appendingPathComponent("\(target)-\(input.lastPathComponent)")
                            try? FileManager.default.moveItem(at: input, to: kept)
                            try? Data((problem + "\n").utf8).write(to: kept.appendingPathComponent("finding.txt"))
                            print("finding (\(target) \(input.lastPathComponent)): \(problem.prefix(300))")
                        } else {
                            try? FileManager.default.removeItem(at: input)
                        }
                    }
                }
            }
            found += tally.crashes + tally.hangs + tally.unnamed
            table.append(tally)
            print(tally.line)
        }
        let summary = try JSONEncoder().encode(table)
        try summary.write(to: folder.appendingPathComponent("fuzz-summary.json"))
        print("taco-fuzz: seed \(seed), \(Int(seconds)) s: \(table.map(\.tried).reduce(0, +)) inputs, "
              + "\(table.map(\.crashes).reduce(0, +)) crashes, \(table.map(\.hangs).reduce(0, +)) hangs, "
              + "\(table.map(\.unnamed).reduce(0, +)) unexplained rejections or lost good data"
              + (found > 0 ? "; findings in \(findings.path)" : ""))
        if found > 0 { throw ExitCode(1) }
        if work == nil { try? FileManager.default.removeItem(at: folder) }
    }
}

/// One target's counts.
struct Tally: Codable {
    var target: String
    var tried = 0
    var accepted = 0
    var rejected = 0
    var crashes = 0
    var hangs = 0
    /// Rejections that do not name the file (in-process targets), or rounds that lost good data or left a
    /// series without a reason (dicom).
    var unnamed = 0
    /// dicom: files the header scan crashed on, and sessions whose worker crashed while decoding; both caught by
    /// prep's isolation (the batch went on).
    var scanCrashes = 0
    var workerCrashes = 0

    var line: String {
        "\(target.padding(toLength: 7, withPad: " ", startingAt: 0)) \(tried) inputs: \(accepted) read, \(rejected) rejected, \(crashes) crashes, \(hangs) hangs, "
            + "\(unnamed) unexplained" + (target == "dicom" ? "; isolated by prep: \(scanCrashes) header-scan crashes, \(workerCrashes) session-worker crashes" : "")
    }
}

/// `taco-fuzz child TARGET`: reads one input folder per line from standard input and reports each.
struct Child: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "child", abstract: "Internal: read inputs in this process.", shouldDisplay: false)

    @Argument var target: String

    func run() throws {
        guard let kind = InProcessTarget(rawValue: target) else { throw ValidationError("unknown target \(target)") }
        // Written unbuffered: the parent must see "start" before a crash.
        func emit(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
        var n = 0
        while let line = readLine() {
            emit("start \(n)")
            do {
                try kind.read(URL(fileURLWithPath: line))
                emit("done \(n) accepted")
            } catch {
                emit("done \(n) rejected \("\(error)".replacingOccurrences(of: "\n", with: " "))")
            }
            n += 1
        }
    }
}

TacoFuzz.main()
