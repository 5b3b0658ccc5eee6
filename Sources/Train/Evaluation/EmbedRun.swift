import Foundation
import TacoCore

/// `taco embed`'s work: the token features of every session of a prepared folder from a trained encoder,
/// one safetensors file per session (`OUT/<key>_<modality>_tokens.safetensors`: tensor `tokens` (z, y, x,
/// channels), metadata `token_to_ras`, `token_stride`, `modality`, `model_step`). A session that cannot be
/// read or has no such modality fails alone, named with the reason; the others are written.
///
/// ```swift
/// let run = EmbedRun(trained: try TrainedModel(contentsOf: runFolder), prepared: PreparedLayout(root: prepared),
///                    output: features, modality: "T1w")
/// let summary = try run.run { event in print(event) }
/// ```
public struct EmbedRun: Sendable {
    public let trained: TrainedModel
    public let prepared: PreparedLayout
    public let output: URL
    public let modality: String

    public init(trained: TrainedModel, prepared: PreparedLayout, output: URL, modality: String) {
        self.trained = trained
        self.prepared = prepared
        self.output = output
        self.modality = modality
    }

    /// What happened to one session.
    public enum Event: Sendable {
        case written(key: String, grid: SIMD3<Int>, channels: Int, file: URL)
        case failed(key: String, reason: String)
    }

    public struct Summary: Sendable {
        public let sessions: Int
        public let failures: [String: String]
    }

    /// The features file of a session.
    public func file(key: String) -> URL { output.appendingPathComponent("\(key)_\(modality)_tokens.safetensors") }

    /// Embeds every session; throws only for what stops the whole run (no sessions, an output that cannot be made).
    public func run(events: (Event) -> Void) throws -> Summary {
        do { try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true) } catch {
            throw EmbedFailure("\(output.path): cannot create the output folder (\(error.localizedDescription))")
        }
        let sessions = prepared.sessions()
        guard !sessions.isEmpty else { throw EmbedFailure("\(prepared.root.path): no prepared sessions (sub-*/ses-*)") }
        let embedder = TokenEmbedder(trained)
        var failures: [String: String] = [:]
        for labels in sessions {
            do {
                let session = try PreparedSession(labels, in: prepared)
                guard let volume = session.volumes[modality] else {
                    throw EmbedFailure("\(session.folder.path): no \(modality) (it has \(session.modalities.joined(separator: ", ")))")
                }
                let features = try embedder.embed(volume.voxels, size: volume.geometry.size)
                let url = file(key: session.key)
                try features.safeTensors(voxelToRAS: volume.geometry.indexToRAS, metadata: ["modality": modality, "model_step": String(trained.step)])
                    .write(to: url)
                events(.written(key: session.key, grid: features.grid, channels: features.values.columns, file: url))
            } catch {
                failures[labels.key] = "\(error)"
                events(.failed(key: labels.key, reason: "\(error)"))
            }
        }
        return Summary(sessions: sessions.count, failures: failures)
    }
}

/// Why `taco embed` could not embed a session or run at all.
public struct EmbedFailure: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
