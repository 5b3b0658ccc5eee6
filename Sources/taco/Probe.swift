import ArgumentParser
import Foundation
import TacoCore
import Train

/// `taco probe`: a linear classifier of atlas tissue labels on frozen features, trained encoder against its random initialisation.
struct ProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Fit a linear classifier of the atlas tissue labels on frozen token features and score it on held-out subjects.",
        discussion: """
            Prints accuracy and Dice (CSF, GM, WM) for the trained encoder beside the same architecture at its random \
            initialisation (the run's starting point), and writes them as JSON with --json.
            """
    )

    @Argument(help: "A run folder of `taco train`, its model.safetensors or a checkpoint.")
    var model: String

    @Argument(help: "A shards folder (with dataset.json) or the manifest: the subjects and their atlas labels.")
    var shards: String

    @Option(name: .long, help: "Subjects held out for scoring (the last by key; default a third).")
    var heldOut: Int?

    @Option(name: .long, help: "The modality the encoder sees (default T1w when every subject has it).")
    var modality: Modality?

    @Option(name: .long, help: "Also write the results to this JSON file.")
    var json: String?

    func run() throws {
        BLASThreads.set(1)      // the model's layers use every core themselves
        do {
            let trained = try TrainedModel(contentsOf: URL(fileURLWithPath: model))
            let probe = try ProbeRun(shards: URL(fileURLWithPath: shards), heldOut: heldOut, modality: modality?.rawValue)
            print("taco probe: fitted on \(probe.trainingKeys.count) subject(s), scored on \(probe.heldOutKeys.count) held out; modality \(probe.modality.isEmpty ? "first of each" : probe.modality)")
            let results = [try probe.evaluate(trained, name: "pre-trained (step \(trained.step))"),
                           try probe.evaluate(try TrainedModel.initial(trained.configuration), name: "random init")]
            print("encoder".padding(toLength: 26, withPad: " ", startingAt: 0) + "  accuracy" + " CSF    " + " GM     " + " WM     " + " mean Dice")
            for r in results {
                let dice = r.scores.dice.map { $0.map { String(format: "%.3f", $0) } ?? "-" }
                print(r.model.padding(toLength: 26, withPad: " ", startingAt: 0)
                    + String(format: " %9.3f", r.scores.accuracy) + dice.map { " " + $0.padding(toLength: 7, withPad: " ", startingAt: 0) }.joined()
                    + String(format: " %9.3f", r.scores.meanDice))
            }
            print(String(format: "taco probe: pre-trained minus random: accuracy %+.3f, mean Dice %+.3f (%d held-out tokens)",
                         results[0].scores.accuracy - results[1].scores.accuracy, results[0].scores.meanDice - results[1].scores.meanDice, results[0].heldOutTokens))
            if let json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
                let data = try encoder.encode(ProbeReport(classes: ProbeRun.classNames, results: results))
                try data.write(to: URL(fileURLWithPath: json), options: .atomic)
            }
        } catch let error as ExitCode {
            throw error
        } catch {
            throw CommandFailure(message: "taco probe: \(error)")
        }
    }
}

/// What --json writes: the class names and each encoder's scores.
struct ProbeReport: Encodable {
    let classes: [String]
    let results: [ProbeRun.Result]
}
