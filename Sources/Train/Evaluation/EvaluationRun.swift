import Foundation
import Shards
import TacoCore

/// `taco evaluate`: downstream tasks on frozen encoder features, scored on held-out subjects by k-fold cross-
/// validation over subjects, each task also with one modality missing at test time.
///
/// Every subject is embedded in two modalities (the same single-channel encoder sees each); a token's feature
/// with both modalities is the mean of the two embeddings, and with one missing it is the other modality's
/// embedding alone. Heads are fitted on the training folds' subjects with both modalities, then scored on the
/// held-out fold with both and with each one missing: the drop says how much the features depend on the
/// modality they came from, which the topology losses are meant to reduce.
///
/// Tasks: tissue segmentation of brain tokens (CSF, GM, WM from the shards' atlas labels) by a linear probe and
/// by a light trained head (one hidden layer), accuracy and mean Dice; when subject labels are given,
/// classification from the subject's pooled (mean) brain-token features by logistic regression, accuracy and
/// AUC over the out-of-fold predictions; when lesions are given, lesion tokens found by a class-balanced
/// linear probe fitted on the training folds' few subjects, Dice of the lesion tokens.
public struct EvaluationRun: Sendable {
    public static let tissueClasses = ProbeRun.classNames

    /// A spherical lesion of a subject: its centre (RAS mm, the shards' world frame) and radius (mm).
    public struct LesionSphere: Sendable, Equatable {
        public var centre: SIMD3<Double>
        public var radius: Double

        public init(centre: SIMD3<Double>, radius: Double) {
            self.centre = centre
            self.radius = radius
        }
    }

    /// The two modalities each subject is embedded in.
    public let modalities: [String]
    /// The held-out subjects of each fold (keys sorted, folds contiguous).
    public let folds: [[String]]
    /// Subjects left out for lacking a modality.
    public let excluded: [String]
    /// Class labels (0 or 1) by subject key, for the classification task (given by key or by subject).
    public let classLabels: [String: Int]
    /// Lesions by subject key, for the lesion-token task (run when given; subjects with a class label of 0 are
    /// lesion-free, those without a class label are left out of it).
    public let lesions: [String: LesionSphere]
    private let dataset: ShardDataset

    public var keys: [String] { folds.flatMap { $0 } }

    /// `modalities`: two (default T1w and FLAIR when every subject has them, else the first two every subject has);
    /// `folds`: at most one per subject; `classLabels`: optional, by subject key.
    /// `ignoringUnknownLabels`: labels of subjects not in the shards are dropped instead of refused (for labels
    /// from a whole cohort's truth, of which some subjects may not have been prepared).
    public init(shards: URL, modalities: [String]? = nil, folds: Int = 3, classLabels: [String: Int] = [:],
                lesions: [String: LesionSphere] = [:], ignoringUnknownLabels: Bool = false) throws {
        let manifest = shards.pathExtension == "json" ? shards : shards.appendingPathComponent(ShardManifest.fileName)
        dataset = try ShardDataset(manifest: manifest)
        let subjects = dataset.manifest.subjects.sorted { $0.key < $1.key }
        let chosen: [String]
        if let modalities {
            guard modalities.count == 2, modalities[0] != modalities[1] else { throw TrainingError("--modalities: two different modalities, not \(modalities)") }
            chosen = modalities
        } else {
            let common = subjects.reduce(Set(subjects.first?.modalities ?? [])) { $0.intersection($1.modalities) }
            let preferred = [Modality.t1w.rawValue, Modality.flair.rawValue]
            chosen = preferred.allSatisfy(common.contains) ? preferred : Array(common.sorted().prefix(2))
            guard chosen.count == 2 else { throw TrainingError("\(manifest.path): no two modalities that every subject has; name them with --modalities") }
        }
        self.modalities = chosen
        let usable = subjects.filter { s in chosen.allSatisfy(s.modalities.contains) }
        excluded = subjects.filter { s in !chosen.allSatisfy(s.modalities.contains) }.map(\.key)
        guard usable.count >= 2 else {
            throw TrainingError("\(manifest.path): an evaluation needs at least two subjects with \(chosen.joined(separator: " and ")), found \(usable.count)")
        }
        guard folds >= 2 else { throw TrainingError("--folds: at least 2") }
        let k = min(folds, usable.count)
        self.folds = (0..<k).map { f in
            let begin = f * usable.count / k, end = (f + 1) * usable.count / k
            return usable[begin..<end].map(\.key)
        }
        // A label names a subject key (sub-X_ses-Y) or a subject (sub-X: all its sessions).
        func subject(_ key: String) -> String { String(key.split(separator: "_").first ?? Substring(key)) }
        if !ignoringUnknownLabels, let unknown = classLabels.keys.sorted().first(where: { label in !usable.contains { $0.key == label || subject($0.key) == label } }) {
            throw TrainingError("subject label for \(unknown): no such subject with \(chosen.joined(separator: " and ")) in the shards")
        }
        if let value = classLabels.values.first(where: { $0 != 0 && $0 != 1 }) { throw TrainingError("subject labels must be 0 or 1, found \(value)") }
        var resolved: [String: Int] = [:], spheres: [String: LesionSphere] = [:]
        for s in usable {
            if let label = classLabels[s.key] ?? classLabels[subject(s.key)] { resolved[s.key] = label }
            if let sphere = lesions[s.key] ?? lesions[subject(s.key)] { spheres[s.key] = sphere }
        }
        self.classLabels = resolved
        self.lesions = spheres
    }

    /// The test-time inputs: both modalities, then each one missing.
    public var inputs: [String] { ["both"] + modalities.map { "without \($0)" } }

    /// One task's figure for one input, over the folds.
    public struct Figure: Sendable, Codable, Equatable {
        public var task: String
        public var metric: String
        public var input: String
        public var spread: Spread
    }

    /// One encoder's figures and what each part cost.
    public struct Result: Sendable, Codable, Equatable {
        public var model: String
        public var step: Int
        /// "reconstruction-only" for a run without topology terms; nil for TACO's losses and for random init.
        public var ablation: String?
        public var figures: [Figure]
        public var seconds: [String: Double]

        public func figure(_ task: String, _ metric: String, _ input: String) -> Figure? {
            figures.first { $0.task == task && $0.metric == metric && $0.input == input }
        }
    }

    /// A subject's brain tokens: features per modality and tissue labels.
    struct SubjectTokens {
        var byModality: [Matrix<Float>]
        var labels: [Int]
        /// 1 for a brain token of which at least a tenth of the voxels lie in the subject's lesion.
        var lesion: [Int]

        /// The features a head sees for `input` (an index of ``EvaluationRun/inputs``).
        func features(_ input: Int) -> Matrix<Float> {
            if input > 0 { return byModality[1 - (input - 1)] }
            var mean = byModality[0]
            for k in mean.values.indices { mean.values[k] = 0.5 * (byModality[0].values[k] + byModality[1].values[k]) }
            return mean
        }

        /// The mean over the brain tokens of `features(input)`: the subject's pooled feature (one row).
        func pooled(_ input: Int) -> Matrix<Float> {
            let f = features(input)
            var row = [Float](repeating: 0, count: f.columns)
            for i in 0..<f.rows { for j in 0..<f.columns { row[j] += f[i, j] / Float(max(1, f.rows)) } }
            return Matrix(rows: 1, columns: f.columns, values: row)
        }
    }

    /// Embeds a subject in both modalities.
    func tokens(of key: String, embedder: TokenEmbedder) throws -> SubjectTokens {
        let reader = try dataset.reader(for: key)
        let d = try reader.describe(key)
        let brain = try BrainTokens(reader: reader, key: key, embedder: embedder)
        let byModality = try modalities.map { m -> Matrix<Float> in
            guard let index = d.modalities.firstIndex(of: m) else { throw TrainingError("subject \(key) has no \(m)") }
            return try brain.features(try reader.imageBox(key, modality: index, origin: .zero, size: d.size), embedder: embedder)
        }
        return SubjectTokens(byModality: byModality, labels: brain.labels,
                             lesion: lesions[key].map { Self.lesionTokens(brain, sphere: $0, description: d, embedder: embedder) } ?? [Int](repeating: 0, count: brain.rows.count))
    }

    /// Which brain tokens hold the lesion: a tenth of their voxels or more inside the sphere (voxel centres
    /// mapped to RAS by the shard's affine).
    static func lesionTokens(_ brain: BrainTokens, sphere: LesionSphere, description d: ShardReader.Description, embedder: TokenEmbedder) -> [Int] {
        let s = embedder.trained.configuration.model.tokenStride, grid = embedder.grid(for: d.size), a = d.affine
        func ras(_ v: SIMD3<Double>) -> SIMD3<Double> {
            SIMD3(a[0] * v.x + a[1] * v.y + a[2] * v.z + a[3], a[4] * v.x + a[5] * v.y + a[6] * v.z + a[7], a[8] * v.x + a[9] * v.y + a[10] * v.z + a[11])
        }
        let reach = sphere.radius + Double(s) * (d.spacing.max() ?? 1) * 0.87
        return brain.rows.map { t in
            let i = t % grid.x, j = (t / grid.x) % grid.y, k = t / (grid.x * grid.y)
            let centre = SIMD3<Double>(Double(i * s), Double(j * s), Double(k * s)) + Double(s - 1) / 2
            let offset = ras(centre) - sphere.centre
            guard (offset * offset).sum().squareRoot() <= reach else { return 0 }
            var inside = 0, total = 0
            for z in (k * s)..<min((k + 1) * s, d.size.z) { for y in (j * s)..<min((j + 1) * s, d.size.y) { for x in (i * s)..<min((i + 1) * s, d.size.x) {
                let o = ras(SIMD3(Double(x), Double(y), Double(z))) - sphere.centre
                total += 1
                if (o * o).sum() <= sphere.radius * sphere.radius { inside += 1 }
            } } }
            return total > 0 && 10 * inside >= total ? 1 : 0
        }
    }

    /// Every task for one encoder.
    public func evaluate(_ model: TrainedModel, name: String, ablation: String? = nil) throws -> Result {
        var clock = PartClock()
        let embedder = TokenEmbedder(model)
        var subjects: [String: SubjectTokens] = [:]
        try clock.time("embedding") { for key in keys { subjects[key] = try tokens(of: key, embedder: embedder) } }
        guard subjects.values.allSatisfy({ !$0.labels.isEmpty }) else { throw TrainingError("a subject has no brain tokens (are the atlas labels empty?)") }
        var scoring = FoldScores(inputs: inputs, subjects: subjects)
        for (f, heldOut) in folds.enumerated() {
            let training = keys.filter { !heldOut.contains($0) }
            scoring.tissue(training: training, heldOut: heldOut, seed: UInt64(f), clock: &clock)
            if !lesions.isEmpty {
                scoring.lesions(training: training.filter { classLabels[$0] != nil }, heldOut: heldOut.filter { classLabels[$0] != nil }, clock: &clock)
            }
            if !classLabels.isEmpty {
                scoring.classification(training: training.filter { classLabels[$0] != nil }, heldOut: heldOut.filter { classLabels[$0] != nil },
                                       labels: classLabels, clock: &clock)
            }
        }
        return Result(model: name, step: model.step, ablation: ablation, figures: scoring.figures(), seconds: clock.seconds)
    }
}

/// Seconds spent per named part.
struct PartClock {
    var seconds: [String: Double] = [:]

    mutating func time<T>(_ part: String, _ body: () throws -> T) rethrows -> T {
        let start = Date()
        defer { seconds[part, default: 0] += Date().timeIntervalSince(start) }
        return try body()
    }
}

/// The tasks' heads fitted and scored fold by fold on one encoder's subject tokens; each figure's per-fold values.
struct FoldScores {
    let inputs: [String]
    let subjects: [String: EvaluationRun.SubjectTokens]
    private var perFold: [String: [Double]] = [:]
    private var order: [(String, String)] = []
    /// The classifier's out-of-fold probabilities per input, and their truth.
    private var outOfFold: [[Double]]
    private var outOfFoldTruth: [Int] = []

    init(inputs: [String], subjects: [String: EvaluationRun.SubjectTokens]) {
        self.inputs = inputs
        self.subjects = subjects
        outOfFold = [[Double]](repeating: [], count: inputs.count)
    }

    private mutating func record(_ task: String, _ metric: String, _ input: Int, _ value: Double) {
        if !order.contains(where: { $0 == (task, metric) }) { order.append((task, metric)) }
        perFold["\(task)|\(metric)|\(inputs[input])", default: []].append(value)
    }

    /// The subjects' brain tokens for `input`, stacked, with one row per token.
    private func stack(_ keys: [String], _ input: Int, labels: (EvaluationRun.SubjectTokens) -> [Int]) -> (Matrix<Float>, [Int]) {
        let rows = keys.map { subjects[$0]!.features(input) }
        return (Matrix(rows: rows.map(\.rows).reduce(0, +), columns: rows[0].columns, values: rows.flatMap(\.values)), keys.flatMap { labels(subjects[$0]!) })
    }

    /// Tissue segmentation by the linear probe and the trained head.
    mutating func tissue(training: [String], heldOut: [String], seed: UInt64, clock: inout PartClock) {
        let (x, y) = stack(training, 0, labels: \.labels)
        let classes = EvaluationRun.tissueClasses.count
        let probe = clock.time("tissue linear probe") { LinearProbe(features: x, labels: y, classes: classes) }
        let head = clock.time("tissue head") { FeatureHead(features: x, labels: y, classes: classes, seed: seed) }
        for input in inputs.indices {
            let (tx, ty) = stack(heldOut, input, labels: \.labels)
            for (task, predicted) in [("tissue, linear probe", probe.predict(tx)), ("tissue, trained head", head.predict(tx))] {
                let scores = SegmentationScores(predicted: predicted, truth: ty, classes: classes)
                record(task, "accuracy", input, scores.accuracy)
                record(task, "mean Dice", input, scores.meanDice)
            }
        }
    }

    /// Lesion tokens by a class-balanced probe fitted on the training subjects (a few).
    mutating func lesions(training: [String], heldOut: [String], clock: inout PartClock) {
        guard !training.isEmpty, !heldOut.isEmpty else { return }
        let (x, y) = stack(training, 0, labels: \.lesion)
        guard y.contains(1) else { return }
        let detector = clock.time("lesion tokens") { LinearProbe(features: x, labels: y, classes: 2, balanced: true) }
        for input in inputs.indices {
            let (tx, ty) = stack(heldOut, input, labels: \.lesion)
            if let dice = SegmentationScores(predicted: detector.predict(tx), truth: ty, classes: 2).dice[1] { record("lesion tokens, few-shot", "Dice", input, dice) }
        }
    }

    /// Subject classification from pooled features by logistic regression.
    mutating func classification(training: [String], heldOut: [String], labels: [String: Int], clock: inout PartClock) {
        guard !training.isEmpty, !heldOut.isEmpty else { return }
        func pooled(_ keys: [String], _ input: Int) -> Matrix<Float> {
            let rows = keys.map { subjects[$0]!.pooled(input) }
            return Matrix(rows: rows.count, columns: rows[0].columns, values: rows.flatMap(\.values))
        }
        let classifier = clock.time("classification") { LinearProbe(features: pooled(training, 0), labels: training.map { labels[$0]! }, classes: 2) }
        let truth = heldOut.map { labels[$0]! }
        outOfFoldTruth += truth
        for input in inputs.indices {
            let p = classifier.probabilities(pooled(heldOut, input))
            let probabilities = (0..<p.rows).map { Double(p[$0, 1]) }
            outOfFold[input] += probabilities
            record("classification", "accuracy", input, BinaryScores(probabilities: probabilities, truth: truth).accuracy)
        }
    }

    /// Every figure: per-fold spreads in the order the tasks were scored, then the classifier's out-of-fold AUC.
    func figures() -> [EvaluationRun.Figure] {
        var out: [EvaluationRun.Figure] = []
        for (task, metric) in order {
            for input in inputs {
                if let values = perFold["\(task)|\(metric)|\(input)"] { out.append(.init(task: task, metric: metric, input: input, spread: Spread(values))) }
            }
        }
        if !outOfFoldTruth.isEmpty {
            for (input, name) in inputs.enumerated() {
                if let auc = BinaryScores(probabilities: outOfFold[input], truth: outOfFoldTruth).auc {
                    out.append(.init(task: "classification", metric: "AUC (out of fold)", input: name, spread: Spread([auc])))
                }
            }
        }
        return out
    }
}
