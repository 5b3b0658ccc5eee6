import Foundation

/// A session as `taco prep` wrote it (``PreparedLayout``), read from its files only: `subject.json`
/// names the modalities and the reference; every modality's volume and the mask must exist and share
/// one grid. Any problem is an error naming the file and the reason.
///
/// ```swift
/// let session = try PreparedSession(folder: URL(fileURLWithPath: "prepared/sub-a1/ses-b2"))
/// session.key                   // "sub-a1_ses-b2"
/// session.volumes["T1w"]!.geometry == session.mask.geometry   // true: voxel-aligned
/// ```
public struct PreparedSession: Sendable {
    /// `sub-<id>_ses-<id>`: the key the session gets in a shard.
    public let key: String
    public let labels: PreparedLayout.Session
    public let folder: URL
    public let modalities: [String]
    public let reference: String
    /// Volumes by modality, all on `mask.geometry`.
    public let volumes: [String: Volume]
    public let mask: Volume

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let path: String
        public let reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// Reads the session in `folder` (`.../sub-<id>/ses-<id>`).
    public init(folder: URL) throws {
        guard let labels = PreparedLayout.session(ofFolder: folder) else {
            throw Failure(path: folder.path, reason: "not a prepared session folder (sub-<id>/ses-<id>)")
        }
        try self.init(labels, in: PreparedLayout(root: folder.deletingLastPathComponent().deletingLastPathComponent()))
    }

    /// Reads session `labels` of the prepared folder `layout`.
    public init(_ labels: PreparedLayout.Session, in layout: PreparedLayout) throws {
        let summaryURL = layout.summary(labels)
        guard let summary = PreparedSummary(contentsOf: summaryURL) else { throw Failure(path: summaryURL.path, reason: "missing or not JSON") }
        guard !summary.modalities.isEmpty, let reference = summary.reference, summary.modalities.contains(reference) else {
            throw Failure(path: summaryURL.path, reason: "no modalities or no reference among them")
        }
        func load(_ url: URL) throws -> Volume {
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw Failure(path: url.path, reason: "missing (subject.json lists it)")
            }
            do { return try NIfTIFile.read(url).0 } catch { throw Failure(path: url.path, reason: "unreadable: \(error)") }
        }
        let mask = try load(layout.mask(labels))
        var volumes: [String: Volume] = [:]
        for modality in summary.modalities {
            let url = layout.volume(labels, modality: modality)
            let volume = try load(url)
            guard volume.geometry.isClose(to: mask.geometry, tolerance: 1e-4) else {
                throw Failure(path: url.path, reason: "its grid differs from the mask's: the session is not voxel-aligned")
            }
            volumes[modality] = Volume(geometry: mask.geometry, voxels: volume.voxels)
        }
        key = labels.key
        self.labels = labels
        folder = layout.folder(labels)
        modalities = summary.modalities.sorted()
        self.reference = reference
        self.volumes = volumes
        self.mask = mask
    }
}
