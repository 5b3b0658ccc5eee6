import ArgumentParser
import Foundation
import Imaging
import TacoCore
import Train

/// `taco embed`: token features of prepared sessions from a trained encoder.
struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Write the token features of prepared sessions (a `taco prep` folder) from a trained encoder.",
        discussion: """
            One file per session: OUT/<subject>_<session>_<modality>_tokens.safetensors with tensor `tokens` (z, y, x, channels) \
            and metadata `token_to_ras` (token index to RAS mm of its centre) and `token_stride`. Exit status: 0 every session \
            written, 1 some failed (named, the others written), 2 a usage error.
            """
    )

    @Argument(help: "A run folder of `taco train`, its model.safetensors or a checkpoint.")
    var model: String

    @Argument(help: "A `taco prep` output folder.")
    var prepared: String

    @Option(name: .long, help: "Output folder.")
    var out: String

    @Option(name: .long, help: "The modality the encoder sees.")
    var modality: Modality = .t1w

    func run() throws {
        BLASThreads.set(1)      // the model's layers use every core themselves
        let trained: TrainedModel
        do { trained = try TrainedModel(contentsOf: URL(fileURLWithPath: model)) } catch { throw CommandFailure(message: "taco embed: \(error)") }
        let run = EmbedRun(trained: trained, prepared: PreparedLayout(root: URL(fileURLWithPath: prepared)), output: URL(fileURLWithPath: out),
                           modality: modality.rawValue)
        let summary: EmbedRun.Summary
        do {
            summary = try run.run { event in
                switch event {
                case let .written(key, grid, channels, file):
                    print("\(key): \(grid.x)x\(grid.y)x\(grid.z) tokens of \(channels) channels -> \(file.lastPathComponent)")
                case let .failed(_, reason):
                    FileHandle.standardError.write(Data("taco embed: \(reason)\n".utf8))
                }
            }
        } catch {
            throw CommandFailure(message: "taco embed: \(error)")
        }
        print("taco embed: \(summary.sessions - summary.failures.count) of \(summary.sessions) sessions written to \(run.output.path)")
        if !summary.failures.isEmpty { throw ExitCode(1) }
    }
}
