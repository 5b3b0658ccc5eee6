import Foundation

/// A point or vector in 3D physical space (mm).
public typealias Vector3 = SIMD3<Double>

/// A 3x3 matrix of doubles, stored as three columns.
///
/// ```swift
/// let flip = Matrix3(diagonal: [-1, -1, 1])   // LPS <-> RAS
/// let p = flip * Vector3(1, 2, 3)            // (-1, -2, 3)
/// ```
public struct Matrix3: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// Columns 0, 1, 2.
    public var columns: (Vector3, Vector3, Vector3)

    public init(columns: (Vector3, Vector3, Vector3)) { self.columns = columns }

    /// A matrix from its rows, as a reader writes it down.
    public init(rows r0: Vector3, _ r1: Vector3, _ r2: Vector3) {
        columns = (Vector3(r0.x, r1.x, r2.x), Vector3(r0.y, r1.y, r2.y), Vector3(r0.z, r1.z, r2.z))
    }

    public init(diagonal d: Vector3) {
        columns = (Vector3(d.x, 0, 0), Vector3(0, d.y, 0), Vector3(0, 0, d.z))
    }

    public static let identity = Matrix3(diagonal: Vector3(1, 1, 1))

    /// Row-major 9 values (the C bridge's layout).
    public init(rowMajor m: [Double]) {
        precondition(m.count == 9, "a 3x3 matrix has 9 values")
        self.init(rows: Vector3(m[0], m[1], m[2]), Vector3(m[3], m[4], m[5]), Vector3(m[6], m[7], m[8]))
    }

    public var rowMajor: [Double] { (0..<3).flatMap { r in (0..<3).map { c in self[r, c] } } }

    /// Element at row `r`, column `c`.
    public subscript(r: Int, c: Int) -> Double {
        get { column(c)[r] }
        set {
            switch c {
            case 0: columns.0[r] = newValue
            case 1: columns.1[r] = newValue
            default: columns.2[r] = newValue
            }
        }
    }

    public func column(_ c: Int) -> Vector3 {
        switch c {
        case 0: return columns.0
        case 1: return columns.1
        default: return columns.2
        }
    }

    public func row(_ r: Int) -> Vector3 { Vector3(columns.0[r], columns.1[r], columns.2[r]) }

    public var transpose: Matrix3 { Matrix3(columns: (row(0), row(1), row(2))) }

    public var determinant: Double {
        let (a, b, c) = columns
        return (a * cross(b, c)).sum()
    }

    /// The inverse; nil when the matrix is singular.
    public var inverse: Matrix3? {
        let det = determinant
        guard abs(det) > 1e-12 else { return nil }
        let (a, b, c) = columns
        // Rows of the inverse are the cross products of pairs of columns, over the determinant.
        return Matrix3(rows: cross(b, c) / det, cross(c, a) / det, cross(a, b) / det)
    }

    public static func * (m: Matrix3, v: Vector3) -> Vector3 {
        m.columns.0 * v.x + m.columns.1 * v.y + m.columns.2 * v.z
    }

    public static func * (a: Matrix3, b: Matrix3) -> Matrix3 {
        Matrix3(columns: (a * b.columns.0, a * b.columns.1, a * b.columns.2))
    }

    public static func == (a: Matrix3, b: Matrix3) -> Bool {
        a.columns.0 == b.columns.0 && a.columns.1 == b.columns.1 && a.columns.2 == b.columns.2
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(columns.0)
        hasher.combine(columns.1)
        hasher.combine(columns.2)
    }

    /// Largest absolute elementwise difference.
    public func maxDifference(_ other: Matrix3) -> Double {
        (0..<3).map { c in (column(c) - other.column(c)).abs().max() }.max()!
    }

    /// Rotation about the x, y, then z axis by the given angles (radians): R = Rz * Ry * Rx.
    public static func rotation(x: Double, y: Double, z: Double) -> Matrix3 {
        let rx = Matrix3(rows: Vector3(1, 0, 0), Vector3(0, cos(x), -sin(x)), Vector3(0, sin(x), cos(x)))
        let ry = Matrix3(rows: Vector3(cos(y), 0, sin(y)), Vector3(0, 1, 0), Vector3(-sin(y), 0, cos(y)))
        let rz = Matrix3(rows: Vector3(cos(z), -sin(z), 0), Vector3(sin(z), cos(z), 0), Vector3(0, 0, 1))
        return rz * ry * rx
    }

    /// The angle (radians) of the rotation closest to this matrix's rotation part, assuming it is one.
    public var rotationAngle: Double {
        let trace = self[0, 0] + self[1, 1] + self[2, 2]
        return acos(max(-1, min(1, (trace - 1) / 2)))
    }

    public var description: String {
        (0..<3).map { r in
            "[" + (0..<3).map { c in String(format: "%9.5f", self[r, c]) }.joined(separator: " ") + "]"
        }.joined(separator: "\n")
    }
}

/// Cross product.
public func cross(_ a: Vector3, _ b: Vector3) -> Vector3 {
    Vector3(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x)
}

/// Dot product.
public func dot(_ a: Vector3, _ b: Vector3) -> Double { (a * b).sum() }

/// Euclidean length.
public func length(_ a: Vector3) -> Double { dot(a, a).squareRoot() }

extension SIMD3 where Scalar == Double {
    /// Elementwise absolute value.
    func abs() -> Vector3 { Vector3(Swift.abs(x), Swift.abs(y), Swift.abs(z)) }
}
