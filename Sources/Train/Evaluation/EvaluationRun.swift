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
/// by a light trained head (one hidden layer), accuracy and mean Dice; and, when subject labels are given,
/// classification from the subject's pooled (mean) brain-token features by logistic regression, accuracy and
/// AUC over the out-of-fold predictions.
public struct EvaluationRun: Sendable {
    public static let tissueClasses = ProbeRun.classNames

    /// The two modalities each subject is embedded in.
    public let modalities: [String]
    /// The held-out subjects of each fold (keys sorted, folds contiguous).
    public let folds: [[String]]
    /// Subjects left out for lacking a modality.
    public let excluded: [String]
    /// Class labels (0 or 1) by subject key, for the classification task (given by key or by subject).
    public let classLabels: [String: Int]
    private let dataset: ShardDataset

    public var keys: [String] { folds.flatMap { $0 } }

    /// `modalities`: two (default T1w and FLAIR when every subject has them, else the first two every subject has);
    /// `folds`: at most one per subject; `classLabels`: optional, by subject key.
    /// `ignoringUnknownLabels`: labels of subjects not in the shards are dropped instead of refused (for labels
    /// from a whole cohort's truth, of which some subjects may not have been prepared).
    public init(shards: URL, modalities: [String]? = nil, folds: Int = 3, classLabels: [String: Int] = [:], ignoringUnknownLabels: Bool = false) throws {
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
        var resolved: [String: Int] = [:]
        for s in usable { if let label = classLabels[s.key] ?? classLabels[subject(s.key)] { resolved[s.key] = label } }
        self.classLabels = resolved
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
        return SubjectTokens(byModality: byModality, labels: brain.labels)
    }

    /// Every task for one encoder.
    public func evaluate(_ model: TrainedModel, name: String, ablation: String? = nil) throws -> Result {
        var seconds: [String: Double] = [:]
        func timed<T>(_ part: String, _ body: () throws -> T) rethrows -> T {
            let start = Date()
            defer { seconds[part, default: 0] += Date().timeIntervalSince(start) }
            return try body()
        }
        let embedder = TokenEmbedder(model)
        var subjects: [String: SubjectTokens] = [:]
        try timed("embedding") { for key in keys { subjects[key] = try tokens(of: key, embedder: embedder) } }
        guard subjects.values.allSatisfy({ !$0.labels.isEmpty }) else { throw TrainingError("a subject has no brain tokens (are the atlas labels empty?)") }

        func stack(_ keys: [String], _ input: Int) -> (Matrix<Float>, [Int]) {
            var values: [Float] = [], labels: [Int] = [], columns = 0
            for key in keys {
                let f = subjects[key]!.features(input)
                values += f.values
                labels += subjects[key]!.labels
                columns = f.columns
            }
            return (Matrix(rows: labels.count, columns: columns, values: values), labels)
        }
        var perFold: [String: [Double]] = [:]
        func record(_ task: String, _ metric: String, _ input: Int, _ value: Double) { perFold["\(task)|\(metric)|\(inputs[input])", default: []].append(value) }
        var outOfFold = [[Double]](repeating: [], count: inputs.count), outOfFoldTruth: [Int] = []

        for (f, heldOut) in folds.enumerated() {
            let training = keys.filter { !heldOut.contains($0) }
            let (x, y) = stack(training, 0)
            let probe = timed("tissue linear probe") { LinearProbe(features: x, labels: y, classes: Self.tissueClasses.count) }
            let head = timed("tissue head") { FeatureHead(features: x, labels: y, classes: Self.tissueClasses.count, seed: UInt64(f)) }
            for input in inputs.indices {
                let (tx, ty) = stack(heldOut, input)
                for (task, predicted) in [("tissue, linear probe", probe.predict(tx)), ("tissue, trained head", head.predict(tx))] {
                    let scores = SegmentationScores(predicted: predicted, truth: ty, classes: Self.tissueClasses.count)
                    record(task, "accuracy", input, scores.accuracy)
                    record(task, "mean Dice", input, scores.meanDice)
                }
            }
            if !classLabels.isEmpty {
                let labelled = training.filter { classLabels[$0] != nil }, tested = heldOut.filter { classLabels[$0] != nil }
                guard !labelled.isEmpty, !tested.isEmpty else { continue }
                let rows = labelled.map { subjects[$0]!.pooled(0) }
                let px = Matrix(rows: rows.count, columns: rows[0].columns, values: rows.flatMap(\.values))
                let classifier = timed("classification") { LinearProbe(features: px, labels: labelled.map { classLabels[$0]! }, classes: 2) }
                outOfFoldTruth += tested.map { classLabels[$0]! }
                for input in inputs.indices {
                    let trows = tested.map { subjects[$0]!.pooled(input) }
                    let p = classifier.probabilities(Matrix(rows: trows.count, columns: trows[0].columns, values: trows.flatMap(\.values)))
                    let probabilities = (0..<p.rows).map { Double(p[$0, 1]) }
                    outOfFold[input] += probabilities
                    record("classification", "accuracy", input, BinaryScores(probabilities: probabilities, truth: tested.map { classLabels[$0]! }).accuracy)
                }
            }
        }
        var figures: [Figure] = []
        for task in ["tissue, linear probe", "tissue, trained head"] {
            for metric in ["accuracy", "mean Dice"] {
                for input in inputs.indices { figures.append(Figure(task: task, metric: metric, input: inputs[input], spread: Spread(perFold["\(task)|\(metric)|\(inputs[input])"] ?? []))) }
            }
        }
        if !outOfFoldTruth.isEmpty {
            for input in inputs.indices {
                figures.append(Figure(task: "classification", metric: "accuracy", input: inputs[input], spread: Spread(perFold["classification|accuracy|\(inputs[input])"] ?? [])))
                if let auc = BinaryScores(probabilities: outOfFold[input], truth: outOfFoldTruth).auc {
                    figures.append(Figure(task: "classification", metric: "AUC (out of fold)", input: inputs[input], spread: Spread([auc])))
                }
            }
        }
        return Result(model: name, step: model.step, ablation: ablation, figures: figures, seconds: seconds)
    }
}
