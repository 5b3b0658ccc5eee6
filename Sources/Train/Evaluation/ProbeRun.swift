import Foundation
import Shards
import TacoCore

/// `taco probe`: frozen token features of every subject in the shards, a linear classifier of the atlas
/// tissue labels (CSF, grey matter, white matter; background tokens left out) fitted on some subjects and
/// scored on the held-out others, for each model given (the trained encoder and its random initialisation).
public struct ProbeRun: Sendable {
    public static let classNames = ["CSF", "GM", "WM"]

    /// One model's scores on the held-out subjects.
    public struct Result: Sendable, Codable, Equatable {
        public var model: String
        public var scores: SegmentationScores
        public var trainingTokens: Int
        public var heldOutTokens: Int
    }

    /// The subjects the classifier is fitted on and those it is scored on.
    public let trainingKeys: [String]
    public let heldOutKeys: [String]
    public let modality: String
    private let dataset: ShardDataset

    /// `heldOut` subjects (the last by key; a third by default, at least one) are scored; `modality` is
    /// the image the encoder sees (default: T1w when every subject has it, else each subject's first).
    public init(shards: URL, heldOut: Int? = nil, modality: String? = nil) throws {
        let manifest = shards.pathExtension == "json" ? shards : shards.appendingPathComponent(ShardManifest.fileName)
        dataset = try ShardDataset(manifest: manifest)
        let subjects = dataset.manifest.subjects.sorted { $0.key < $1.key }
        guard subjects.count >= 2 else { throw TrainingError("\(manifest.path): a probe needs at least two subjects (one to fit, one to score), found \(subjects.count)") }
        let count = heldOut ?? max(1, subjects.count / 3)
        guard count >= 1, count < subjects.count else { throw TrainingError("--held-out \(count): must be between 1 and \(subjects.count - 1)") }
        heldOutKeys = subjects.suffix(count).map(\.key)
        trainingKeys = subjects.prefix(subjects.count - count).map(\.key)
        if let modality {
            if let missing = subjects.first(where: { !$0.modalities.contains(modality) }) {
                throw TrainingError("subject \(missing.key) has no \(modality) (it has \(missing.modalities.joined(separator: ", ")))")
            }
            self.modality = modality
        } else {
            self.modality = subjects.allSatisfy { $0.modalities.contains(Modality.t1w.rawValue) } ? Modality.t1w.rawValue : ""
        }
    }

    /// Features and labels (0 CSF, 1 GM, 2 WM) of one subject's tokens inside the atlas brain.
    func tokens(of key: String, embedder: TokenEmbedder) throws -> (features: Matrix<Float>, labels: [Int]) {
        let reader = try dataset.reader(for: key)
        let d = try reader.describe(key)
        let index = modality.isEmpty ? 0 : (d.modalities.firstIndex(of: modality) ?? 0)
        let brain = try BrainTokens(reader: reader, key: key, embedder: embedder)
        return (try brain.features(try reader.imageBox(key, modality: index, origin: .zero, size: d.size), embedder: embedder), brain.labels)
    }

    /// Fits and scores a classifier on `model`'s features.
    public func evaluate(_ model: TrainedModel, name: String) throws -> Result {
        let embedder = TokenEmbedder(model)
        func gather(_ keys: [String]) throws -> (Matrix<Float>, [Int]) {
            var values: [Float] = [], labels: [Int] = [], columns = 0
            for key in keys {
                let t = try tokens(of: key, embedder: embedder)
                values += t.features.values
                labels += t.labels
                columns = t.features.columns
            }
            return (Matrix(rows: labels.count, columns: columns, values: values), labels)
        }
        let (trainX, trainY) = try gather(trainingKeys), (testX, testY) = try gather(heldOutKeys)
        guard !trainY.isEmpty, !testY.isEmpty else { throw TrainingError("no brain tokens to fit or score (are the atlas labels empty?)") }
        let probe = LinearProbe(features: trainX, labels: trainY, classes: Self.classNames.count)
        return Result(model: name, scores: SegmentationScores(predicted: probe.predict(testX), truth: testY, classes: Self.classNames.count),
                      trainingTokens: trainY.count, heldOutTokens: testY.count)
    }
}

/// The tokens of a subject's embedding that lie inside the atlas brain, with their tissue labels (0 CSF, 1 GM,
/// 2 WM, from the shard's token-grid atlas labels at the token centre): what the probes fit and score.
struct BrainTokens {
    /// Rows of the embedding's token grid, position-major.
    let rows: [Int]
    let labels: [Int]
    let size: SIMD3<Int>

    init(reader: ShardReader, key: String, embedder: TokenEmbedder) throws {
        let d = try reader.describe(key)
        let atlas = try reader.atlasBox(key)
        let s = embedder.trained.configuration.model.tokenStride
        let grid = embedder.grid(for: d.size), stored = Double(reader.tokenStride)
        var rows: [Int] = [], labels: [Int] = []
        for k in 0..<grid.z { for j in 0..<grid.y { for i in 0..<grid.x {
            let centre = (SIMD3<Double>(Double(i), Double(j), Double(k)) * Double(s)) + Double(s - 1) / 2
            guard centre.x < Double(d.size.x), centre.y < Double(d.size.y), centre.z < Double(d.size.z) else { continue }
            let g = pointwiseMin(SIMD3<Int>((centre / stored).rounded(.toNearestOrAwayFromZero)), atlas.size &- 1)
            let label = Int(atlas.labels[(g.z * atlas.size.y + g.y) * atlas.size.x + g.x])
            guard label > 0 else { continue }
            rows.append((k * grid.y + j) * grid.x + i)
            labels.append(label - 1)
        } } }
        self.rows = rows
        self.labels = labels
        size = d.size
    }

    /// The brain tokens' features of `image` (the subject's voxels of one modality) under `embedder`.
    func features(_ image: [Float], embedder: TokenEmbedder) throws -> Matrix<Float> {
        let embedded = try embedder.embed(image, size: size)
        let c = embedded.values.columns
        var features = Matrix<Float>(zeros: rows.count, c)
        for (r, t) in rows.enumerated() { for j in 0..<c { features.values[r * c + j] = embedded.values.values[t * c + j] } }
        return features
    }
}
