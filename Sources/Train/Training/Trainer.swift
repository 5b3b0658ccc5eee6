import Foundation
import TacoCore
import Shards

/// The native pre-training loop of `taco train`: batches from the stream, the
/// total loss, backward, a non-finite guard, gradient clipping, AdamW under a warm-up + cosine schedule;
/// metrics every step, the loss-curve picture every `picture_every` steps, checkpoints every
/// `checkpoint_every` steps and at the end (weights also alone in `model.safetensors`).
///
/// Deterministic for a seed: the initial weights, the stream and each step's loss draws (keyed by the step)
/// come from the seed, so a run resumed from a checkpoint continues exactly as an uninterrupted one.
/// The native loop is one process (the stream's RANK/WORLD_SIZE partitioning serves trainers that
/// average gradients across processes, through the plugin).
public final class Trainer {
    public let layout: RunLayout
    /// The run folder, claimed for this trainer's life (a second trainer on it is refused).
    private let lock: OutputLock
    public let configuration: TrainingConfiguration
    public let model: EncoderDecoder
    public private(set) var checkpoint: TrainingCheckpoint
    /// Subjects the stream leaves out, with the reason.
    public let excluded: [String: String]
    private let stream: BatchStream
    private let step: TrainingStep

    /// Prepares a run in `run` over the shards of `shards` (a folder with dataset.json or the manifest itself).
    /// With `resume`, the run continues from its latest checkpoint, whose configuration it keeps;
    /// `configuration` must then be that one (a different one is an error naming the first difference).
    public init(shards: URL, run: URL, configuration: TrainingConfiguration, resume: Bool) throws {
        layout = RunLayout(folder: run)
        try configuration.validate()
        let fm = FileManager.default
        do {
            try fm.createDirectory(at: layout.checkpoints, withIntermediateDirectories: true)
        } catch {
            throw TrainingError("\(run.path): cannot create the run folder (\(error.localizedDescription))")
        }
        guard fm.isWritableFile(atPath: run.path) else { throw TrainingError("\(run.path): the run folder is not writable") }
        do { lock = try OutputLock(folder: run, name: "train", command: "taco train") } catch { throw TrainingError("\(error)") }
        model = try EncoderDecoder(configuration.model)
        if resume {
            guard let latest = try layout.latestCheckpoint() else { throw TrainingError("\(run.path): --resume, but there is no checkpoint in \(layout.checkpoints.path)") }
            let saved = try TrainingCheckpoint(contentsOf: latest)
            guard saved.configuration == configuration else {
                throw TrainingError("\(latest.path) was written with another configuration; --resume continues a run as it was configured (\(Self.difference(saved.configuration, configuration)))")
            }
            checkpoint = saved
        } else {
            if !(try layout.checkpointFiles()).isEmpty {
                throw TrainingError("\(run.path) already holds a run (checkpoints/); pass --resume to continue it or choose another --out")
            }
            let parameters = model.initialParameters(seed: configuration.seed)
            checkpoint = TrainingCheckpoint(parameters: parameters, optimizer: AdamW(for: parameters, weightDecay: configuration.weightDecay), step: 0,
                                            stream: StreamState(), consecutiveSkipped: 0, skipped: 0, configuration: configuration)
        }
        self.configuration = configuration
        let manifest = shards.pathExtension == "json" ? shards : shards.appendingPathComponent(ShardManifest.fileName)
        stream = try BatchStream(dataset: try ShardDataset(manifest: manifest), options: configuration.streamOptions(rank: 0, worldSize: 1), state: checkpoint.stream)
        excluded = stream.excluded
        guard !stream.plan(epoch: 0).batches.isEmpty else {
            throw TrainingError("\(manifest.path): no subject with two modalities to train on (\(excluded.count) left out)")
        }
        step = TrainingStep(model: model, loss: configuration.topologyLoss)
        try Data(configuration.json().utf8).write(to: layout.configuration, options: .atomic)
    }

    /// Runs to `configuration.steps` (or `until`, for tests and benchmarks), calling `report` after every step.
    @discardableResult
    public func run(until lastStep: Int? = nil, report: (StepMetrics, [String]) -> Void = { _, _ in }) throws -> TrainingCheckpoint {
        let end = min(lastStep ?? configuration.steps, configuration.steps)
        let log = try MetricsLog(url: layout.metrics, keepingThrough: checkpoint.step)
        var history = MetricsLog.read(layout.metrics)
        let schedule = configuration.schedule
        let lossSeed = SeededGenerator(seed: configuration.seed ^ 0x7AC0_1055)
        while checkpoint.step < end {
            let started = Date()
            guard let batch = try nextBatch() else { throw TrainingError("the stream gave no batch (every subject was skipped)") }
            var rng = lossSeed.stream(checkpoint.step)
            let outcome = try step.evaluate(samples: batch.samples, pairs: batch.pairs, parameters: checkpoint.parameters, using: &rng)
            var gradients = outcome.gradients
            let rate = schedule.rate(at: checkpoint.step)
            let finiteLoss = outcome.loss.total.isFinite
            let norm = finiteLoss ? clipGradientNorm(&gradients, maximum: configuration.clipNorm) : .nan
            var skipped: String?
            if !finiteLoss || !norm.isFinite || !gradients.isFinite {
                skipped = finiteLoss ? "non-finite gradient" : "non-finite loss"
                checkpoint.consecutiveSkipped += 1
                checkpoint.skipped += 1
            } else {
                var parameters = checkpoint.parameters, optimizer = checkpoint.optimizer
                checkpoint.parameters = ParameterSet()         // one reference to the tensors: updated in place
                optimizer.step(&parameters, gradients: gradients, rate: rate)
                checkpoint.parameters = parameters
                checkpoint.optimizer = optimizer
                checkpoint.consecutiveSkipped = 0
            }
            checkpoint.step += 1
            checkpoint.stream = stream.state
            let seconds = Date().timeIntervalSince(started)
            let metrics = StepMetrics(step: checkpoint.step, epoch: batch.state.epoch, loss: Double(outcome.loss.total),
                                      reconstruction: Double(outcome.loss.reconstruction), intra: Double(outcome.loss.intra), inter: Double(outcome.loss.inter),
                                      learningRate: rate, gradientNorm: norm, stepSeconds: seconds,
                                      samplesPerSecond: Double(batch.samples.count) / max(seconds, 1e-9),
                                      pairsUsed: [outcome.loss.pairsUsed.0, outcome.loss.pairsUsed.1], skipped: skipped)
            try log.append(metrics)
            history.append(metrics)
            report(metrics, batch.warnings)
            if checkpoint.consecutiveSkipped >= configuration.nonFiniteLimit {
                try drawCurve(history)
                throw TrainingError("stopped at step \(checkpoint.step): \(checkpoint.consecutiveSkipped) consecutive steps had a \(skipped ?? "non-finite value") "
                    + "(limit non_finite_limit = \(configuration.nonFiniteLimit)); the last checkpoint is \((try? layout.latestCheckpoint()?.lastPathComponent) ?? "none")")
            }
            if checkpoint.step % configuration.pictureEvery == 0 { try drawCurve(history) }
            let saved = checkpoint.step % configuration.checkpointEvery == 0 || checkpoint.step == configuration.steps
            if saved { try saveCheckpoint() }
            if let signal = Termination.shared.signal, checkpoint.step < end {
                // A time limit: keep this step's state so that --resume continues exactly from here.
                if !saved { try saveCheckpoint() }
                try drawCurve(history)
                throw BatchInterrupted(signal: signal, finished: checkpoint.step, total: configuration.steps)
            }
        }
        try drawCurve(history)
        if checkpoint.step == configuration.steps { try checkpoint.weights().write(to: layout.weights) }
        return checkpoint
    }

    /// The next batch, moving to the next epoch at an epoch's end.
    private func nextBatch() throws -> TrainingBatch? {
        if let batch = try stream.next() { return batch }
        return try stream.next()
    }

    private func saveCheckpoint() throws {
        try checkpoint.safeTensors().write(to: layout.checkpoint(step: checkpoint.step))
        let files = try layout.checkpointFiles()
        for old in files.dropLast(configuration.keepCheckpoints) { try? FileManager.default.removeItem(at: old) }
    }

    private func drawCurve(_ history: [StepMetrics]) throws {
        try LossCurvePicture.draw(history, totalSteps: configuration.steps, weights: configuration.loss).write(to: layout.lossCurve)
    }

    /// The first key whose value differs, for the resume error.
    static func difference(_ a: TrainingConfiguration, _ b: TrainingConfiguration) -> String {
        func flat(_ c: TrainingConfiguration) -> [String: String] {
            guard let object = try? JSONSerialization.jsonObject(with: Data(c.json().utf8)) as? [String: Any] else { return [:] }
            var out: [String: String] = [:]
            for (key, value) in object {
                if let nested = value as? [String: Any] { for (k, v) in nested { out["\(key).\(k)"] = "\(v)" } } else { out[key] = "\(value)" }
            }
            return out
        }
        let fa = flat(a), fb = flat(b)
        for key in Set(fa.keys).union(fb.keys).sorted() where fa[key] != fb[key] {
            return "\(key): \(fa[key] ?? "unset") in the checkpoint, \(fb[key] ?? "unset") now"
        }
        return "no visible difference"
    }
}

/// A training run that cannot go on; the message names the file or the step and the reason.
public struct TrainingError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
