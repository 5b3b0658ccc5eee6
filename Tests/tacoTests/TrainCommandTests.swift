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
        let ablation = try TacoProcess.run(["train", "/nonexistent", "--out", "/tmp/x", "--ablation", "reconstruction-only", "--intra-weight", "3"])
        #expect(ablation.status == 2 && ablation.err.contains("--ablation reconstruction-only"))
        let unknown = try TacoProcess.run(["train", "/nonexistent", "--out", "/tmp/x", "--ablation", "no-reconstruction"])
        #expect(unknown.status == 2 && unknown.err.contains("reconstruction-only"))
    }

    /// The ablation changes the topology weights and nothing else: configuration.json of two runs on the same
    /// shards differ only in loss.intra and loss.inter.
    @Test func theReconstructionOnlyAblationZeroesTheTopologyWeightsAndKeepsEverythingElse() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("taco-train-ablation-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        // --print-configuration resolves the configuration as a run would and prints it: no shards are read.
        var written: [[String: Any]] = []
        for extra in [[], ["--ablation", "reconstruction-only"]] {
            let run = folder.appendingPathComponent("run-\(written.count)")
            let result = try TacoProcess.run(["train", folder.appendingPathComponent("none").path, "--out", run.path, "--steps", "7", "--seed", "4", "--print-configuration"] + extra)
            #expect(result.status == 0, "\(result.err)")
            written.append(try JSONSerialization.jsonObject(with: Data(result.out.utf8)) as! [String: Any])
        }
        let loss = written.map { $0["loss"] as! [String: Any] }
        #expect(loss[0]["intra"] as? Double == 0.1 && loss[0]["inter"] as? Double == 0.1)
        #expect(loss[1]["intra"] as? Double == 0 && loss[1]["inter"] as? Double == 0 && loss[1]["reconstruction"] as? Double == 1)
        var rest = written
        for i in rest.indices { rest[i]["loss"] = nil }
        func canonical(_ object: [String: Any]) throws -> Data { try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) }
        #expect(try canonical(rest[0]) == canonical(rest[1]))
        #expect(try canonical(loss[0]) == canonical(loss[1].merging(["intra": 0.1, "inter": 0.1]) { $1 }))
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
        let evaluate = try TacoProcess.run(["evaluate", model.path, shards.path])
        #expect(evaluate.status == 1 && evaluate.err.contains("no-shards"))
        let alone = try TacoProcess.run(["evaluate", shards.path])
        #expect(alone.status == 2 && alone.err.contains("at least one run and the shards"))
        let truthOnly = try TacoProcess.run(["evaluate", model.path, shards.path, "--synth-truth", folder.path])
        #expect(truthOnly.status == 2 && truthOnly.err.contains("--key-file"))
    }
}
