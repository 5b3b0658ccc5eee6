import ArgumentParser
import Foundation
import TacoCore
import Train

/// `taco train`: pre-trains the encoder on shards with the topology losses (docs/train.md).
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Pre-train a 3D encoder on the shards of `taco correspond` with the topology losses (CPU).",
        discussion: """
            Writes into --out: metrics.jsonl (one line per step), loss.png (redrawn during training), checkpoints/ \
            (weights, optimiser state, step, stream position, configuration; safetensors), model.safetensors (final \
            weights) and configuration.json. --resume continues the latest checkpoint exactly as an uninterrupted run. \
            Exit status: 0 done, 1 a failure (named), 2 a usage error.
            """
    )

    @Argument(help: "A shards folder (with dataset.json) or the manifest itself.")
    var shards: String

    @Option(name: .long, help: "Run folder.")
    var out: String

    @Option(name: .long, help: "A YAML training configuration (docs/train.md lists its keys); options below override it.")
    var config: String?

    @Option(name: .long, help: "Optimiser steps.") var steps: Int?
    @Option(name: .long, help: "Subjects per batch.") var batchSize: Int?
    @Option(name: .long, help: "Crop size in voxels: one side, or x,y,z.") var crop: String?
    @Option(name: .long, help: "Peak learning rate.") var learningRate: Double?
    @Option(name: .long, help: "Warm-up steps.") var warmupSteps: Int?
    @Option(name: .long, help: "Encoder channels per stage, e.g. 16,32,64,128.") var channels: String?
    @Option(name: .long, help: "Seed of the weights, the stream and the losses' draws.") var seed: UInt64?
    @Option(name: .long, help: "Steps between checkpoints.") var checkpointEvery: Int?
    @Option(name: .long, help: "Stream threads.") var threads: Int?
    @Option(name: .long, help: "Weight of the reconstruction term (default 1).") var reconstructionWeight: Double?
    @Option(name: .long, help: "Weight of the intra-instance topology term (default 0.1; the paper's is 10, docs/method-study.md).") var intraWeight: Double?
    @Option(name: .long, help: "Weight of the inter-instance topology term (default 0.1; the paper's is 10).") var interWeight: Double?
    @Option(name: .long, help: "reconstruction-only: the topology weights set to zero, everything else as configured (the baseline taco evaluate compares with).")
    var ablation: TrainingConfiguration.Ablation?
    @Flag(name: .long, help: "Skip subjects of damaged shards (with a warning) instead of stopping.") var skipCorrupt = false
    @Flag(name: .long, help: "Continue the run in --out from its latest checkpoint.") var resume = false
    @Flag(name: .long, help: "Print the resolved configuration (the file's settings with the options applied) as JSON and exit.")
    var printConfiguration = false
    @Option(name: .long, help: "auto (a bar on a terminal, else plain lines), bar, plain or json.") var progress: ProgressStyle = .auto

    func validate() throws {
        do { try configuration().validate() } catch let error as ValidationError { throw error } catch { throw ValidationError("\(error)") }
    }

    /// The configuration file's settings with the options applied.
    func configuration() throws -> TrainingConfiguration {
        var c = try config.map { try TrainingConfiguration.load(yaml: URL(fileURLWithPath: $0)) } ?? TrainingConfiguration()
        if let steps { c.steps = steps }
        if let batchSize { c.batchSize = batchSize }
        if let crop {
            let sides = crop.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !sides.isEmpty, sides.allSatisfy({ $0 != nil }) else { throw ValidationError("--crop: '\(crop)' is not a size (96 or 96,96,64)") }
            c.crop = sides.count == 1 ? [sides[0]!, sides[0]!, sides[0]!] : sides.map { $0! }
        }
        if let learningRate { c.learningRate = learningRate; c.minimumLearningRate = min(c.minimumLearningRate, learningRate) }
        if let warmupSteps { c.warmupSteps = warmupSteps }
        if let channels {
            let values = channels.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else { throw ValidationError("--channels: '\(channels)' is not a list of counts") }
            c.model = ModelConfiguration(channels: values.map { $0! }, blocksPerStage: c.model.blocksPerStage, groups: c.model.groups,
                                         slope: c.model.slope, inputChannels: c.model.inputChannels)
        }
        if let seed { c.seed = seed }
        if let checkpointEvery { c.checkpointEvery = checkpointEvery }
        if let threads { c.threads = threads }
        if skipCorrupt { c.skipCorrupt = true }
        if let reconstructionWeight { c.loss.reconstruction = reconstructionWeight }
        if let intraWeight { c.loss.intra = intraWeight }
        if let interWeight { c.loss.inter = interWeight }
        if let ablation {
            if ablation == .reconstructionOnly, (intraWeight ?? 0) != 0 || (interWeight ?? 0) != 0 {
                throw ValidationError("--ablation reconstruction-only sets the intra and inter weights to 0; do not give them other values")
            }
            c.loss = ablation.applied(to: c.loss)
        }
        return c
    }

    func run() throws {
        BLASThreads.set(1)      // the model's layers use every core themselves
        let configuration = try configuration()
        if printConfiguration {
            print(configuration.json())
            return
        }
        let runFolder = URL(fileURLWithPath: out)
        let trainer: Trainer
        do {
            trainer = try Trainer(shards: URL(fileURLWithPath: shards), run: runFolder, configuration: configuration, resume: resume)
        } catch {
            throw CommandFailure(message: "taco train: \(error)")
        }
        let printer = ProgressPrinter(style: progress.resolved, unit: "steps")
        let model = trainer.model
        let parameters = model.layout.count
        printer.line("taco train: \(parameters) parameters, tokens \(configuration.model.tokenChannels) channels every \(configuration.model.tokenStride) voxels, "
            + "crops \(configuration.crop.map(String.init).joined(separator: "x")), batches of \(configuration.batchSize); "
            + (trainer.checkpoint.step > 0 ? "resuming at step \(trainer.checkpoint.step)" : "\(configuration.steps) steps"))
        for (key, reason) in trainer.excluded.sorted(by: { $0.key < $1.key }) { printer.line("left out: \(key): \(reason)") }
        printer.begin(total: configuration.steps, alreadyDone: trainer.checkpoint.step)
        Termination.shared.install()
        do {
            try trainer.run { metrics, warnings in
                for warning in warnings { printer.line("warning: \(warning)") }
                printer.show(metrics, totalSteps: configuration.steps)
            }
        } catch let interrupted as BatchInterrupted {
            printer.end()
            throw interrupted.exitCode("taco train")
        } catch {
            printer.end()
            throw CommandFailure(message: "taco train: \(error)")
        }
        printer.end()
        let layout = RunLayout(folder: runFolder)
        printer.line("taco train: done. Weights \(layout.weights.path); checkpoints in \(layout.checkpoints.path)/; "
            + "metrics \(layout.metrics.path); loss curves \(layout.lossCurve.path)")
    }
}

extension ProgressPrinter {
    /// A training step: the loss on the bar, a plain line every 10 steps (and the last, and a skipped one),
    /// every step's metrics as JSON lines.
    func show(_ m: StepMetrics, totalSteps: Int) {
        let terms = String(format: "loss %.4f (rec %.4f, intra %.4f, inter %.4f) lr %.2e %.2f samples/s", m.loss, m.reconstruction, m.intra, m.inter,
                           m.learningRate, m.samplesPerSecond) + (m.skipped.map { " SKIPPED: \($0)" } ?? "")
        var fields: [String: Any] = ["step": m.step, "steps": totalSteps, "loss": m.loss, "reconstruction": m.reconstruction,
                                     "intra": m.intra, "inter": m.inter, "learning_rate": m.learningRate, "samples_per_second": m.samplesPerSecond]
        if let skipped = m.skipped { fields["skipped"] = skipped }
        for (k, v) in fields { if let d = v as? Double, !d.isFinite { fields[k] = "\(d)" } }
        let plain = m.step % 10 == 0 || m.step == totalSteps || m.skipped != nil ? "[step \(m.step)/\(totalSteps)] \(terms)" : nil
        advance(to: m.step, status: terms, plain: plain, event: "step", fields: fields)
    }
}

extension TrainingConfiguration.Ablation: ExpressibleByArgument {}
