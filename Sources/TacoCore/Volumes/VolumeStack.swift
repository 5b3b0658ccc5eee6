/// Several volumes on one grid, stored interleaved (channel fastest), so that one resampling pass
/// moves all of them: the transform is evaluated once per voxel.
///
/// ```swift
/// let tissues = VolumeStack([gm, wm, brain])
/// let moved = try Resampler.resample(tissues, onto: grid, transform: t)
/// moved.volume(1)   // WM on the new grid
/// ```
public struct VolumeStack: Sendable, Equatable {
    public let geometry: Geometry
    public let channels: Int
    /// channels x voxels, channel fastest.
    public var values: [Float]

    /// Stacks volumes that share one grid.
    public init(_ volumes: [Volume]) {
        precondition(!volumes.isEmpty && volumes.allSatisfy { $0.geometry == volumes[0].geometry }, "volumes must share one grid")
        geometry = volumes[0].geometry
        channels = volumes.count
        var values = [Float](repeating: 0, count: geometry.voxelCount * channels)
        for (c, volume) in volumes.enumerated() {
            for i in 0..<geometry.voxelCount { values[i * channels + c] = volume.voxels[i] }
        }
        self.values = values
    }

    public init(geometry: Geometry, channels: Int, values: [Float]) {
        precondition(values.count == geometry.voxelCount * channels, "values must hold channels x voxels")
        self.geometry = geometry
        self.channels = channels
        self.values = values
    }

    /// Channel `c` as a volume.
    public func volume(_ c: Int) -> Volume {
        Volume(geometry: geometry, voxels: (0..<geometry.voxelCount).map { values[$0 * channels + c] })
    }
}
