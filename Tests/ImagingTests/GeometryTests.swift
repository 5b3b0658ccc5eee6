import Foundation
import Testing
@testable import Imaging
import TacoCore

@Suite struct GeometryTests {
    @Test func indexToPointFollowsOriginDirectionSpacing() {
        // A 30 degree rotation about z, anisotropic spacing: hand-computed answer.
        let c = cos(Double.pi / 6), s = sin(Double.pi / 6)
        let direction = Matrix3(rows: Vector3(c, -s, 0), Vector3(s, c, 0), Vector3(0, 0, 1))
        let g = Geometry(size: [10, 10, 10], spacing: [2, 3, 4], origin: [10, -20, 30], direction: direction)
        let p = g.point(ofIndex: [3, 4, 5])
        // (3*2, 4*3, 5*4) = (6, 12, 20) rotated: (6c - 12s, 6s + 12c, 20)
        let expected = Vector3(10 + 6 * c - 12 * s, -20 + 6 * s + 12 * c, 30 + 20)
        #expect(length(p - expected) < 1e-12)
        let back = g.continuousIndex(ofPoint: p)
        #expect(length(back - Vector3(3, 4, 5)) < 1e-12)
    }

    @Test func rasAffineNegatesFirstTwoRows() {
        let g = Geometry(size: [4, 4, 4], spacing: [1, 2, 3], origin: [5, 6, 7])
        let ras = g.indexToRAS
        #expect(ras.translation == Vector3(-5, -6, 7))
        #expect(ras.linear == Matrix3(diagonal: [-1, -2, 3]))
        #expect(Geometry(size: g.size, indexToRAS: ras).isClose(to: g, tolerance: 1e-12))
    }

    @Test(arguments: [
        // (direction rows, expected code)
        (Matrix3.identity, "LPS"),
        (Matrix3(diagonal: [-1, -1, 1]), "RAS"),
        (Matrix3(diagonal: [-1, 1, -1]), "RPI"),
        // DICOM sagittal: rows along +y (P), columns along -z (I), normal = row x column = -x (R).
        (Matrix3(columns: (Vector3(0, 1, 0), Vector3(0, 0, -1), Vector3(-1, 0, 0))), "PIR"),
        // DICOM coronal: rows +x (L), columns -z (I), normal = +y (P)... LIP
        (Matrix3(columns: (Vector3(1, 0, 0), Vector3(0, 0, -1), Vector3(0, 1, 0))), "LIP"),
    ])
    func orientationCodes(direction: Matrix3, code: String) {
        #expect(OrientationCode(direction: direction).code == code)
    }

    @Test func obliqueOrientationPicksClosestAxes() {
        // 20 degrees about x from identity is still closest to L, P, S.
        let tilt = Matrix3.rotation(x: 20 * .pi / 180, y: 0, z: 0)
        #expect(OrientationCode(direction: tilt).code == "LPS")
        // 50 degrees swaps y and z.
        let steep = Matrix3.rotation(x: 50 * .pi / 180, y: 0, z: 0)
        #expect(OrientationCode(direction: steep).code == "LSA")
    }

    @Test func affineInverseAndComposition() {
        let r = Matrix3.rotation(x: 0.1, y: -0.2, z: 0.3)
        let t = AffineTransform3D.rigid(rotation: r, translation: [1, 2, 3], center: [10, 20, 30])
        // Rotation about a centre keeps the centre (then translates it).
        #expect(length(t.apply(to: [10, 20, 30]) - Vector3(11, 22, 33)) < 1e-12)
        let identity = t.inverse!.composed(after: t)
        #expect(identity.linear.maxDifference(.identity) < 1e-12)
        #expect(length(identity.translation) < 1e-12)
        #expect(abs(r.rotationAngle - length(Vector3(0.1, -0.2, 0.3))) < 0.05)
        #expect(AffineTransform3D(rowMajor4x4: t.rowMajor4x4) == t)
    }

    @Test func lpsRasFlipOfATransform() {
        // A shift of +5 mm towards L in LPS is a shift of -5 mm in RAS x.
        let shift = AffineTransform3D(translation: [5, 0, 0])
        #expect(shift.flippedLPSRAS.translation == Vector3(-5, 0, 0))
        #expect(shift.flippedLPSRAS.flippedLPSRAS == shift)
    }

    @Test func singularMatrixHasNoInverse() {
        #expect(Matrix3(diagonal: [1, 0, 1]).inverse == nil)
        #expect(Matrix3(diagonal: [2, 4, 8]).inverse! == Matrix3(diagonal: [0.5, 0.25, 0.125]))
    }

    @Test func downsampledGridCoversTheSameFieldOfView() {
        let g = Geometry(size: [10, 10, 10], spacing: [1, 1, 1], origin: [0, 0, 0])
        let coarse = g.downsampled(by: 2)
        #expect(coarse.size == [5, 5, 5])
        // First voxel's corner stays at -0.5 mm: centre at -0.5 + 1 = 0.5.
        #expect(coarse.origin == Vector3(0.5, 0.5, 0.5))
    }
}

@Suite struct CanonicalReorientationTests {
    /// Every permutation and flip of the axes lands on RAS with each voxel at the same physical point.
    @Test(arguments: 0..<12)
    func reorientsToRASKeepingPhysicalPoints(seed: Int) {
        let permutations: [[Int]] = [[0, 1, 2], [1, 2, 0], [2, 0, 1], [0, 2, 1], [2, 1, 0], [1, 0, 2]]
        let perm = permutations[seed % 6]
        let signs: [Double] = seed < 6 ? [1, -1, 1] : [-1, 1, -1]
        var columns = [Vector3](repeating: .zero, count: 3)
        for a in 0..<3 { var v = Vector3.zero; v[perm[a]] = signs[a]; columns[a] = v }
        let g = Geometry(size: [5, 6, 7], spacing: [1, 2, 3], origin: [3, -4, 5],
                         direction: Matrix3(columns: (columns[0], columns[1], columns[2])))
        let marker = SIMD3<Int>(1, 4, 2)
        let volume = Fixtures.pattern(on: g)
        let ras = CanonicalReorientation.closestRAS(of: volume)
        #expect(ras.geometry.orientationCode == "RAS")
        #expect(ras.geometry.direction.maxDifference(Matrix3(diagonal: [-1, -1, 1])) < 1e-12)
        // Every voxel keeps its physical point: check through the value pattern at the marker.
        let point = g.point(ofIndex: Vector3(Double(marker.x), Double(marker.y), Double(marker.z)))
        let newIndex = ras.geometry.continuousIndex(ofPoint: point)
        let i = SIMD3<Int>(Int(newIndex.x.rounded()), Int(newIndex.y.rounded()), Int(newIndex.z.rounded()))
        #expect(length(newIndex - Vector3(Double(i.x), Double(i.y), Double(i.z))) < 1e-9)
        #expect(ras[i.x, i.y, i.z] == volume[marker.x, marker.y, marker.z])
        #expect(ras.voxels.sorted() == volume.voxels.sorted())
    }

    @Test func obliqueVolumeKeepsItsTilt() {
        let tilt = Matrix3.rotation(x: 0.2, y: 0, z: 0) * Matrix3(diagonal: [-1, 1, 1])
        let g = Geometry(size: [3, 3, 3], direction: tilt)
        let ras = CanonicalReorientation.closestRAS(of: Fixtures.pattern(on: g))
        #expect(ras.geometry.orientationCode == "RAS")
        #expect(!ras.geometry.isAxisAligned)
        // The slice axis keeps its 0.2 rad tilt from S; the tilted y axis is flipped towards A.
        #expect(abs(acos(dot(ras.geometry.direction.column(2), Vector3(0, 0, 1))) - 0.2) < 1e-9)
        #expect(length(ras.geometry.direction.column(1) - Vector3(0, -cos(0.2), -sin(0.2))) < 1e-12)
    }
}

@Suite struct IntensitySummaryTests {
    @Test func percentilesInterpolateLikeNumpy() {
        let s = IntensitySummary(values: [4, 1, 3, 2, .nan, 5])
        #expect(s.count == 5 && s.nonFiniteCount == 1)
        #expect(s.minimum == 1 && s.maximum == 5 && s.mean == 3)
        #expect(s.percentile(50) == 3)
        #expect(s.percentile(25) == 2)
        #expect(s.percentile(90) == 4.6)   // numpy.percentile([1,2,3,4,5], 90) = 4.6
    }
}
