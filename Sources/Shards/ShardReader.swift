import Foundation

/// Reads a shard: its attributes, its subjects, whole volumes or boxes of them. Every read verifies
/// the chunks' Fletcher32 checksums, so a damaged byte is an error, never a silently wrong value.
public final class ShardReader: @unchecked Sendable {
    public let url: URL
    let file: HDF5File
    public let atlas: String
    public let tokenStride: Int
    public let createdBy: String
    /// The shard's format version (``ShardFormat/readableVersions``).
    public let version: Int64

    /// `@unchecked Sendable`: all HDF5 access is serialised by HDF5File's process-wide lock.
    public init(url: URL) throws {
        self.url = url
        file = try HDF5File.open(url)
        // The version (a number) before any string, so that nothing of another format is parsed further.
        version = Int64(try file.numbersAttribute("version").first ?? 0)
        guard ShardFormat.readableVersions.contains(version) else {
            throw ShardError(reason: "\(url.path): shard version \(version); this TacoKit reads versions \(ShardFormat.readableVersions.lowerBound)-\(ShardFormat.readableVersions.upperBound)")
        }
        let format = try file.stringAttribute("format")
        guard format == ShardFormat.name else { throw ShardError(reason: "\(url.path): format '\(format)', not \(ShardFormat.name)") }
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
        try reading(key, "description") { try describeUnnamed(key) }
    }

    /// Checks what the shard format promises of a subject (docs/shard-format.md): every dataset present with
    /// its rank and matching shapes, one image per modality, a 4x4 affine and three spacings. A shard written
    /// by other code that breaks a promise is an error naming the dataset, never a crash later in a reader.
    private func describeUnnamed(_ key: String) throws -> Description {
        let group = ShardFormat.group(key)
        let image = try shape(group, "image", rank: 4)
        let mask = try shape(group, "mask", rank: 3)
        let tokens = try shape(group, "atlas_labels", rank: 3)
        let coordinates = try shape(group, "atlas_coords", rank: 4)
        let confidence = try shape(group, "confidence", rank: 3)
        guard Array(image.dropFirst()) == mask else { throw ShardError(reason: "mask: shape \(mask), the image's volumes are \(Array(image.dropFirst()))") }
        guard coordinates == [3] + tokens, confidence == tokens else {
            throw ShardError(reason: "atlas maps: atlas_coords \(coordinates), atlas_labels \(tokens), confidence \(confidence) do not agree")
        }
        let modalities = try file.stringsAttribute("modalities", of: group)
        guard modalities.count == image[0] else { throw ShardError(reason: "image: \(image[0]) volumes for \(modalities.count) modalities") }
        let affine = try file.numbersAttribute("affine", of: group), spacing = try file.numbersAttribute("spacing", of: group)
        guard affine.count == 16, spacing.count == 3 else { throw ShardError(reason: "affine (\(affine.count) numbers) or spacing (\(spacing.count)) malformed") }
        var metrics: [String: Double] = [:]
        for name in try attributeNames(of: group) where name.hasPrefix("metric_") {
            metrics[String(name.dropFirst(7))] = try file.numbersAttribute(name, of: group).first
        }
        return Description(key: key, modalities: modalities,
                           size: SIMD3(image[3], image[2], image[1]), tokenGridSize: SIMD3(tokens[2], tokens[1], tokens[0]),
                           affine: affine, spacing: spacing, metrics: metrics, flags: try file.stringsAttribute("flags", of: group))
    }

    /// The shape of `dataset` in `group`, which must have `rank` dimensions, none of them empty.
    private func shape(_ group: String, _ dataset: String, rank: Int) throws -> [Int] {
        let shape = try file.shape(of: group + "/" + dataset)
        guard shape.count == rank, shape.allSatisfy({ $0 > 0 }) else {
            throw ShardError(reason: "\(dataset): shape \(shape); the shard format has \(rank) non-empty dimensions")
        }
        return shape
    }

    /// A whole subject, voxels included.
    public func subject(_ key: String) throws -> ShardSubject {
        try reading(key, "volumes") { try wholeSubject(key) }
    }

    private func wholeSubject(_ key: String) throws -> ShardSubject {
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
        let m = try reading(key, "image") { try shape(ShardFormat.group(key), "image", rank: 4)[0] }
        return try (0..<m).flatMap { try imageBox(key, modality: $0, origin: origin, size: size) }
    }

    /// The box of `size` (x, y, z) voxels at `origin` (x, y, z) of modality `modality` (an index into the
    /// subject's `modalities`): (z, y, x) floats. Only the chunks the box touches are read. Voxels of the box
    /// outside the volume are 0 (the prepared background), so a box may overhang a small volume.
    public func imageBox(_ key: String, modality: Int, origin: SIMD3<Int>, size: SIMD3<Int>) throws -> [Float] {
        try reading(key, "image") {
            let dims = try shape(ShardFormat.group(key), "image", rank: 4)
            guard (0..<dims[0]).contains(modality) else { throw ShardError(reason: "no modality \(modality) (the subject has \(dims[0]))") }
            return try Self.padded(volume: SIMD3(dims[3], dims[2], dims[1]), origin: origin, size: size, outside: Float(0)) { start, count in
                let name = ShardFormat.group(key) + "/image", first = [modality, start.z, start.y, start.x], extent = [1, count.z, count.y, count.x]
                // The chunks are read raw under HDF5's lock and decoded outside it on every core; a pipeline with
                // other filters goes through HDF5's own read.
                if let stored = try file.storedChunks(of: name, start: first, count: extent) {
                    return try ChunkDecoder.float16Box(stored, start: first, count: extent, path: file.path)
                }
                return try file.read(name, as: .float16, start: first, count: extent, element: Float16.self).map(Float.init)
            }
        }
    }

    /// The mask's box of `size` (x, y, z) voxels at `origin`: (z, y, x), 0 outside the volume.
    public func maskBox(_ key: String, origin: SIMD3<Int>, size: SIMD3<Int>) throws -> [UInt8] {
        try reading(key, "mask") {
            let dims = try shape(ShardFormat.group(key), "mask", rank: 3)
            return try Self.padded(volume: SIMD3(dims[2], dims[1], dims[0]), origin: origin, size: size, outside: UInt8(0)) { start, count in
                try file.read(ShardFormat.group(key) + "/mask", as: .uint8, start: [start.z, start.y, start.x], count: [count.z, count.y, count.x],
                              element: UInt8.self)
            }
        }
    }

    /// A subject's maps into atlas space on (part of) its token grid.
    public struct AtlasBox: Sendable, Equatable {
        /// Token-grid index (x', y', z') of the box's first token.
        public let origin: SIMD3<Int>
        /// (x', y', z') tokens.
        public let size: SIMD3<Int>
        /// Atlas RAS mm, component-major: (3, z', y', x').
        public let coordinates: [Float]
        /// (z', y', x'): 0 background, 1 CSF, 2 GM, 3 WM.
        public let labels: [UInt8]
        /// (z', y', x') in [0, 1].
        public let confidence: [Float]
    }

    /// The atlas maps at token-grid indices `origin ..< origin + size` (x', y', z'), clipped to the grid
    /// (the returned box says what was read). Pass no box for the whole grid.
    public func atlasBox(_ key: String, origin: SIMD3<Int> = .zero, size: SIMD3<Int>? = nil) throws -> AtlasBox {
        try reading(key, "atlas maps") {
            let group = ShardFormat.group(key)
            let dims = try shape(group, "atlas_labels", rank: 3)
            let grid = SIMD3(dims[2], dims[1], dims[0])
            let start = pointwiseMin(pointwiseMax(origin, .zero), grid)
            let end = pointwiseMax(pointwiseMin(origin &+ (size ?? grid), grid), start)
            let count = end &- start
            guard count.x > 0, count.y > 0, count.z > 0 else {
                return AtlasBox(origin: start, size: count, coordinates: [], labels: [], confidence: [])
            }
            let s = [start.z, start.y, start.x], c = [count.z, count.y, count.x]
            return AtlasBox(origin: start, size: count,
                            coordinates: try file.read(group + "/atlas_coords", as: .float32, start: [0] + s, count: [3] + c, element: Float.self),
                            labels: try file.read(group + "/atlas_labels", as: .uint8, start: s, count: c, element: UInt8.self),
                            confidence: try file.read(group + "/confidence", as: .float16, start: s, count: c, element: Float16.self).map(Float.init))
        }
    }

    /// How subject `key`'s image is stored: its filter pipeline in write order (deflate, shuffle, Fletcher32).
    public func imageFilters(_ key: String) throws -> [StoredChunks.Filter] {
        try reading(key, "image") {
            try file.storedChunks(of: ShardFormat.group(key) + "/image", start: [0, 0, 0, 0], count: [1, 1, 1, 1])?.filters ?? []
        }
    }

    /// Runs a read of subject `key`'s `what`, turning any failure into an error that names the shard and the subject.
    func reading<R>(_ key: String, _ what: String, _ body: () throws -> R) throws -> R {
        do {
            return try body()
        } catch let error as HDF5Error {
            throw ShardError(reason: "\(url.lastPathComponent), subject \(key): cannot read its \(what): "
                             + (error.isDamagedData ? "damaged data (a stored chunk fails decompression or its Fletcher32 checksum): " : "")
                             + error.reason)
        } catch let error as ShardError {
            throw ShardError(reason: "\(url.lastPathComponent), subject \(key): \(what): \(error.reason)")
        }
    }

    /// A box of a (z, y, x) volume of size `volume` (x, y, z) read through `read(start, count)` of the part
    /// inside it, the rest filled with `outside`.
    static func padded<T>(volume: SIMD3<Int>, origin: SIMD3<Int>, size: SIMD3<Int>, outside: T,
                          read: (SIMD3<Int>, SIMD3<Int>) throws -> [T]) throws -> [T] {
        let start = pointwiseMin(pointwiseMax(origin, .zero), volume)
        let end = pointwiseMax(pointwiseMin(origin &+ size, volume), start)
        let count = end &- start
        if start == origin, count == size { return try read(start, count) }
        var out = [T](repeating: outside, count: size.x * size.y * size.z)
        guard count.x > 0, count.y > 0, count.z > 0 else { return out }
        let inside = try read(start, count)
        let offset = start &- origin
        for z in 0..<count.z {
            for y in 0..<count.y {
                let source = (z * count.y + y) * count.x
                let target = ((z + offset.z) * size.y + y + offset.y) * size.x + offset.x
                for x in 0..<count.x { out[target + x] = inside[source + x] }
            }
        }
        return out
    }

    /// Reads every dataset of the shard (every chunk's checksum checked); returns the problems found,
    /// one per damaged dataset, empty when the shard is intact.
    public func verify() throws -> [String] {
        var problems: [String] = []
        for name in try file.datasets(under: "/subjects") {
            do { _ = try file.readRaw(name) } catch let error as HDF5Error { problems.append("\(url.lastPathComponent): \(name): \(error.reason)") }
        }
        return problems
    }

    private func attributeNames(of group: String) throws -> [String] { try file.attributeNames(of: group) }
}
