import Foundation
import TacoCore

/// A template atlas: a folder with `atlas.json` naming its template images, tissue probability maps,
/// space and licence (see atlases/mni152-2009a-sym/atlas.json).
///
/// ```swift
/// let atlas = try Atlas.load("mni152-2009a-sym")
/// let t1 = try atlas.template("T1w")          // LPS volume
/// let gm = try atlas.tissueMap("GM")          // probabilities in [0, 1]
/// ```
public struct Atlas: Sendable {
    public let name: String
    public let folder: URL
    /// Standard space name, e.g. "MNI152NLin2009aSym".
    public let space: String
    /// Template image per modality ("T1w": file).
    public let templates: [String: URL]
    /// Tissue probability maps ("GM", "WM": file), stored as probability x `tissueMapScale`.
    public let tissueMaps: [String: URL]
    public let tissueMapScale: Double

    /// An atlas that cannot be used, with the file and the reason.
    public struct LoadError: Error, CustomStringConvertible, Sendable {
        public let path: String
        public let reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// Loads a bundled atlas by name, or an atlas folder by path. Checks that every named file exists.
    public static func load(_ nameOrPath: String, bundledIn roots: [URL] = Atlas.searchRoots) throws -> Atlas {
        var candidates = [URL(fileURLWithPath: nameOrPath)]
        candidates += roots.map { $0.appendingPathComponent(nameOrPath) }
        guard let folder = candidates.first(where: {
            FileManager.default.fileExists(atPath: $0.appendingPathComponent("atlas.json").path)
        }) else {
            throw LoadError(path: nameOrPath, reason: "no atlas folder with an atlas.json (looked in: \(candidates.map(\.path).joined(separator: ", "))); "
                            + "pass --atlas with an atlas folder or set TACO_ATLASES to the folder of bundled atlases")
        }
        return try Atlas(folder: folder)
    }

    /// Reads `folder/atlas.json`.
    public init(folder: URL) throws {
        let descriptor = folder.appendingPathComponent("atlas.json")
        let json: [String: Any]
        do {
            json = try JSONSerialization.jsonObject(with: Data(contentsOf: descriptor)) as? [String: Any] ?? [:]
        } catch {
            throw LoadError(path: descriptor.path, reason: "unreadable JSON: \(error.localizedDescription)")
        }
        guard let templates = json["templates"] as? [String: String], !templates.isEmpty else {
            throw LoadError(path: descriptor.path, reason: "no \"templates\"")
        }
        let tissues = json["tissue_maps"] as? [String: String] ?? [:]
        func resolve(_ files: [String: String]) throws -> [String: URL] {
            try files.mapValues { name in
                let url = folder.appendingPathComponent(name)
                guard FileManager.default.fileExists(atPath: url.path) else {
                    throw LoadError(path: url.path, reason: "named in atlas.json but missing")
                }
                return url
            }
        }
        self.folder = folder
        name = json["name"] as? String ?? folder.lastPathComponent
        space = json["space"] as? String ?? "unknown"
        self.templates = try resolve(templates)
        tissueMaps = try resolve(tissues)
        tissueMapScale = json["tissue_map_scale"] as? Double ?? 1
    }

    /// The template of `modality`.
    public func template(_ modality: String = "T1w") throws -> Volume {
        guard let url = templates[modality] else {
            throw LoadError(path: folder.path, reason: "no \(modality) template (has: \(templates.keys.sorted().joined(separator: ", ")))")
        }
        return try NIfTIFile.read(url).0
    }

    /// A tissue probability map in [0, 1], checked to share the T1w template's grid.
    public func tissueMap(_ tissue: String) throws -> Volume {
        guard let url = tissueMaps[tissue] else {
            throw LoadError(path: folder.path, reason: "no \(tissue) tissue map (has: \(tissueMaps.keys.sorted().joined(separator: ", ")))")
        }
        var map = try NIfTIFile.read(url).0
        let scale = Float(1 / tissueMapScale)
        for i in map.voxels.indices { map.voxels[i] = min(max(map.voxels[i] * scale, 0), 1) }
        if let reference = templates["T1w"] ?? templates.values.first,
           let grid = try? ImageFile.info(reference).geometry, !grid.isClose(to: map.geometry, tolerance: 1e-3) {
            throw LoadError(path: url.path, reason: "tissue map grid differs from the template's")
        }
        return map
    }

    /// Where bundled atlases are looked for by name (``ShippedResources/atlasFolders``).
    public static var searchRoots: [URL] { ShippedResources.atlasFolders }
}
