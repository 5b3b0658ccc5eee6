/// One training sample: one subject's crop from two different modalities at the
/// same place, with the same spatial augmentation on both and independent intensity augmentation, and
/// what each token of the crop is in atlas space.
///
/// Buffers are C order, x fastest: `first` and `second` are (z, y, x) of `roi`; token arrays are in token
/// order t = (k * gy + j) * gx + i for token (i, j, k) of the (already augmented) crop, position-major
/// (one row of 3 per token for coordinates), so a model's stride-s feature map, permuted to
/// (z, y, x, channels) and flattened, lines up with them.
public struct CropPair: Sendable, Equatable {
    /// The subject's pseudonymous key.
    public var key: String
    /// The shard that holds it.
    public var shard: String
    /// The two modalities (names, and indices into the subject's modalities).
    public var modalities: [String]
    public var modalityIndices: [Int]
    /// Crop size (x, y, z).
    public var roi: SIMD3<Int>
    /// The two views, augmented.
    public var first: [Float]
    public var second: [Float]
    /// Tokens per axis (x, y, z) and the stride in voxels.
    public var tokenGrid: SIMD3<Int>
    public var tokenStride: Int
    /// Atlas RAS mm of every token centre (T x 3), interpolated from the shard's atlas map.
    public var tokenAtlasCoordinates: [Float]
    /// Registration confidence at every token centre, in [0, 1].
    public var tokenConfidence: [Float]
    /// Atlas tissue at every token centre (nearest stored token): 0 background, 1 CSF, 2 GM, 3 WM.
    public var tokenLabels: [UInt8]
    /// The subject's own RAS mm of every token centre (T x 3): where the token is in the prepared volume.
    public var tokenPoints: [Float]
    /// The subject's registration QC flags (a flagged subject's atlas matches are not trusted).
    public var flags: [String]
    /// Mean voxel spacing (mm) of the subject.
    public var spacing: Double
    /// What was done, so that a sample can be reproduced: the voxel (x, y, z) the crop was centred on (a
    /// mask voxel, or the one nearest the batch's atlas point), the crop's first voxel in the subject's grid
    /// before augmentation, the orientation, and each view's intensity scale and shift.
    public var centre: SIMD3<Int>
    public var origin: SIMD3<Int>
    public var orientation: CropOrientation
    public var intensity: [[Double]]

    /// Tokens in the crop.
    public var tokenCount: Int { tokenGrid.x * tokenGrid.y * tokenGrid.z }

    /// Atlas coordinates of token t.
    public func atlasCoordinate(_ t: Int) -> SIMD3<Double> {
        SIMD3(Double(tokenAtlasCoordinates[3 * t]), Double(tokenAtlasCoordinates[3 * t + 1]), Double(tokenAtlasCoordinates[3 * t + 2]))
    }
}
