/// A dense field of 3-vectors on a grid (x-fastest, 3 floats per voxel).
///
/// As a *displacement field* it holds LPS mm displacements, and a point p of its grid corresponds to
/// p + u(p) (the convention of ``Resampler`` and the registrations). As a *coordinate map* it holds the
/// position each voxel maps to in another space (the ground truth of `taco synth`).
///
/// ```swift
/// let u = field.value(at: point)   // trilinear; constant extension outside the grid
/// ```
public struct VectorField: Equatable, Sendable {
    public var geometry: Geometry
    /// 3 floats per voxel: (x, y, z) in LPS mm.
    public var vectors: [Float]

    public init(geometry: Geometry, vectors: [Float]) {
        precondition(vectors.count == 3 * geometry.voxelCount, "a field needs 3 floats per voxel")
        self.geometry = geometry
        self.vectors = vectors
    }

    /// A field of zero vectors on `geometry`.
    public init(zeroOn geometry: Geometry) {
        self.init(geometry: geometry, vectors: [Float](repeating: 0, count: 3 * geometry.voxelCount))
    }

    /// The field with `f(point)` at every voxel centre.
    public init(geometry: Geometry, _ f: (Vector3) -> Vector3) {
        var vectors = [Float](repeating: 0, count: 3 * geometry.voxelCount)
        let s = geometry.size
        for z in 0..<s.z { for y in 0..<s.y { for x in 0..<s.x {
            let u = f(geometry.point(ofIndex: Vector3(Double(x), Double(y), Double(z))))
            let o = 3 * geometry.offset(x, y, z)
            vectors[o] = Float(u.x); vectors[o + 1] = Float(u.y); vectors[o + 2] = Float(u.z)
        } } }
        self.init(geometry: geometry, vectors: vectors)
    }

    /// The vector stored at voxel (x, y, z).
    public func vector(_ x: Int, _ y: Int, _ z: Int) -> Vector3 {
        let o = 3 * geometry.offset(x, y, z)
        return Vector3(Double(vectors[o]), Double(vectors[o + 1]), Double(vectors[o + 2]))
    }

    /// Trilinear interpolation at an LPS point; indices are clamped to the grid (constant extension).
    public func value(at point: Vector3) -> Vector3 {
        let s = geometry.size
        let index = geometry.continuousIndex(ofPoint: point)
        var lo = SIMD3<Int>.zero, t = Vector3.zero
        for a in 0..<3 {
            let c = min(max(index[a], 0), Double(s[a] - 1))
            lo[a] = min(Int(c.rounded(.down)), max(s[a] - 2, 0))
            t[a] = s[a] > 1 ? c - Double(lo[a]) : 0
        }
        var sum = Vector3.zero
        for corner in 0..<8 {
            let bit = SIMD3<Int>(corner & 1, (corner >> 1) & 1, (corner >> 2) & 1)
            var w = 1.0
            var idx = lo
            for a in 0..<3 {
                w *= bit[a] == 1 ? t[a] : 1 - t[a]
                idx[a] = min(lo[a] + bit[a], s[a] - 1)
            }
            if w > 0 { sum += w * vector(idx.x, idx.y, idx.z) }
        }
        return sum
    }
}
