import ArgumentParser
import Correspond
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
    var modality: String = "T1w"

    func run() throws {
        BLASThreads.set(1)      // the model's layers use every core themselves
        let trained: TrainedModel
        do { trained = try TrainedModel(contentsOf: URL(fileURLWithPath: model)) } catch { throw CommandFailure(message: "taco embed: \(error)") }
        let outFolder = URL(fileURLWithPath: out)
        do { try FileManager.default.createDirectory(at: outFolder, withIntermediateDirectories: true) } catch {
            throw CommandFailure(message: "taco embed: \(out): cannot create the output folder (\(error.localizedDescription))")
        }
        let root = URL(fileURLWithPath: prepared)
        let subjects = ((try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []).filter { $0.hasPrefix("sub-") }.sorted()
        let sessions = subjects.flatMap { s in
            ((try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent(s).path)) ?? []).filter { $0.hasPrefix("ses-") }.sorted()
                .map { root.appendingPathComponent(s).appendingPathComponent($0) }
        }
        guard !sessions.isEmpty else { throw CommandFailure(message: "taco embed: \(prepared): no prepared sessions (sub-*/ses-*)") }
        let embedder = TokenEmbedder(trained)
        var failures = 0
        for folder in sessions {
            do {
                let session = try PreparedSession(folder: folder)
                guard let volume = session.volumes[modality] else {
                    throw CommandFailure(message: "\(folder.path): no \(modality) (it has \(session.modalities.joined(separator: ", ")))")
                }
                let features = try embedder.embed(volume.voxels, size: volume.geometry.size)
                let file = outFolder.appendingPathComponent("\(session.key)_\(modality)_tokens.safetensors")
                try features.safeTensors(voxelToRAS: volume.geometry.indexToRAS, metadata: ["modality": modality, "model_step": String(trained.step)]).write(to: file)
                print("\(session.key): \(features.grid.x)x\(features.grid.y)x\(features.grid.z) tokens of \(features.values.columns) channels -> \(file.lastPathComponent)")
            } catch {
                failures += 1
                FileHandle.standardError.write(Data("taco embed: \(error)\n".utf8))
            }
        }
        print("taco embed: \(sessions.count - failures) of \(sessions.count) sessions written to \(outFolder.path)")
        if failures > 0 { throw ExitCode(1) }
    }
}
