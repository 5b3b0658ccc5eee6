import Foundation

/// Reads a shard: its attributes, its subjects, whole volumes or boxes of them. Every read verifies
/// the chunks' Fletcher32 checksums, so a damaged byte is an error, never a silently wrong value.
public final class ShardReader: @unchecked Sendable {
    public let url: URL
    let file: HDF5File
    public let atlas: String
    public let tokenStride: Int
    public let createdBy: String

    /// `@unchecked Sendable`: all HDF5 access is serialised by HDF5File's process-wide lock.
    public init(url: URL) throws {
        self.url = url
        file = try HDF5File.open(url)
        let format = try file.stringAttribute("format")
        guard format == ShardFormat.name else { throw ShardError(reason: "\(url.path): format '\(format)', not \(ShardFormat.name)") }
        let version = Int64(try file.numbersAttribute("version").first ?? 0)
        guard version == ShardFormat.version else {
            throw ShardError(reason: "\(url.path): shard version \(version); this TacoKit reads version \(ShardFormat.version)")
        }
        atlas = try file.stringAttribute("atlas")
        tokenStride = Int(try file.numbersAttribute("token_stride").first ?? 0)
        createdBy = try file.stringAttribute("created_by")
    }

    /// The subjects' keys, sorted.
    public func keys() throws -> [String] { try file.members(of: "/subjects") }

    /// What a subject holds, without its voxels.
    public struct Description: Sendable, Equatable {
        public let key: String
        public let modalities: [String]
        /// (x, y, z)
        public let size: SIMD3<Int>
        public let tokenGridSize: SIMD3<Int>
        public let affine: [Double]
        public let spacing: [Double]
        public let metrics: [String: Double]
        public let flags: [String]
    }

    public func describe(_ key: String) throws -> Description {
        let group = ShardFormat.group(key)
        let image = try file.shape(of: group + "/image")
        let tokens = try file.shape(of: group + "/atlas_labels")
        var metrics: [String: Double] = [:]
        for name in try attributeNames(of: group) where name.hasPrefix("metric_") {
            metrics[String(name.dropFirst(7))] = try file.numbersAttribute(name, of: group).first
        }
        return Description(key: key, modalities: try file.stringsAttribute("modalities", of: group),
                           size: SIMD3(image[3], image[2], image[1]), tokenGridSize: SIMD3(tokens[2], tokens[1], tokens[0]),
                           affine: try file.numbersAttribute("affine", of: group), spacing: try file.numbersAttribute("spacing", of: group),
                           metrics: metrics, flags: try file.stringsAttribute("flags", of: group))
    }

    /// A whole subject, voxels included.
    public func subject(_ key: String) throws -> ShardSubject {
        let d = try describe(key)
        let group = ShardFormat.group(key)
        return ShardSubject(key: key, modalities: d.modalities, size: d.size,
                            image: try file.read(group + "/image", as: .float16, element: Float16.self).map(Float.init),
                            mask: try file.read(group + "/mask", as: .uint8, element: UInt8.self), affine: d.affine, spacing: d.spacing,
                            tokenGridSize: d.tokenGridSize,
                            atlasCoords: try file.read(group + "/atlas_coords", as: .float32, element: Float.self),
                            atlasLabels: try file.read(group + "/atlas_labels", as: .uint8, element: UInt8.self),
                            confidence: try file.read(group + "/confidence", as: .float16, element: Float16.self).map(Float.init),
                            metrics: d.metrics, flags: d.flags)
    }

    /// The box of `size` (x, y, z) voxels at `origin` (x, y, z) of every modality: (M, z, y, x) floats.
    public func imageBox(_ key: String, origin: SIMD3<Int>, size: SIMD3<Int>) throws -> [Float] {
        let group = ShardFormat.group(key)
        let m = try file.shape(of: group + "/image")[0]
        return try file.read(group + "/image", as: .float16, start: [0, origin.z, origin.y, origin.x], count: [m, size.z, size.y, size.x],
                             element: Float16.self).map(Float.init)
    }

    /// Reads every dataset of the shard (every chunk's checksum checked); returns the problems found,
    /// one per damaged dataset, empty when the shard is intact.
    public func verify() throws -> [String] {
        var problems: [String] = []
        for name in try file.datasets(under: "/subjects") {
            do { _ = try file.readRaw(name) } catch let error as HDF5Error { problems.append("\(name): \(error.reason)") }
        }
        return problems
    }

    private func attributeNames(of group: String) throws -> [String] { try file.attributeNames(of: group) }
}
