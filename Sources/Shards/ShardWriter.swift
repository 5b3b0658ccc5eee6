import Foundation

/// Writes one shard file subject by subject (never holding the shard in memory), under a temporary
/// name that becomes the final name only in ``finish()``.
///
/// ```swift
/// let writer = try ShardWriter(url: out.appendingPathComponent("shard-0001.h5"), atlas: "mni152-2009a-sym", tokenStride: 4, createdBy: "taco 0.1.0")
/// try writer.add(subject)
/// let bytes = try writer.finish()
/// ```
public final class ShardWriter: @unchecked Sendable {
    public let url: URL
    public let atlas: String
    public let tokenStride: Int
    private let partial: URL
    /// How this writer stores images (subjects copied from other shards keep their own storage).
    public let imageCompression: ShardFormat.ImageCompression
    private var file: HDF5File?
    /// Keys written so far, in order.
    public private(set) var keys: [String] = []

    /// `@unchecked Sendable`: one writer is used by one thread at a time (it owns an HDF5 handle).
    /// A shard at `url` (built under a temporary name until ``finish()``); `imageCompression` says how the
    /// subjects' images are stored.
    public init(url: URL, atlas: String, tokenStride: Int, createdBy: String, imageCompression: ShardFormat.ImageCompression = .gzip) throws {
        self.imageCompression = imageCompression
        self.url = url
        self.atlas = atlas
        self.tokenStride = tokenStride
        partial = url.deletingLastPathComponent().appendingPathComponent("." + url.lastPathComponent + ".partial")
        let file = try HDF5File.create(partial)
        self.file = file
        try file.setAttribute("format", to: ShardFormat.name)
        try file.setAttribute("version", to: [ShardFormat.version], scalar: true)
        try file.setAttribute("atlas", to: atlas)
        try file.setAttribute("token_stride", to: [Int64(tokenStride)], scalar: true)
        try file.setAttribute("created_by", to: createdBy)
        try file.createGroup("/subjects")
    }

    /// Appends one subject (validated first).
    public func add(_ subject: ShardSubject) throws {
        guard let file else { throw ShardError(reason: "\(url.path): the shard is already finished") }
        try subject.validate()
        guard !keys.contains(subject.key) else { throw ShardError(reason: "subject \(subject.key) is already in \(url.lastPathComponent)") }
        let group = ShardFormat.group(subject.key)
        try file.createGroup(group)
        let (x, y, z) = (subject.size.x, subject.size.y, subject.size.z)
        let t = subject.tokenGridSize
        try file.write(subject.image.map { Float16($0) }, shape: [subject.modalities.count, z, y, x], to: group + "/image",
                       type: .float16, storage: ShardFormat.imageStorage(imageCompression))
        try file.write(subject.mask, shape: [z, y, x], to: group + "/mask", type: .uint8, storage: ShardFormat.storage(ShardFormat.volumeChunk))
        try file.write(subject.atlasCoords, shape: [3, t.z, t.y, t.x], to: group + "/atlas_coords", type: .float32,
                       storage: ShardFormat.storage([1] + ShardFormat.volumeChunk))
        try file.write(subject.atlasLabels, shape: [t.z, t.y, t.x], to: group + "/atlas_labels", type: .uint8,
                       storage: ShardFormat.storage(ShardFormat.volumeChunk))
        try file.write(subject.confidence.map { Float16($0) }, shape: [t.z, t.y, t.x], to: group + "/confidence", type: .float16,
                       storage: ShardFormat.storage(ShardFormat.volumeChunk))
        try file.setAttribute("modalities", of: group, to: subject.modalities)
        try file.setAttribute("affine", of: group, to: subject.affine, shape: [4, 4])
        try file.setAttribute("spacing", of: group, to: subject.spacing, shape: [3])
        try file.setAttribute("flags", of: group, to: subject.flags)
        for (name, value) in subject.metrics.sorted(by: { $0.key < $1.key }) {
            try file.setAttribute("metric_" + name, of: group, to: [value], shape: [])
        }
        keys.append(subject.key)
    }

    /// Appends subject `key` of another shard as it is stored there (compressed chunks copied, not decoded).
    public func copySubject(_ key: String, from reader: ShardReader) throws {
        guard let file else { throw ShardError(reason: "\(url.path): the shard is already finished") }
        guard !keys.contains(key) else { throw ShardError(reason: "subject \(key) is already in \(url.lastPathComponent)") }
        guard reader.tokenStride == tokenStride, reader.atlas == atlas else {
            throw ShardError(reason: "\(reader.url.path): atlas \(reader.atlas), token stride \(reader.tokenStride); this shard has \(atlas), \(tokenStride)")
        }
        guard reader.file.exists(ShardFormat.group(key)) else { throw ShardError(reason: "\(reader.url.path): no subject \(key)") }
        try file.copy(ShardFormat.group(key), from: reader.file, to: ShardFormat.group(key))
        keys.append(key)
    }

    /// Closes the file and gives it its final name; returns its size in bytes.
    @discardableResult
    public func finish() throws -> Int {
        guard let file else { throw ShardError(reason: "\(url.path): the shard is already finished") }
        file.close()
        self.file = nil
        let fm = FileManager.default
        if fm.fileExists(atPath: url.path) { try fm.removeItem(at: url) }
        try fm.moveItem(at: partial, to: url)
        return (try fm.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
    }

    /// Abandons the shard: the temporary file is removed, nothing appears under the final name.
    public func discard() {
        file?.close()
        file = nil
        try? FileManager.default.removeItem(at: partial)
    }

    deinit { if file != nil { discard() } }
}
