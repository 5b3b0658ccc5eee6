import Foundation
import Imaging
import TacoCore

/// How one series is acquired: its grid in scanner coordinates (LPS) and where the head was.
///
/// `scannerToSubject` maps a scanner point during this acquisition to the subject point (the T1w
/// frame) showing the same anatomy: identity for T1w, a small rigid motion (up to 3° and 4 mm) for
/// the others, as a patient moves between series.
struct AcquisitionPlan: Sendable {
    enum Plane: String, Sendable {
        case sagittal, axial, coronal

        /// Direction columns (LPS) of the image rows, columns and slice normal, as DICOM orders them.
        var direction: Matrix3 {
            switch self {
            case .sagittal: return Matrix3(columns: (Vector3(0, 1, 0), Vector3(0, 0, -1), Vector3(-1, 0, 0)))
            case .axial: return Matrix3(columns: (Vector3(1, 0, 0), Vector3(0, 1, 0), Vector3(0, 0, 1)))
            case .coronal: return Matrix3(columns: (Vector3(1, 0, 0), Vector3(0, 0, -1), Vector3(0, 1, 0)))
            }
        }

        /// Field of view (mm) along the image x, y and slice axes.
        var fieldOfView: Vector3 {
            switch self {
            case .sagittal: return Vector3(224, 208, 172)
            case .axial: return Vector3(184, 224, 164)
            case .coronal: return Vector3(184, 196, 208)
            }
        }
    }

    let modality: Modality
    let plane: Plane
    /// Tilt of the slices about the left-right axis (radians): an oblique acquisition.
    let tilt: Double
    let grid: Geometry
    let scannerToSubject: AffineTransform3D

    /// The plan of `modality` for a subject centred at `center`.
    init(modality: Modality, size: SynthOptions.Size, center: Vector3, rng: inout SeededGenerator) {
        self.modality = modality
        let spacing: Vector3
        switch (modality, size) {
        case (.t1w, .default): (plane, spacing) = (.sagittal, Vector3(1, 1, 1))
        case (.t2w, .default): (plane, spacing) = (.axial, Vector3(0.9, 0.9, 4))
        case (.flair, .default): (plane, spacing) = (.coronal, Vector3(1, 1, 3))
        case (.pdw, .default): (plane, spacing) = (.axial, Vector3(1, 1, 3))
        case (.t1w, .small): (plane, spacing) = (.sagittal, Vector3(3, 3, 3))
        case (.t2w, .small): (plane, spacing) = (.axial, Vector3(3, 3, 4))
        case (.flair, .small): (plane, spacing) = (.coronal, Vector3(3.5, 3.5, 4))
        case (.pdw, .small): (plane, spacing) = (.axial, Vector3(3, 3, 4))
        }
        let degrees = Double.pi / 180
        // FLAIR is planned oblique (8-15°); T2w is aligned to the AC-PC line (0-6°); T1w and PDw are straight.
        switch modality {
        case .flair: tilt = rng.uniform(8...15) * degrees
        case .t2w: tilt = rng.uniform(0...6) * degrees
        default: tilt = 0
        }
        let direction = Matrix3.rotation(x: tilt, y: 0, z: 0) * plane.direction
        let fov = plane.fieldOfView
        let count = SIMD3<Int>((0..<3).map { Int((fov[$0] / spacing[$0]).rounded()) })
        let gridCenter = center + Vector3(rng.uniform(-5...5), rng.uniform(-5...5), rng.uniform(-5...5))
        let halfSpan = spacing * (Vector3(Double(count.x), Double(count.y), Double(count.z)) - 1) / 2
        grid = Geometry(size: count, spacing: spacing, origin: gridCenter - direction * halfSpan, direction: direction)

        if modality == .t1w {
            scannerToSubject = .identity
        } else {
            var axis = Vector3(rng.gaussian(), rng.gaussian(), rng.gaussian())
            axis /= max(length(axis), 1e-9)
            let angle = rng.uniform(0...3) * degrees
            var shift = Vector3(rng.gaussian(), rng.gaussian(), rng.gaussian())
            shift *= rng.uniform(0...4) / max(length(shift), 1e-9)
            scannerToSubject = .rigid(rotation: Self.rotation(axis: axis, angle: angle), translation: shift, center: center)
        }
    }

    /// Rodrigues' rotation about a unit axis.
    static func rotation(axis k: Vector3, angle: Double) -> Matrix3 {
        let K = Matrix3(rows: Vector3(0, -k.z, k.y), Vector3(k.z, 0, -k.x), Vector3(-k.y, k.x, 0))
        let K2 = K * K
        let s = sin(angle), c = 1 - cos(angle)
        return Matrix3(columns: (
            Matrix3.identity.column(0) + s * K.column(0) + c * K2.column(0),
            Matrix3.identity.column(1) + s * K.column(1) + c * K2.column(1),
            Matrix3.identity.column(2) + s * K.column(2) + c * K2.column(2)))
    }
}
