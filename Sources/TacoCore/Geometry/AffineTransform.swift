import Foundation

/// An affine map of 3D points, `p -> linear * p + translation`.
///
/// TacoKit's transforms follow ITK's resampling convention where they map a *fixed/output* point to a
/// *moving/input* point (LPS mm).
///
/// ```swift
/// let shift = AffineTransform3D(translation: [10, 0, 0])
/// shift.apply(to: [1, 2, 3])                       // (11, 2, 3)
/// shift.inverse!.apply(to: [11, 2, 3])            // (1, 2, 3)
/// ```
public struct AffineTransform3D: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var linear: Matrix3
    public var translation: Vector3

    public init(linear: Matrix3 = .identity, translation: Vector3 = .zero) {
        self.linear = linear
        self.translation = translation
    }

    public static let identity = AffineTransform3D()

    /// A transform from a row-major 4x4 homogeneous matrix (last row 0 0 0 1).
    public init(rowMajor4x4 m: [Double]) {
        precondition(m.count == 16, "a 4x4 matrix has 16 values")
        linear = Matrix3(rows: Vector3(m[0], m[1], m[2]), Vector3(m[4], m[5], m[6]), Vector3(m[8], m[9], m[10]))
        translation = Vector3(m[3], m[7], m[11])
    }

    /// Row-major 4x4 homogeneous matrix.
    public var rowMajor4x4: [Double] {
        (0..<3).flatMap { r in [linear[r, 0], linear[r, 1], linear[r, 2], translation[r]] } + [0, 0, 0, 1]
    }

    /// A rotation (about `center`) followed by a translation: p -> R (p - c) + c + t.
    public static func rigid(rotation: Matrix3, translation: Vector3, center: Vector3 = .zero) -> AffineTransform3D {
        AffineTransform3D(linear: rotation, translation: center - rotation * center + translation)
    }

    public func apply(to point: Vector3) -> Vector3 { linear * point + translation }

    /// The inverse; nil when the linear part is singular.
    public var inverse: AffineTransform3D? {
        guard let inv = linear.inverse else { return nil }
        return AffineTransform3D(linear: inv, translation: -(inv * translation))
    }

    /// `self` after `other`: p -> self(other(p)).
    public func composed(after other: AffineTransform3D) -> AffineTransform3D {
        AffineTransform3D(linear: linear * other.linear, translation: linear * other.translation + translation)
    }

    /// The same map, with points expressed in RAS instead of LPS on both sides (and vice versa).
    public var flippedLPSRAS: AffineTransform3D {
        let flip = Matrix3(diagonal: Vector3(-1, -1, 1))
        return AffineTransform3D(linear: flip * linear * flip, translation: flip * translation)
    }

    public var description: String {
        (0..<3).map { r in
            "[" + (0..<3).map { c in String(format: "%9.5f", linear[r, c]) }.joined(separator: " ")
                + String(format: " | %9.4f]", translation[r])
        }.joined(separator: "\n")
    }
}
