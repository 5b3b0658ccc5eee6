import Crypto
import Foundation
import TacoCore
import Imaging

/// Finds the prepared sessions of a `taco prep` output (`sub-*/ses-*` folders) and makes one
/// ``SubjectJob`` per session of this part, in key order.
///
/// A session's fingerprint hashes its `subject.json`, the names and sizes of its volumes and the
/// options' configuration: a rerun skips a session whose fingerprint is unchanged.
public struct CorrespondPlanner: Sendable {
    public let prepared: URL
    public let layout: CorrespondLayout
    public let options: CorrespondOptions
    public let atlas: Atlas
    public let version: String

    public init(prepared: URL, output: URL, options: CorrespondOptions, atlas: Atlas, version: String) {
        self.prepared = prepared
        layout = CorrespondLayout(root: output)
        self.options = options
        self.atlas = atlas
        self.version = version
    }

    public var configuration: [String: String] { options.configuration(atlasName: atlas.name, version: version) }

    /// Every prepared session folder, sorted by key; fails when there is none.
    public func sessionFolders() throws -> [URL] {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: prepared.path, isDirectory: &isFolder), isFolder.boolValue else {
            throw CorrespondFailure("\(prepared.path): no such folder")
        }
        let layout = PreparedLayout(root: prepared)
        let sessions = layout.sessions()
        guard !sessions.isEmpty else {
            throw CorrespondFailure("\(prepared.path): no prepared sessions (sub-<id>/ses-<id> folders); run taco prep first")
        }
        return sessions.map(layout.folder)
    }

    /// `sub-<id>_ses-<id>` of a session folder.
    public static func key(of folder: URL) -> String {
        PreparedLayout.session(ofFolder: folder)?.key ?? folder.lastPathComponent
    }

    /// The jobs of part `index` of `count`: every `count`-th session in key order, starting at `index`.
    public func jobs(index: Int = 0, count: Int = 1) throws -> [SubjectJob] {
        try sessionFolders().enumerated().filter { $0.offset % count == index }.map { _, folder in
            SubjectJob(key: Self.key(of: folder), folder: folder.path, atlasFolder: atlas.folder.path, options: options,
                       fingerprint: fingerprint(of: folder), output: layout.root.path)
        }
    }

    /// SHA-256 of the session's subject.json, its volumes' names and sizes, and the configuration.
    public func fingerprint(of folder: URL) -> String {
        var hasher = SHA256()
        let configuration = self.configuration.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "\n")
        hasher.update(data: Data(configuration.utf8))
        hasher.update(data: FileManager.default.contents(atPath: folder.appendingPathComponent(PreparedLayout.Session.summaryPath).path) ?? Data())
        let anat = folder.appendingPathComponent(PreparedLayout.Session.anatPath)
        for name in ((try? FileManager.default.contentsOfDirectory(atPath: anat.path)) ?? []).sorted() {
            let size = (try? FileManager.default.attributesOfItem(atPath: anat.appendingPathComponent(name).path)[.size] as? Int) ?? -1
            hasher.update(data: Data("\n\(name) \(size)".utf8))
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
