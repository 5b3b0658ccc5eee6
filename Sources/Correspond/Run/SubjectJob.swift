import Foundation

/// One prepared session's atlas mapping, as the batch hands it to a worker process (JSON on its
/// standard input).
public struct SubjectJob: Sendable, Codable, Equatable {
    /// `sub-<id>_ses-<id>`: the subject's key in the shards.
    public let key: String
    /// The prepared session folder.
    public let folder: String
    /// The atlas folder, resolved.
    public let atlasFolder: String
    public let options: CorrespondOptions
    /// Identifies the prepared session's files and the options (see ``CorrespondPlanner``).
    public let fingerprint: String
    /// The output folder.
    public let output: String

    public var layout: CorrespondLayout { CorrespondLayout(root: URL(fileURLWithPath: output)) }
}

/// What a worker reports for its subject (JSON on its standard output), also kept beside the subject's
/// work file so that a rerun can skip it.
public struct SubjectOutcome: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable { case mapped, skipped, failed }
    public var status: Status
    public var fingerprint: String = ""
    /// Why the subject failed (the prepared file and the reason).
    public var reason: String?
    /// QC flags: a flagged subject is kept for intra-subject use and left out of inter-subject matching.
    public var flags: [String] = []
    public var metrics: [String: Double] = [:]
    /// Seconds per step: read, rigid, affine, deformable, maps, write, pictures.
    public var seconds: [String: Double] = [:]
    /// The worker's peak resident memory, bytes.
    public var peakMemoryBytes: Int = 0
    /// The size of the subject's work file, bytes (the packing estimate).
    public var bytes: Int = 0

    public init(status: Status) { self.status = status }
}
