/// How crop pairs are cut from the shards (docs/design.md §2).
public struct SamplingOptions: Sendable, Equatable, Codable {
    /// Crop size (x, y, z) in voxels; each side a multiple of `tokenStride`.
    public var roi: SIMD3<Int>
    /// Voxels between token centres: token (i, j, k) sits at the centre of voxels stride*(i..i+1) of the crop.
    public var tokenStride: Int
    /// Random flips of each axis, the same for both modalities.
    public var flips: Bool
    /// Random 90-degree rotations (axis exchanges between equal sides), the same for both modalities.
    public var rotations: Bool
    /// Each modality's intensities are multiplied by a factor drawn from this range, independently.
    public var intensityScale: ClosedRange<Double>
    /// ... and shifted by an amount drawn from this range, independently.
    public var intensityShift: ClosedRange<Double>
    /// Atlas-space radius (mm) of an inter-instance match; nil: one token spacing (stride x voxel spacing).
    public var matchRadius: Double?
    /// Ordered subject pairs per batch for the inter-instance loss (docs/design.md §2: max_pairs).
    public var maxPairs: Int

    public init(roi: SIMD3<Int> = SIMD3(96, 96, 96), tokenStride: Int = 8, flips: Bool = true, rotations: Bool = true,
                intensityScale: ClosedRange<Double> = 0.9...1.1, intensityShift: ClosedRange<Double> = -0.1...0.1,
                matchRadius: Double? = nil, maxPairs: Int = 6) {
        self.roi = roi
        self.tokenStride = tokenStride
        self.flips = flips
        self.rotations = rotations
        self.intensityScale = intensityScale
        self.intensityShift = intensityShift
        self.matchRadius = matchRadius
        self.maxPairs = maxPairs
    }

    /// Tokens per axis (x, y, z).
    public var tokenGrid: SIMD3<Int> { roi / tokenStride }

    /// Checks the options, naming the first that is wrong.
    public func validate() throws {
        guard tokenStride > 0, roi.x > 0, roi.y > 0, roi.z > 0 else { throw StreamError("the crop size and token stride must be positive") }
        guard roi % tokenStride == .zero else {
            throw StreamError("each crop side (\(roi.x) x \(roi.y) x \(roi.z)) must be a multiple of the token stride \(tokenStride)")
        }
        guard intensityScale.lowerBound > 0 else { throw StreamError("the intensity scale must be positive") }
        guard matchRadius.map({ $0 > 0 }) ?? true else { throw StreamError("the match radius must be positive") }
        guard maxPairs >= 0 else { throw StreamError("max pairs must be 0 or more") }
    }
}
