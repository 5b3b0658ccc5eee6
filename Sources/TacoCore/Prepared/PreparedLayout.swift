import Foundation

/// Where `taco prep` puts its files and where every later stage finds them (docs/prep.md, "Output"):
///
/// ```
/// PREPARED/dataset_description.json · participants.tsv · prep-report.json · datalist.json
/// PREPARED/prep-parts/part-<i>-of-<n>.json                 what part i of n of a split run did
/// PREPARED/sub-<id>/ses-<id>/anat/sub-<id>_ses-<id>_desc-preproc_<modality>.nii.gz   (and .json sidecar)
/// PREPARED/sub-<id>/ses-<id>/anat/sub-<id>_ses-<id>_desc-brain_mask.nii.gz
/// PREPARED/sub-<id>/ses-<id>/subject.json · qc.png
/// ```
///
/// This type is the only place that spells these names.
///
/// ```swift
/// let layout = PreparedLayout(root: URL(fileURLWithPath: "prepared"))
/// let session = PreparedLayout.Session(subject: "a1", session: "b2")
/// layout.volume(session, modality: "T1w")   // prepared/sub-a1/ses-b2/anat/sub-a1_ses-b2_desc-preproc_T1w.nii.gz
/// session.key                                // "sub-a1_ses-b2" (its key in shards and features)
/// ```
public struct PreparedLayout: Sendable, Equatable {
    public let root: URL

    public init(root: URL) { self.root = root }

    /// A session's pseudonymous labels (letters and digits, without the `sub-` / `ses-` prefixes).
    public struct Session: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
        public let subject: String
        public let session: String

        public init(subject: String, session: String) {
            self.subject = subject
            self.session = session
        }

        /// `sub-<id>_ses-<id>`: the session's key in shards, features and file names.
        public var key: String { "sub-\(subject)_ses-\(session)" }
        /// `sub-<id>`, as participants.tsv and datalist.json name the subject.
        public var participant: String { "sub-\(subject)" }
        /// `ses-<id>`, as datalist.json names the session.
        public var sessionName: String { "ses-\(session)" }
        /// `sub-<id> ses-<id>`, for messages.
        public var description: String { "\(participant) \(sessionName)" }
        /// The session folder relative to the root.
        public var folderPath: String { "\(participant)/\(sessionName)" }
        /// File names relative to the session folder.
        public func volumePath(_ modality: String) -> String { "anat/\(key)_desc-preproc_\(modality).nii.gz" }
        public func sidecarPath(_ modality: String) -> String { "anat/\(key)_desc-preproc_\(modality).json" }
        public var maskPath: String { "anat/\(key)_desc-brain_mask.nii.gz" }
        public static let summaryPath = "subject.json"
        public static let picturePath = "qc.png"
        public static let anatPath = "anat"

        public static func < (a: Session, b: Session) -> Bool { (a.subject, a.session) < (b.subject, b.session) }
    }

    // MARK: Dataset-level files

    public var report: URL { root.appendingPathComponent("prep-report.json") }
    public var datalist: URL { root.appendingPathComponent("datalist.json") }
    public var participants: URL { root.appendingPathComponent("participants.tsv") }
    public var datasetDescription: URL { root.appendingPathComponent("dataset_description.json") }
    public var parts: URL { root.appendingPathComponent("prep-parts") }
    public func part(index: Int, count: Int) -> URL { parts.appendingPathComponent("part-\(index + 1)-of-\(count).json") }

    // MARK: A session's files

    public func subjectFolder(_ subject: String) -> URL { root.appendingPathComponent(Session(subject: subject, session: "").participant) }
    public func folder(_ s: Session) -> URL { root.appendingPathComponent(s.folderPath) }
    public func volume(_ s: Session, modality: String) -> URL { folder(s).appendingPathComponent(s.volumePath(modality)) }
    public func mask(_ s: Session) -> URL { folder(s).appendingPathComponent(s.maskPath) }
    public func summary(_ s: Session) -> URL { folder(s).appendingPathComponent(Session.summaryPath) }
    public func picture(_ s: Session) -> URL { folder(s).appendingPathComponent(Session.picturePath) }

    /// Where a session is built before it is renamed into place, and where a rewritten one steps aside.
    public func stagingFolder(_ s: Session) -> URL {
        subjectFolder(s.subject).appendingPathComponent(".ses-\(s.session).partial-\(UUID().uuidString.prefix(8))")
    }
    public func asideFolder(_ s: Session) -> URL {
        subjectFolder(s.subject).appendingPathComponent(".ses-\(s.session).old-\(UUID().uuidString.prefix(8))")
    }

    /// What an interrupted write of `s` may have left in its subject folder: (temporary folder, whether it
    /// is the complete old session that stepped aside).
    public func leftovers(_ s: Session) -> [(url: URL, isAside: Bool)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: subjectFolder(s.subject).path)) ?? []
        return names.sorted().compactMap { name in
            if name.hasPrefix(".ses-\(s.session).partial-") { return (subjectFolder(s.subject).appendingPathComponent(name), false) }
            if name.hasPrefix(".ses-\(s.session).old-") { return (subjectFolder(s.subject).appendingPathComponent(name), true) }
            return nil
        }
    }

    /// The session a folder `.../sub-<id>/ses-<id>` holds, or nil when it is not named so.
    public static func session(ofFolder folder: URL) -> Session? {
        let session = folder.lastPathComponent, subject = folder.deletingLastPathComponent().lastPathComponent
        guard session.hasPrefix("ses-"), subject.hasPrefix("sub-"), session.count > 4, subject.count > 4 else { return nil }
        return Session(subject: String(subject.dropFirst(4)), session: String(session.dropFirst(4)))
    }

    /// Every session folder under the root, sorted by key.
    public func sessions() -> [Session] {
        func folders(_ url: URL, prefix: String) -> [String] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
            return names.filter { name in
                var isFolder: ObjCBool = false
                return name.hasPrefix(prefix) && name.count > prefix.count
                    && FileManager.default.fileExists(atPath: url.appendingPathComponent(name).path, isDirectory: &isFolder) && isFolder.boolValue
            }
        }
        return folders(root, prefix: "sub-").flatMap { subject in
            folders(root.appendingPathComponent(subject), prefix: "ses-").map {
                Session(subject: String(subject.dropFirst(4)), session: String($0.dropFirst(4)))
            }
        }.sorted { $0.key < $1.key }
    }
}

/// The part of a session's `subject.json` that later stages and reruns read (the writer adds metrics,
/// the grid and the configuration's details; docs/prep.md lists every key).
public struct PreparedSummary: Sendable, Equatable {
    public var modalities: [String]
    public var reference: String?
    public var inputFingerprint: String?
    public var configuration: [String: String]?
    public var qcFlags: [String]
    public var inputFailures: [String: String]

    /// Reads `subject.json`; nil when it is missing or not a JSON object.
    public init?(contentsOf url: URL) {
        guard let data = FileManager.default.contents(atPath: url.path),
              let summary = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        modalities = summary["modalities"] as? [String] ?? []
        reference = summary["reference"] as? String
        inputFingerprint = summary["input_fingerprint"] as? String
        configuration = summary["configuration"] as? [String: String]
        qcFlags = summary["qc_flags"] as? [String] ?? []
        inputFailures = summary["input_failures"] as? [String: String] ?? [:]
    }
}
