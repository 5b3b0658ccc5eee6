/// A 3D scalar image: float32 voxels (x-fastest) on a ``Geometry``. Nothing else.
///
/// ```swift
/// var v = Volume(geometry: Geometry(size: [4, 4, 4]))
/// v[1, 2, 3] = 7
/// v.geometry.point(ofIndex: [1, 2, 3])   // where that voxel is, in LPS mm
/// ```
public struct Volume: Equatable, Sendable {
    public var geometry: Geometry
    public var voxels: [Float]

    /// A volume of `fill` values.
    public init(geometry: Geometry, fill: Float = 0) {
        self.geometry = geometry
        voxels = [Float](repeating: fill, count: geometry.voxelCount)
    }

    public init(geometry: Geometry, voxels: [Float]) {
        precondition(voxels.count == geometry.voxelCount, "voxel count \(voxels.count) != grid size \(geometry.voxelCount)")
        self.geometry = geometry
        self.voxels = voxels
    }

    public subscript(x: Int, y: Int, z: Int) -> Float {
        get { voxels[geometry.offset(x, y, z)] }
        set { voxels[geometry.offset(x, y, z)] = newValue }
    }

    /// Index (x, y, z) of the largest voxel.
    public var indexOfMaximum: SIMD3<Int> {
        var best = 0
        for i in voxels.indices where voxels[i] > voxels[best] { best = i }
        let s = geometry.size
        return SIMD3(best % s.x, (best / s.x) % s.y, best / (s.x * s.y))
    }
}
