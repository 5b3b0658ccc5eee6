import Foundation
import TacoCore

/// One session's work, as the planner hands it to a worker process (JSON on the worker's standard
/// input). It holds input paths, so it never goes to a file in the output.
public struct SessionJob: Sendable, Codable, Equatable {
    /// One modality's input.
    public struct Source: Sendable, Codable, Equatable {
        public enum Kind: String, Sendable, Codable { case dicom, nifti }
        public let modality: String
        public let kind: Kind
        /// DICOM: the series' files in slice order; NIfTI: one file.
        public let files: [String]
        /// The technical sidecar (JSON text), if any.
        public let sidecar: String?
        /// The report entry this source stands for (index into the plan's report).
        public let reportIndex: Int
        /// Other inputs of the same class in the session, in order of preference: the worker reads the first of
        /// them that reads when this one cannot be read.
        public var fallbacks: [Source] = []

        public init(modality: String, kind: Kind, files: [String], sidecar: String?, reportIndex: Int, fallbacks: [Source] = []) {
            self.modality = modality
            self.kind = kind
            self.files = files
            self.sidecar = sidecar
            self.reportIndex = reportIndex
            self.fallbacks = fallbacks
        }
    }

    /// Pseudonymous labels.
    public let subject: String
    public let session: String
    public let sources: [Source]
    /// Identifies the inputs without revealing them (see ``PreparedSessionWriter/fingerprint(of:)``).
    public let fingerprint: String
    public let options: PrepOptions
    /// The output folder (the dataset root).
    public let output: String

    /// The session's labels in the prepared layout.
    public var labels: PreparedLayout.Session { PreparedLayout.Session(subject: subject, session: session) }
    /// "sub-<subject> ses-<session>", for messages.
    public var name: String { labels.description }
}

/// What a worker reports back for its session (JSON on its standard output).
public struct SessionOutcome: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable { case prepared, skipped, failed }
    public var status: Status
    /// The modalities written (or found, for a skipped session).
    public var modalities: [String] = []
    public var reference: String?
    public var qcFlags: [String] = []
    /// Why the session failed (paths replaced by "file k").
    public var reason: String?
    /// Per modality none of whose inputs could be read: the reason (the preferred input's).
    public var inputFailures: [String: String] = [:]
    /// Per modality whose preferred input could not be read but a fallback could: the fallback's report index.
    public var fallbackUsed: [String: Int] = [:]
    /// Why each input that could not be read failed, by its report index (as text: JSON keys).
    public var readFailures: [String: String] = [:]
    /// Seconds per step: decode, resample, register, mask, bias_correction, normalise, write.
    public var seconds: [String: Double] = [:]
    /// The worker's peak resident memory, bytes (VmHWM).
    public var peakMemoryBytes: Int = 0

    public init(status: Status) { self.status = status }
}
