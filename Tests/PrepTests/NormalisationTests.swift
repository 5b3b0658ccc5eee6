import Foundation
import Imaging
import TacoCore
import Testing
@testable import Prep

/// CT windowing, the thick-slice rule and registration levels, against hand-computed answers.
@Suite struct NormalisationTests {
    @Test func ctIsClippedToTheWindowThenScaledToZeroOne() {
        var ct = Volume(geometry: Geometry(size: [5, 1, 1]))
        ct.voxels = [-3000, -1000, 0, 500, 4000]
        let out = SessionPreparation.windowed(ct, to: -1000...1000)
        #expect(out.voxels == [0, 0, 0.5, 0.75, 1])
    }

    @Test func aThickSliceReferenceKeepsItsSliceSpacingOnlyWhenAsked() {
        // Axial 0.9 x 0.9 x 4 mm, slice normal along z (superior): ratio 4.4 > 3.
        let axial = Geometry(size: [200, 200, 30], spacing: [0.9, 0.9, 4], origin: [0, 0, 0], direction: Matrix3(diagonal: [1, 1, 1]))
        var p = SessionPreparation()
        #expect(p.gridSpacing(for: axial, anisotropy: 4 / 0.9) == Vector3(1, 1, 1))
        p.thickSlices = .keep
        #expect(p.gridSpacing(for: axial, anisotropy: 4 / 0.9) == Vector3(1, 1, 4))
        // A coronal acquisition: its thick axis (voxel z) points anterior-posterior, RAS axis y.
        let coronal = Geometry(size: [200, 200, 40], spacing: [1, 1, 3.5], origin: [0, 0, 0],
                               direction: Matrix3(columns: (Vector3(1, 0, 0), Vector3(0, 0, -1), Vector3(0, 1, 0))))
        #expect(p.gridSpacing(for: coronal, anisotropy: 3.5) == Vector3(1, 3.5, 1))
        // Not thick enough (ratio 2.5 <= 3): isotropic either way.
        let mild = Geometry(size: [10, 10, 10], spacing: [1, 1, 2.5])
        #expect(p.gridSpacing(for: mild, anisotropy: 2.5) == Vector3(1, 1, 1))
    }

    @Test func registrationLevelsFollowTheResolutionInMillimetres() {
        let onOneMM = RegistrationLevel.pyramid(finest: 2, gridSpacing: 1)
        #expect(onOneMM.map(\.shrink) == [8, 4, 2] && onOneMM.map(\.smoothingMM) == [4, 2, 1])
        // On a 3 mm grid 8, 4 and 2 mm round to shrink 3, 1, 1: two levels, the last unsmoothed.
        let onThreeMM = RegistrationLevel.pyramid(finest: 2, gridSpacing: 3)
        #expect(onThreeMM.map(\.shrink) == [3, 1] && onThreeMM.last?.smoothingMM == 0)
    }
}
