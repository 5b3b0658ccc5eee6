import Foundation
import Testing

/// `taco train`, `taco embed` and `taco probe` from the built binary: usage errors exit 2, missing or bad
/// input exits 1 with a message naming the file.
@Suite struct TrainCommandTests {
    @Test func usageErrorsExitWithTwo() throws {
        let crop = try TacoProcess.run(["train", "/nonexistent", "--out", "/tmp/x", "--crop", "90"])
        #expect(crop.status == 2 && crop.err.contains("multiple of 8"))
        let channels = try TacoProcess.run(["train", "/nonexistent", "--out", "/tmp/x", "--channels", "8,a"])
        #expect(channels.status == 2 && channels.err.contains("--channels"))
    }

    @Test func missingInputsAreNamed() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("taco-train-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let shards = folder.appendingPathComponent("no-shards")
        let train = try TacoProcess.run(["train", shards.path, "--out", folder.appendingPathComponent("run").path])
        #expect(train.status == 1 && train.err.contains("no-shards"))
        let config = folder.appendingPathComponent("train.yaml")
        try "learning_rat: 0.1\n".write(to: config, atomically: true, encoding: .utf8)
        let typo = try TacoProcess.run(["train", shards.path, "--out", folder.path, "--config", config.path])
        #expect(typo.status == 2 && typo.err.contains("train.yaml") && typo.err.contains("'learning_rat'"))
        let model = folder.appendingPathComponent("model.safetensors")
        try Data("not a safetensors file".utf8).write(to: model)
        let probe = try TacoProcess.run(["probe", model.path, shards.path])
        #expect(probe.status == 1 && probe.err.contains("model.safetensors"))
        let embed = try TacoProcess.run(["embed", model.path, folder.path, "--out", folder.appendingPathComponent("features").path])
        #expect(embed.status == 1 && embed.err.contains("model.safetensors"))
    }
}
