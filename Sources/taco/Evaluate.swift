import ArgumentParser
import Foundation
import Prep
import Synth
import TacoCore
import Train

/// `taco evaluate`: the runs given and the same architecture at random initialisation on downstream tasks.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Score pre-trained encoders (and their random initialisation) on downstream tasks, with and without each modality.",
        discussion: """
            Tasks on frozen features, cross-validated over subjects (--folds): tissue segmentation of the atlas labels by a \
            linear probe and by a light trained head (accuracy, mean Dice); with --labels, classification of subjects from \
            pooled features (accuracy, AUC). Each task is scored with both modalities and with each one missing at test \
            time. Writes evaluation.json (every figure with its spread over folds) and evaluation.png into --out \
            (default: beside the first run). Give a TACO run and a `taco train --ablation reconstruction-only` run of the \
            same budget to compare them.
            """
    )

    @Argument(help: "Run folders of `taco train` or pretrain.py (or their model.safetensors), then the shards folder.")
    var paths: [String]

    @Option(name: .long, help: "Folder for evaluation.json and evaluation.png (default: the first run's parent folder).")
    var out: String?

    @Option(name: .long, help: "Folds of held-out subjects (at most one per subject).")
    var folds: Int = 3

    @Option(name: .long, help: "The two modalities each subject is embedded in, e.g. T1w,FLAIR (default T1w and FLAIR when every subject has them).")
    var modalities: String?

    @Option(name: .long, help: "A CSV with a column 'subject' (shard subject keys) and a 0/1 label column, for the classification task.")
    var labels: String?

    @Option(name: .long, help: "The label column of --labels.")
    var labelColumn: String = "label"

    @Flag(name: .long, help: "The shards come from `taco synth`: the report says so and what that limits.")
    var synthetic = false

    @Option(name: .long, help: "The truth folder of the `taco synth` cohort the shards come from: classify subjects by lesion presence and find lesion tokens (implies --synthetic; needs --key-file).")
    var synthTruth: String?

    @Option(name: .long, help: "With --synth-truth: the pseudonym key `taco prep` used, to find each truth subject's pseudonym.")
    var keyFile: String?

    @Flag(name: .long, help: "Leave out the random initialisation (when it has been scored on the same shards and folds already).")
    var noRandomInit = false

    func validate() throws {
        guard paths.count >= 2 else { throw ValidationError("give at least one run and the shards folder") }
        guard (synthTruth == nil) == (keyFile == nil) else { throw ValidationError("--synth-truth and --key-file go together") }
        guard synthTruth == nil || labels == nil else { throw ValidationError("--synth-truth and --labels both give subject labels: choose one") }
    }

    func run() throws {
        BLASThreads.set(1)      // the model's layers use every core themselves
        let shards = URL(fileURLWithPath: paths.last!)
        let runs = paths.dropLast().map { URL(fileURLWithPath: $0) }
        do {
            var classLabels = try labels.map { try SubjectLabels.read(URL(fileURLWithPath: $0), column: labelColumn) } ?? [:]
            var lesions: [String: EvaluationRun.LesionSphere] = [:]
            if let synthTruth, let keyFile {
                // Lesion present or not, by the pseudonym taco prep gave each truth subject's patient id.
                let key = try PseudonymKey.existing(keyFile: URL(fileURLWithPath: keyFile))
                for subject in try CohortTruth.lesions(in: URL(fileURLWithPath: synthTruth)) {
                    let pseudonym = "sub-" + key.subjectLabel(forPatientID: subject.patientID)
                    classLabels[pseudonym] = subject.center == nil ? 0 : 1
                    if let c = subject.center, c.count == 3, let radius = subject.radiusMM {
                        lesions[pseudonym] = .init(centre: SIMD3(c[0], c[1], c[2]), radius: radius)
                    }
                }
            }
            let evaluation = try EvaluationRun(shards: shards, modalities: modalities.map { $0.split(separator: ",").map(String.init) },
                                               folds: folds, classLabels: classLabels, lesions: lesions,
                                               ignoringUnknownLabels: synthTruth != nil)
            print("taco evaluate: \(evaluation.keys.count) subjects in \(evaluation.folds.count) folds; modalities \(evaluation.modalities.joined(separator: " and "))"
                  + (evaluation.excluded.isEmpty ? "" : "; \(evaluation.excluded.count) left out for lacking one")
                  + (classLabels.isEmpty ? "" : "; \(classLabels.count) labelled for classification"))
            let encoders = try EvaluatedEncoder.encoders(runs, randomInit: !noRandomInit)
            var results: [EvaluationRun.Result] = []
            for encoder in encoders {
                let result = try evaluation.evaluate(encoder.trained, name: encoder.name, ablation: encoder.ablation)
                results.append(result)
                print(Self.describe(result, inputs: evaluation.inputs))
            }
            let folder = out.map { URL(fileURLWithPath: $0) } ?? runs[0].standardizedFileURL.deletingLastPathComponent()
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let report = EvaluationReport(run: evaluation, shards: shards, synthetic: synthetic || synthTruth != nil, results: results)
            let json = folder.appendingPathComponent("evaluation.json")
            try AtomicFile.write(to: json) { try report.json().write(to: $0) }
            try report.picture().write(to: folder.appendingPathComponent("evaluation.png"))
            print("taco evaluate: wrote \(json.path) and evaluation.png; \(report.data.note)")
        } catch let error as ExitCode {
            throw error
        } catch {
            throw CommandFailure(message: "taco evaluate: \(error)")
        }
    }

    /// One encoder's figures as lines: each task and metric with both modalities and the drop without each.
    static func describe(_ result: EvaluationRun.Result, inputs: [String]) -> String {
        var lines = ["\(result.model):"]
        var seen: [(String, String)] = []
        for f in result.figures where !seen.contains(where: { $0 == (f.task, f.metric) }) { seen.append((f.task, f.metric)) }
        for (task, metric) in seen {
            guard let both = result.figure(task, metric, inputs[0]) else { continue }
            var line = "  " + "\(task), \(metric)".padding(toLength: 40, withPad: " ", startingAt: 0)
                + String(format: " %.3f ± %.3f", both.spread.mean, both.spread.deviation)
            for input in inputs.dropFirst() {
                if let missing = result.figure(task, metric, input) { line += String(format: "; %@: %+.3f", input, missing.spread.mean - both.spread.mean) }
            }
            lines.append(line)
        }
        let cost = result.seconds.sorted { $0.key < $1.key }.map { String(format: "%@ %.1f s", $0.key, $0.value) }.joined(separator: ", ")
        lines.append("  cost: " + cost)
        return lines.joined(separator: "\n")
    }
}
