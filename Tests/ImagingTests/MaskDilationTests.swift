import Testing
import TacoCore
@testable import Imaging

@Suite struct MaskDilationTests {
    @Test func aVoxelGrowsIntoABoxOfTheGivenMillimetres() {
        // One voxel at (5, 5, 5) on a grid of 1 x 2 x 1 mm voxels, grown by 2 mm: 2 voxels along x and z, 1 along y.
        let geometry = Geometry(size: [11, 11, 11], spacing: Vector3(1, 2, 1), origin: .zero)
        var mask = Volume(geometry: geometry)
        mask.voxels[(5 * 11 + 5) * 11 + 5] = 1
        let grown = ForegroundMask.dilated(mask, byMM: 2)
        for z in 0..<11 { for y in 0..<11 { for x in 0..<11 {
            let expected: Float = (3...7).contains(x) && (4...6).contains(y) && (3...7).contains(z) ? 1 : 0
            #expect(grown[x, y, z] == expected, "(\(x), \(y), \(z))")
        } } }
    }

    @Test func theBorderClipsTheBoxAndNothingShrinks() {
        let geometry = Geometry(size: [6, 4, 3], spacing: Vector3(1, 1, 1), origin: .zero)
        var mask = Volume(geometry: geometry)
        mask.voxels[0] = 1                                   // (0, 0, 0)
        mask.voxels[(2 * 4 + 3) * 6 + 5] = 1                 // (5, 3, 2)
        let grown = ForegroundMask.dilated(mask, byMM: 1)
        #expect(grown.voxels.filter { $0 > 0 }.count == 8 + 8)   // two clipped 2x2x2 corners
        #expect(grown[0, 0, 0] == 1 && grown[1, 1, 1] == 1 && grown[4, 2, 1] == 1 && grown[2, 2, 2] == 0)
        #expect(ForegroundMask.dilated(mask, byMM: 0).voxels == mask.voxels)
    }
}
