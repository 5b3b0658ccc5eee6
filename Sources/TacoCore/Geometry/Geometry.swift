/// The grid of a 3D image in physical space: ITK/DICOM **LPS**, millimetres.
///
/// `size` counts voxels along x, y, z; `direction`'s columns are the unit directions of those axes.
/// A voxel index (i, j, k) sits at `origin + direction * (spacing .* (i, j, k))`. Voxel buffers
/// are x-fastest. Every geometric question in TacoKit is answered here, never by index arithmetic
/// elsewhere.
///
/// ```swift
/// let g = Geometry(size: [10, 10, 10], spacing: [2, 2, 2])
/// g.point(ofIndex: [1, 0, 0])          // (2, 0, 0) in LPS
/// g.orientationCode                     // "LPS" (axis x points left, y posterior, z superior)
/// ```
public struct Geometry: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var size: SIMD3<Int>
    public var spacing: Vector3
    public var origin: Vector3
    public var direction: Matrix3

    public init(size: SIMD3<Int>, spacing: Vector3 = Vector3(1, 1, 1), origin: Vector3 = .zero,
                direction: Matrix3 = .identity) {
        self.size = size
        self.spacing = spacing
        self.origin = origin
        self.direction = direction
    }

    /// Number of voxels.
    public var voxelCount: Int { size.x * size.y * size.z }

    /// Map from continuous voxel index (x, y, z) to LPS mm.
    public var indexToPoint: AffineTransform3D {
        AffineTransform3D(linear: direction * Matrix3(diagonal: spacing), translation: origin)
    }

    /// Map from voxel index (x, y, z) to RAS mm: the NIfTI sform of this grid.
    public var indexToRAS: AffineTransform3D {
        let flip = Matrix3(diagonal: Vector3(-1, -1, 1))
        let lps = indexToPoint
        return AffineTransform3D(linear: flip * lps.linear, translation: flip * lps.translation)
    }

    /// A grid whose index -> LPS map is `affine` (spacing = column lengths, direction = unit columns).
    public init(size: SIMD3<Int>, indexToPoint affine: AffineTransform3D) {
        let columns = (0..<3).map { affine.linear.column($0) }
        let lengths = columns.map(length)
        let unit = zip(columns, lengths).map { $0 / ($1 > 0 ? $1 : 1) }
        self.init(size: size, spacing: Vector3(lengths[0], lengths[1], lengths[2]), origin: affine.translation,
                  direction: Matrix3(columns: (unit[0], unit[1], unit[2])))
    }

    /// A grid from the NIfTI-style index -> RAS affine.
    public init(size: SIMD3<Int>, indexToRAS affine: AffineTransform3D) {
        let flip = Matrix3(diagonal: Vector3(-1, -1, 1))
        self.init(size: size, indexToPoint: AffineTransform3D(linear: flip * affine.linear, translation: flip * affine.translation))
    }

    /// LPS position of a (continuous) voxel index.
    public func point(ofIndex index: Vector3) -> Vector3 { indexToPoint.apply(to: index) }

    /// Continuous voxel index of an LPS point.
    public func continuousIndex(ofPoint point: Vector3) -> Vector3 {
        guard let inverse = (direction * Matrix3(diagonal: spacing)).inverse else { return Vector3(.nan, .nan, .nan) }
        return inverse * (point - origin)
    }

    /// Linear offset of voxel (x, y, z) in an x-fastest buffer.
    @inlinable public func offset(_ x: Int, _ y: Int, _ z: Int) -> Int { x + size.x * (y + size.y * z) }

    /// LPS position of the grid's central voxel centre.
    public var center: Vector3 { point(ofIndex: (Vector3(Double(size.x), Double(size.y), Double(size.z)) - 1) / 2) }

    /// Whether the direction has no obliquity (each axis along a world axis, up to sign).
    public var isAxisAligned: Bool {
        (0..<3).allSatisfy { c in direction.column(c).abs().max() > 1 - 1e-6 }
    }

    /// The world axis (in RAS terms) each voxel axis points to most, e.g. "RAS", "LPI", "PSR".
    public var orientationCode: String { OrientationCode(direction: direction).code }

    /// Same grid `factor` times coarser (sizes rounded up), covering the same field of view.
    public func downsampled(by factor: Double) -> Geometry {
        let newSize = SIMD3<Int>((0..<3).map { Int((Double(size[$0]) / factor).rounded(.up)) })
        let newSpacing = spacing * factor
        // Keep the field of view's corner: shift the first voxel centre by half the voxel growth.
        let cornerShift = direction * ((newSpacing - spacing) / 2)
        return Geometry(size: newSize, spacing: newSpacing, origin: origin + cornerShift, direction: direction)
    }

    /// Geometries are equal within `tolerance` (mm for origin, relative for spacing, absolute for direction).
    public func isClose(to other: Geometry, tolerance: Double = 1e-4) -> Bool {
        size == other.size && (spacing - other.spacing).abs().max() <= tolerance * spacing.max()
            && (origin - other.origin).abs().max() <= tolerance && direction.maxDifference(other.direction) <= tolerance
    }

    public var description: String {
        func f(_ v: Vector3) -> String { String(format: "(%.4g, %.4g, %.4g)", v.x, v.y, v.z) }
        return "size \(size.x)x\(size.y)x\(size.z), spacing \(f(spacing)) mm, origin \(f(origin)) mm LPS, \(orientationCode)"
    }
}
