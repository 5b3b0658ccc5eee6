import Foundation
import Imaging

/// A session as `taco prep` wrote it (DESIGN.md §2, "Prepared layout"), read from its files only:
/// `subject.json` names the modalities and the reference; every modality's volume and the mask must
/// exist and share one grid. Any problem is an error naming the file and the reason.
public struct PreparedSession: Sendable {
    /// `sub-<id>_ses-<id>`: the key the session gets in a shard.
    public let key: String
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
        let session = folder.lastPathComponent, subject = folder.deletingLastPathComponent().lastPathComponent
        guard session.hasPrefix("ses-"), subject.hasPrefix("sub-") else {
            throw Failure(path: folder.path, reason: "not a prepared session folder (sub-<id>/ses-<id>)")
        }
        let summaryURL = folder.appendingPathComponent("subject.json")
        guard let data = FileManager.default.contents(atPath: summaryURL.path),
              let summary = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw Failure(path: summaryURL.path, reason: "missing or not JSON")
        }
        guard let modalities = summary["modalities"] as? [String], !modalities.isEmpty,
              let reference = summary["reference"] as? String, modalities.contains(reference) else {
            throw Failure(path: summaryURL.path, reason: "no modalities or no reference among them")
        }
        let stem = "\(subject)_\(session)"
        let anat = folder.appendingPathComponent("anat")
        func load(_ name: String) throws -> Volume {
            let url = anat.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw Failure(path: url.path, reason: "missing (subject.json lists it)")
            }
            do { return try NIfTIFile.read(url).0 } catch { throw Failure(path: url.path, reason: "unreadable: \(error)") }
        }
        let mask = try load("\(stem)_desc-brain_mask.nii.gz")
        var volumes: [String: Volume] = [:]
        for modality in modalities {
            let volume = try load("\(stem)_desc-preproc_\(modality).nii.gz")
            guard volume.geometry.isClose(to: mask.geometry, tolerance: 1e-4) else {
                throw Failure(path: anat.appendingPathComponent("\(stem)_desc-preproc_\(modality).nii.gz").path,
                              reason: "its grid differs from the mask's: the session is not voxel-aligned")
            }
            volumes[modality] = Volume(geometry: mask.geometry, voxels: volume.voxels)
        }
        key = stem
        self.folder = folder
        self.modalities = modalities.sorted()
        self.reference = reference
        self.volumes = volumes
        self.mask = mask
    }
}
