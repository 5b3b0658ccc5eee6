import Foundation
import Yams

/// Everything that decides a training run: read from `--config train.yaml`, overridden
/// by command-line options, stored in every checkpoint. Keys are snake_case; an unknown key is an error,
/// so that a misspelt option is not silently ignored. docs/train.md lists every key.
public struct TrainingConfiguration: Sendable, Equatable, Codable {
    public var seed: UInt64 = 0
    /// Optimiser steps in the whole run.
    public var steps: Int = 1000
    /// Subjects per batch (each gives two views: two modalities of one crop).
    public var batchSize: Int = 2
    /// Crop size (x, y, z), voxels; a multiple of the model's deepest stride.
    public var crop: [Int] = [96, 96, 96]
    public var learningRate: Double = 1e-3
    public var minimumLearningRate: Double = 1e-5
    public var warmupSteps: Int = 50
    public var weightDecay: Double = 0.05
    /// Global gradient-norm clipping threshold (0: none).
    public var clipNorm: Double = 1
    /// Steps between checkpoints (one is also written at the end), and how many periodic ones to keep.
    public var checkpointEvery: Int = 100
    public var keepCheckpoints: Int = 3
    /// Steps between redraws of the loss-curve picture.
    public var pictureEvery: Int = 10
    /// Consecutive steps with a non-finite loss or gradient (skipped) after which the run stops.
    public var nonFiniteLimit: Int = 5
    /// Stream: background threads, batches prepared ahead, damaged subjects skipped (true) or fatal.
    public var threads: Int = 2
    public var prefetch: Int = 4
    public var skipCorrupt: Bool = false
    /// Augmentation.
    public var flips: Bool = true
    public var rotations: Bool = true
    public var loss = LossConfiguration()
    public var model = ModelConfiguration()

    public init() {}

    /// The loss terms' weights and settings (docs/design.md §2; defaults as there).
    public struct LossConfiguration: Sendable, Equatable, Codable {
        public var reconstruction: Double = 1
        /// 0.1 each: with the paper's 10 the topology terms' gradients outweigh reconstruction's 3-28 times and
        /// the features lose what reconstruction gives them (docs/method-study.md).
        public var intra: Double = 0.1
        public var inter: Double = 0.1
        public var neighbours: Int = 5
        public var intraMargin: Double = 0.05
        public var interMargin: Double = 0.4
        public var maxPairs: Int = 6
        /// Atlas match radius, mm (nil: one token spacing).
        public var matchRadius: Double?

        public init() {}

        enum CodingKeys: String, CodingKey, CaseIterable {
            case reconstruction, intra, inter, neighbours
            case intraMargin = "intra_margin", interMargin = "inter_margin", maxPairs = "max_pairs", matchRadius = "match_radius"
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = LossConfiguration()
            reconstruction = try c.decodeIfPresent(Double.self, forKey: .reconstruction) ?? d.reconstruction
            intra = try c.decodeIfPresent(Double.self, forKey: .intra) ?? d.intra
            inter = try c.decodeIfPresent(Double.self, forKey: .inter) ?? d.inter
            neighbours = try c.decodeIfPresent(Int.self, forKey: .neighbours) ?? d.neighbours
            intraMargin = try c.decodeIfPresent(Double.self, forKey: .intraMargin) ?? d.intraMargin
            interMargin = try c.decodeIfPresent(Double.self, forKey: .interMargin) ?? d.interMargin
            maxPairs = try c.decodeIfPresent(Int.self, forKey: .maxPairs) ?? d.maxPairs
            matchRadius = try c.decodeIfPresent(Double.self, forKey: .matchRadius)
        }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case seed, steps, crop, threads, prefetch, flips, rotations, loss, model
        case batchSize = "batch_size", learningRate = "learning_rate", minimumLearningRate = "minimum_learning_rate"
        case warmupSteps = "warmup_steps", weightDecay = "weight_decay", clipNorm = "clip_norm", checkpointEvery = "checkpoint_every"
        case keepCheckpoints = "keep_checkpoints", pictureEvery = "picture_every", nonFiniteLimit = "non_finite_limit"
        case skipCorrupt = "skip_corrupt"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = TrainingConfiguration()
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        steps = try c.decodeIfPresent(Int.self, forKey: .steps) ?? d.steps
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? d.batchSize
        crop = try c.decodeIfPresent([Int].self, forKey: .crop) ?? d.crop
        learningRate = try c.decodeIfPresent(Double.self, forKey: .learningRate) ?? d.learningRate
        minimumLearningRate = try c.decodeIfPresent(Double.self, forKey: .minimumLearningRate) ?? d.minimumLearningRate
        warmupSteps = try c.decodeIfPresent(Int.self, forKey: .warmupSteps) ?? d.warmupSteps
        weightDecay = try c.decodeIfPresent(Double.self, forKey: .weightDecay) ?? d.weightDecay
        clipNorm = try c.decodeIfPresent(Double.self, forKey: .clipNorm) ?? d.clipNorm
        checkpointEvery = try c.decodeIfPresent(Int.self, forKey: .checkpointEvery) ?? d.checkpointEvery
        keepCheckpoints = try c.decodeIfPresent(Int.self, forKey: .keepCheckpoints) ?? d.keepCheckpoints
        pictureEvery = try c.decodeIfPresent(Int.self, forKey: .pictureEvery) ?? d.pictureEvery
        nonFiniteLimit = try c.decodeIfPresent(Int.self, forKey: .nonFiniteLimit) ?? d.nonFiniteLimit
        threads = try c.decodeIfPresent(Int.self, forKey: .threads) ?? d.threads
        prefetch = try c.decodeIfPresent(Int.self, forKey: .prefetch) ?? d.prefetch
        skipCorrupt = try c.decodeIfPresent(Bool.self, forKey: .skipCorrupt) ?? d.skipCorrupt
        flips = try c.decodeIfPresent(Bool.self, forKey: .flips) ?? d.flips
        rotations = try c.decodeIfPresent(Bool.self, forKey: .rotations) ?? d.rotations
        loss = try c.decodeIfPresent(LossConfiguration.self, forKey: .loss) ?? d.loss
        model = try c.decodeIfPresent(ModelConfiguration.self, forKey: .model) ?? d.model
    }

    /// Reads a YAML file; unknown keys and wrong types are errors naming the file and the key.
    public static func load(yaml url: URL) throws -> TrainingConfiguration {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch { throw ConfigurationError("\(url.path): cannot be read (\(error.localizedDescription))") }
        do {
            if let tree = try Yams.load(yaml: text) as? [String: Any] {
                try checkKeys(tree, known: Set(CodingKeys.allCases.map(\.rawValue)), at: "")
                if let loss = tree["loss"] as? [String: Any] { try checkKeys(loss, known: Set(LossConfiguration.CodingKeys.allCases.map(\.rawValue)), at: "loss.") }
                if let model = tree["model"] as? [String: Any] {
                    try checkKeys(model, known: ["channels", "groups", "slope", "blocks_per_stage", "token_stage", "input_channels"], at: "model.")
                }
            }
            return try YAMLDecoder().decode(TrainingConfiguration.self, from: text)
        } catch let error as ConfigurationError {
            throw ConfigurationError("\(url.path): \(error.description)")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            throw ConfigurationError("\(url.path): \(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)")
        } catch {
            throw ConfigurationError("\(url.path): not a training configuration (\(error))")
        }
    }

    private static func checkKeys(_ tree: [String: Any], known: Set<String>, at prefix: String) throws {
        if let unknown = tree.keys.sorted().first(where: { !known.contains($0) }) {
            throw ConfigurationError("unknown key '\(prefix)\(unknown)' (known: \(known.sorted().joined(separator: ", ")))")
        }
    }

    /// A named departure from the method, run on the same data, steps and seed so that its effect can be measured.
    public enum Ablation: String, Sendable, CaseIterable {
        /// The topology terms' weights set to zero: the encoder learns from reconstruction alone.
        case reconstructionOnly = "reconstruction-only"

        /// `loss` with the ablation applied.
        public func applied(to loss: LossConfiguration) -> LossConfiguration {
            var out = loss
            switch self {
            case .reconstructionOnly:
                out.intra = 0
                out.inter = 0
            }
            return out
        }
    }

    /// The ablation these loss weights amount to, if any (a run with zero topology weights is reconstruction-only).
    public var ablation: Ablation? { loss.intra == 0 && loss.inter == 0 ? .reconstructionOnly : nil }

    /// The crop as a size.
    public var cropSize: SIMD3<Int> { crop.count == 3 ? SIMD3(crop[0], crop[1], crop[2]) : SIMD3(repeating: crop.first ?? 0) }

    /// Checks every value, naming the first that is wrong.
    public func validate() throws {
        try model.validate()
        guard crop.count == 3 || crop.count == 1 else { throw ConfigurationError("crop: one size or three (x, y, z)") }
        let m = model.sizeMultiple, size = cropSize
        guard size.min() >= m, size % m == .zero else {
            throw ConfigurationError("crop: each side must be a positive multiple of \(m) (the model's deepest stride), not \(crop)")
        }
        guard steps > 0 else { throw ConfigurationError("steps: at least 1") }
        guard batchSize >= 1 else { throw ConfigurationError("batch_size: at least 1") }
        guard learningRate > 0, minimumLearningRate >= 0, minimumLearningRate <= learningRate else {
            throw ConfigurationError("learning_rate must be positive and minimum_learning_rate in [0, learning_rate]")
        }
        guard warmupSteps >= 0, weightDecay >= 0, clipNorm >= 0 else { throw ConfigurationError("warmup_steps, weight_decay and clip_norm: 0 or more") }
        guard checkpointEvery > 0, keepCheckpoints > 0, pictureEvery > 0, nonFiniteLimit > 0 else {
            throw ConfigurationError("checkpoint_every, keep_checkpoints, picture_every and non_finite_limit: at least 1")
        }
        guard loss.neighbours > 0, loss.maxPairs >= 0, loss.reconstruction >= 0, loss.intra >= 0, loss.inter >= 0 else {
            throw ConfigurationError("loss: neighbours at least 1, max_pairs and weights 0 or more")
        }
        try streamOptions(rank: 0, worldSize: 1).validate()
    }

    /// The stream these settings ask for (the token stride is the model's token stage).
    public func streamOptions(rank: Int? = nil, worldSize: Int? = nil) -> StreamOptions {
        let sampling = SamplingOptions(roi: cropSize, tokenStride: model.tokenStride, flips: flips, rotations: rotations,
                                       matchRadius: loss.matchRadius, maxPairs: loss.maxPairs)
        return StreamOptions(batchSize: batchSize, seed: seed, rank: rank, worldSize: worldSize, prefetch: prefetch, threads: threads,
                             skipCorrupt: skipCorrupt, sampling: sampling)
    }

    /// The total loss these settings ask for.
    public var topologyLoss: TopologyLoss {
        TopologyLoss(intra: IntraInstanceTriplet(neighbours: loss.neighbours, margin: loss.intraMargin),
                     inter: InterInstanceAlignment(neighbours: loss.neighbours, margin: loss.interMargin),
                     reconstructionWeight: loss.reconstruction, intraWeight: loss.intra, interWeight: loss.inter)
    }

    public var schedule: WarmupCosineSchedule {
        WarmupCosineSchedule(rate: learningRate, minimumRate: minimumLearningRate, warmupSteps: warmupSteps, totalSteps: steps)
    }

    /// The configuration as JSON (sorted keys), as stored in checkpoints.
    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }
}
