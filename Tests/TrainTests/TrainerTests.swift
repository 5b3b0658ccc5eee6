import Foundation
import TacoCore
import Testing
@testable import Train

/// The training loop: a tiny model overfits one fixed batch, a resumed run equals an uninterrupted one,
/// non-finite steps are skipped and stop the run at the limit, checkpoints round-trip.
@Suite struct TrainerTests {
    /// A small configuration for 16^3 crops of SyntheticShards (2 mm voxels, tokens every 4 voxels).
    static func tiny(steps: Int) -> TrainingConfiguration {
        var c = TrainingConfiguration()
        c.steps = steps
        c.crop = [16, 16, 16]
        c.batchSize = 2
        c.warmupSteps = 2
        c.checkpointEvery = 3
        c.pictureEvery = 2
        c.threads = 2
        c.model = ModelConfiguration(channels: [4, 8, 8], groups: 4, tokenStage: 2)
        return c
    }

    /// A crop pair of smooth blobs (learnable, unlike noise): the second view a monotone remap of the first.
    static func smoothPair(seed: UInt64, roi: Int) -> CropPair {
        var rng = SeededGenerator(seed: seed)
        let centres = (0..<4).map { _ in SIMD3(rng.uniform(0...Double(roi)), rng.uniform(0...Double(roi)), rng.uniform(0...Double(roi))) }
        var first = [Float](), second = [Float]()
        for z in 0..<roi { for y in 0..<roi { for x in 0..<roi {
            let p = SIMD3(Double(x), Double(y), Double(z))
            let v = centres.enumerated().reduce(0.0) { $0 + (($1.offset % 2 == 0) ? 1 : -1) * exp(-length(p - $1.element) / 5) }
            first.append(Float(v))
            second.append(Float(0.5 * v * v - v))
        } } }
        let grid = SIMD3(repeating: roi / 4), tokens = grid.x * grid.y * grid.z
        return CropPair(key: "s\(seed)", shard: "none", modalities: ["T1w", "T2w"], modalityIndices: [0, 1], roi: SIMD3(repeating: roi),
                        first: first, second: second, tokenGrid: grid, tokenStride: 4, tokenAtlasCoordinates: [Float](repeating: 0, count: 3 * tokens),
                        tokenConfidence: [Float](repeating: 1, count: tokens), tokenLabels: [UInt8](repeating: 1, count: tokens),
                        tokenPoints: [Float](repeating: 0, count: 3 * tokens), flags: [], spacing: 1, centre: .zero, origin: .zero,
                        orientation: CropOrientation.identity, intensity: [[1, 0], [1, 0]])
    }

    @Test func aTinyModelOverfitsOneFixedBatch() throws {
        let model = try EncoderDecoder(ModelConfiguration(channels: [8, 16, 16], groups: 4, tokenStage: 2))
        let samples = (0..<2).map { Self.smoothPair(seed: UInt64($0 + 1), roi: 16) }
        // Token t of subject 0 matched to token t of subject 1 (both directions of the pair).
        let matches = (0..<64).map { TokenMatch(a: $0, b: $0, weight: 1) }
        let pairs = [SubjectPair(p: 0, q: 1, matches: matches), SubjectPair(p: 1, q: 0, matches: matches)]
        let step = TrainingStep(model: model, loss: TopologyLoss())
        var parameters = model.initialParameters(seed: 5)
        var optimizer = AdamW(for: parameters, weightDecay: 0)
        var losses: [Float] = []
        for _ in 0..<150 {
            var rng = SeededGenerator(seed: 9)      // the same negatives every step: one fixed objective
            var outcome = try step.evaluate(samples: samples, pairs: pairs, parameters: parameters, using: &rng)
            losses.append(outcome.loss.total)
            clipGradientNorm(&outcome.gradients, maximum: 1)
            optimizer.step(&parameters, gradients: outcome.gradients, rate: 3e-3)
        }
        #expect(losses.last! < 0.1 * losses.first!, "loss \(losses.first!) -> \(losses.last!)")
    }

    @Test func aResumedRunContinuesExactlyAsAnUninterruptedOne() throws {
        let shards = try SyntheticShards(count: 4, perShard: 2)
        defer { shards.remove() }
        let configuration = Self.tiny(steps: 6)
        let whole = shards.folder.appendingPathComponent("run-whole"), split = shards.folder.appendingPathComponent("run-split")
        let uninterrupted = try Trainer(shards: shards.folder, run: whole, configuration: configuration, resume: false).run()
        let first = try Trainer(shards: shards.folder, run: split, configuration: configuration, resume: false).run(until: 4)
        #expect(first.step == 4)
        // Only step 3's checkpoint exists: the resumed run repeats step 4 from it.
        #expect(try RunLayout(folder: split).checkpointFiles().map(\.lastPathComponent) == ["step-0000003.safetensors"])
        let resumed = try Trainer(shards: shards.folder, run: split, configuration: configuration, resume: true).run()
        #expect(resumed.step == 6)
        #expect(resumed.parameters == uninterrupted.parameters)
        #expect(resumed.optimizer == uninterrupted.optimizer)
        #expect(resumed.stream == uninterrupted.stream)
        let a = MetricsLog.read(RunLayout(folder: whole).metrics), b = MetricsLog.read(RunLayout(folder: split).metrics)
        #expect(a.map(\.step) == Array(1...6) && b.map(\.step) == Array(1...6))
        #expect(a.map(\.loss) == b.map(\.loss))
        #expect(a.map(\.learningRate) == b.map(\.learningRate))
        // The parameters moved, and the files a user looks at are there.
        #expect(uninterrupted.parameters != (try TrainedModel.initial(configuration)).parameters)
        let trained = try TrainedModel(contentsOf: whole)
        #expect(trained.parameters == uninterrupted.parameters && trained.step == 6)
        #expect(FileManager.default.fileExists(atPath: RunLayout(folder: whole).lossCurve.path))
        // A different configuration cannot resume the run, nor can a new run start in its folder.
        var other = configuration
        other.learningRate = 0.5
        #expect { try Trainer(shards: shards.folder, run: split, configuration: other, resume: true) } throws: { "\($0)".contains("learning_rate") }
        #expect { try Trainer(shards: shards.folder, run: whole, configuration: configuration, resume: false) } throws: { "\($0)".contains("--resume") }
    }

    @Test func nonFiniteStepsAreSkippedAndStopTheRunAtTheLimit() throws {
        let shards = try SyntheticShards(count: 2, perShard: 2, notANumber: [0, 1])
        defer { shards.remove() }
        var configuration = Self.tiny(steps: 10)
        configuration.nonFiniteLimit = 3
        let run = shards.folder.appendingPathComponent("run")
        let trainer = try Trainer(shards: shards.folder, run: run, configuration: configuration, resume: false)
        #expect { try trainer.run() } throws: { "\($0)".contains("stopped at step 3: 3 consecutive steps had a non-finite loss") }
        let metrics = MetricsLog.read(RunLayout(folder: run).metrics)
        #expect(metrics.count == 3 && metrics.allSatisfy { $0.skipped == "non-finite loss" })
        // No update was applied.
        #expect(trainer.checkpoint.parameters == (try TrainedModel.initial(configuration)).parameters)
    }

    @Test func checkpointsRoundTripAndDamagedOnesAreNamed() throws {
        let model = try EncoderDecoder(ModelConfiguration(channels: [2, 4], groups: 2))
        var configuration = TrainingConfiguration()
        configuration.model = model.configuration
        let parameters = model.initialParameters(seed: 1)
        var optimizer = AdamW(for: parameters)
        var p = parameters
        optimizer.step(&p, gradients: parameters, rate: 0.1)
        let checkpoint = TrainingCheckpoint(parameters: p, optimizer: optimizer, step: 7, stream: StreamState(epoch: 2, batch: 3),
                                            consecutiveSkipped: 1, skipped: 2, configuration: configuration)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("taco-ckpt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("c.safetensors")
        try checkpoint.safeTensors().write(to: url)
        #expect(try TrainingCheckpoint(contentsOf: url) == checkpoint)
        // The header is the documented safetensors layout: u64 length, JSON with dtype/shape/data_offsets.
        let data = try Data(contentsOf: url)
        let length = Int(data.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
        let header = try #require(try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + length))) as? [String: Any])
        let stem = try #require(header["encoder.stem.conv.weight"] as? [String: Any])
        #expect(stem["dtype"] as? String == "F32" && stem["shape"] as? [Int] == [2, 1, 3, 3, 3])
        // Truncated: named, with the reason.
        let cut = folder.appendingPathComponent("cut.safetensors")
        try data.prefix(data.count - 10).write(to: cut)
        #expect { try TrainingCheckpoint(contentsOf: cut) } throws: { "\($0)".contains("cut.safetensors") && "\($0)".contains("does not fit") }
    }

    @Test func configurationFilesAreCheckedKeyByKey() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("taco-cfg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let good = folder.appendingPathComponent("train.yaml")
        try "steps: 20\ncrop: [32, 32, 64]\nloss:\n  intra: 5\nmodel:\n  channels: [8, 16]\n".write(to: good, atomically: true, encoding: .utf8)
        let c = try TrainingConfiguration.load(yaml: good)
        #expect(c.steps == 20 && c.cropSize == SIMD3(32, 32, 64) && c.loss.intra == 5 && c.loss.inter == 0.1)
        #expect(c.model.channels == [8, 16] && c.model.tokenStage == 1 && c.model.tokenStride == 2)
        let typo = folder.appendingPathComponent("typo.yaml")
        try "stepz: 20\n".write(to: typo, atomically: true, encoding: .utf8)
        #expect { try TrainingConfiguration.load(yaml: typo) } throws: { "\($0)".contains("typo.yaml") && "\($0)".contains("'stepz'") }
        var odd = TrainingConfiguration()
        odd.crop = [90, 96, 96]
        #expect { try odd.validate() } throws: { "\($0)".contains("multiple of 8") }
    }

    @Test func theScheduleWarmsUpThenFollowsACosine() {
        let s = WarmupCosineSchedule(rate: 1, minimumRate: 0.1, warmupSteps: 4, totalSteps: 14)
        #expect(s.rate(at: 0) == 0.25 && s.rate(at: 3) == 1)
        #expect(abs(s.rate(at: 9) - 0.55) < 1e-12)        // half way through the cosine: the mean of 1 and 0.1
        #expect(abs(s.rate(at: 14) - 0.1) < 1e-12)
    }

    @Test func adamWTakesPyTorchsFirstStepAndDecaysOnlyConvolutionWeights() {
        var p = ParameterSet<Float>()
        p.add("conv.weight", shape: [2], values: [1, -2])
        p.add("norm.weight", shape: [1], values: [1])
        var g = p
        g.tensors = [[0.5, 0.25], [3]]
        var optimizer = AdamW(for: p, weightDecay: 0.1)
        optimizer.step(&p, gradients: g, rate: 0.01)
        // First step: m/(1-b1) = g, sqrt(v/(1-b2)) = |g|, so the update is lr * sign(g); decay lr * wd * p first.
        #expect(abs(p.tensors[0][0] - (1 * (1 - 0.001) - 0.01)) < 1e-6)
        #expect(abs(p.tensors[0][1] - (-2 * (1 - 0.001) - 0.01)) < 1e-6)
        #expect(abs(p.tensors[1][0] - (1 - 0.01)) < 1e-6)
    }

    @Test func clippingScalesTheGlobalNorm() {
        var g = ParameterSet<Float>()
        g.add("a", shape: [2], values: [3, 0])
        g.add("b", shape: [1], values: [4])
        #expect(clipGradientNorm(&g, maximum: 1) == 5)
        #expect(abs(g.norm - 1) < 1e-5 && abs(g.tensors[0][0] - 0.6) < 1e-5)
    }
}
