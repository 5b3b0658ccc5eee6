/// One subject as a shard stores it (docs/shard-format.md): its voxel-aligned modalities, mask,
/// and its map into atlas space sampled every `token_stride` voxels.
///
/// Buffers are C order with x fastest: `image` is (M, z, y, x), `mask` (z, y, x), `atlasCoords`
/// (3, z', y', x'), `atlasLabels` and `confidence` (z', y', x').
public struct ShardSubject: Sendable, Equatable {
    /// The subject's key in the shard (`sub-<id>_ses-<id>`): pseudonymous labels only.
    public var key: String
    public var modalities: [String]
    /// Grid size (x, y, z) of the image and mask.
    public var size: SIMD3<Int>
    /// Modality-major voxels, stored as float16.
    public var image: [Float]
    public var mask: [UInt8]
    /// Voxel (x, y, z) index -> RAS mm, row-major 4x4 (as a NIfTI sform).
    public var affine: [Double]
    /// Voxel spacing (x, y, z), mm.
    public var spacing: [Double]
    /// Size (x', y', z') of the token grid: voxel (x, y, z) = stride * (x', y', z').
    public var tokenGridSize: SIMD3<Int>
    /// Atlas-space RAS mm of each token centre, component-major (x, y, z components).
    public var atlasCoords: [Float]
    /// Atlas tissue at each token centre: 0 background, 1 CSF, 2 GM, 3 WM.
    public var atlasLabels: [UInt8]
    /// Local registration quality in [0, 1] at each token centre (stored as float16).
    public var confidence: [Float]
    /// Global registration metrics (final metric, Jacobian range, folded fraction, ...).
    public var metrics: [String: Double]
    /// Registration QC flags; a flagged subject is left out of inter-instance matching.
    public var flags: [String]

    public init(key: String, modalities: [String], size: SIMD3<Int>, image: [Float], mask: [UInt8], affine: [Double],
                spacing: [Double], tokenGridSize: SIMD3<Int>, atlasCoords: [Float], atlasLabels: [UInt8], confidence: [Float],
                metrics: [String: Double] = [:], flags: [String] = []) {
        self.key = key
        self.modalities = modalities
        self.size = size
        self.image = image
        self.mask = mask
        self.affine = affine
        self.spacing = spacing
        self.tokenGridSize = tokenGridSize
        self.atlasCoords = atlasCoords
        self.atlasLabels = atlasLabels
        self.confidence = confidence
        self.metrics = metrics
        self.flags = flags
    }

    /// Checks that every buffer has the length its shape says, naming the first that does not.
    public func validate() throws {
        let voxels = size.x * size.y * size.z, tokens = tokenGridSize.x * tokenGridSize.y * tokenGridSize.z
        let checks: [(String, Int, Int)] = [
            ("image", image.count, modalities.count * voxels), ("mask", mask.count, voxels), ("affine", affine.count, 16),
            ("spacing", spacing.count, 3), ("atlas_coords", atlasCoords.count, 3 * tokens),
            ("atlas_labels", atlasLabels.count, tokens), ("confidence", confidence.count, tokens),
        ]
        for (name, count, expected) in checks where count != expected {
            throw ShardError(reason: "subject \(key): \(name) has \(count) values, its shape needs \(expected)")
        }
        guard !modalities.isEmpty else { throw ShardError(reason: "subject \(key): no modality") }
        guard key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw ShardError(reason: "subject key '\(key)' has characters other than letters, digits, - and _")
        }
    }
}

/// A shard that cannot be written or read as the format says, with the reason.
public struct ShardError: Error, CustomStringConvertible, Sendable {
    public let reason: String
    public init(reason: String) { self.reason = reason }
    public var description: String { reason }
}
