import Foundation

/// Where a training run keeps its files (`taco train SHARDS --out RUN`).
public struct RunLayout: Sendable {
    public let folder: URL

    public init(folder: URL) { self.folder = folder }

    /// One JSON object per step.
    public var metrics: URL { folder.appendingPathComponent("metrics.jsonl") }
    /// The loss curves, redrawn during training.
    public var lossCurve: URL { folder.appendingPathComponent("loss.png") }
    /// Periodic checkpoints (weights, optimiser state, step, stream position, configuration).
    public var checkpoints: URL { folder.appendingPathComponent(Self.checkpointsFolder) }
    /// The name of the checkpoints' folder inside a run.
    public static let checkpointsFolder = "checkpoints"
    /// The final weights only (for `taco embed`, `taco probe`, PyTorch).
    public var weights: URL { folder.appendingPathComponent("model.safetensors") }
    /// The resolved configuration, as JSON.
    public var configuration: URL { folder.appendingPathComponent("configuration.json") }

    public func checkpoint(step: Int) -> URL { checkpoints.appendingPathComponent(String(format: "step-%07d.safetensors", step)) }

    /// Checkpoint files, oldest first.
    public func checkpointFiles() throws -> [URL] {
        guard FileManager.default.fileExists(atPath: checkpoints.path) else { return [] }
        return try FileManager.default.contentsOfDirectory(atPath: checkpoints.path)
            .filter { $0.hasPrefix("step-") && $0.hasSuffix(".safetensors") }.sorted().map { checkpoints.appendingPathComponent($0) }
    }

    public func latestCheckpoint() throws -> URL? { try checkpointFiles().last }
}
