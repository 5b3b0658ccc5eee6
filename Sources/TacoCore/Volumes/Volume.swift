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

    /// The block of `size` voxels starting at index `low` (which must lie inside), on the same lattice:
    /// a copy, no interpolation.
    public func extracting(from low: SIMD3<Int>, size: SIMD3<Int>) -> Volume {
        let g = geometry
        precondition(low.x >= 0 && low.y >= 0 && low.z >= 0 && size.x > 0 && size.y > 0 && size.z > 0
                     && low.x + size.x <= g.size.x && low.y + size.y <= g.size.y && low.z + size.z <= g.size.z, "block outside the volume")
        let sub = Geometry(size: size, spacing: g.spacing, origin: g.point(ofIndex: Vector3(Double(low.x), Double(low.y), Double(low.z))),
                           direction: g.direction)
        var out = [Float](repeating: 0, count: size.x * size.y * size.z)
        out.withUnsafeMutableBufferPointer { o in
            voxels.withUnsafeBufferPointer { v in
                for z in 0..<size.z { for y in 0..<size.y {
                    let source = ((low.z + z) * g.size.y + low.y + y) * g.size.x + low.x
                    let target = (z * size.y + y) * size.x
                    for x in 0..<size.x { o[target + x] = v[source + x] }
                } }
            }
        }
        return Volume(geometry: sub, voxels: out)
    }
}
