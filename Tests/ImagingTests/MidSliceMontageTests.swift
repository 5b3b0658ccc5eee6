import Foundation
import Imaging
import TacoCore
import Testing

/// QC pictures: where a voxel lands on the picture, and the outline colours.
@Suite struct MidSliceMontageTests {
    @Test func slicesAreDrawnInTheNeurologicalConventionWithOutlines() {
        // A 6 x 4 x 8 RAS+ grid: mid-slices at z = 4 (axial), y = 2 (coronal), x = 3 (sagittal).
        let grid = Geometry(size: [6, 4, 8])
        var volume = Volume(geometry: grid)
        volume.voxels[grid.offset(5, 3, 4)] = 1        // right, anterior, in the axial mid-slice
        volume.voxels[grid.offset(3, 2, 7)] = 1        // superior, in the coronal and sagittal mid-slices
        var labels = [UInt8](repeating: 0, count: grid.voxelCount)
        labels[grid.offset(1, 1, 4)] = 2               // one GM voxel in the axial slice, among background
        let picture = MidSliceMontage.render([.init(volume: volume, low: 0, high: 1, outline: labels)])
        // Axial view: 6 wide, 4 high, drawn in an 8-high row; x to the right, y (anterior) up from the bottom (row 3).
        #expect(picture.width == 6 + 6 + 4 && picture.height == 8)
        #expect(picture[x: 5, y: 0] == [255, 255, 255])          // (x 5, y 3): top right
        #expect(picture[x: 1, y: 2] == MidSliceMontage.palette[1])   // the GM voxel, outlined green
        #expect(picture[x: 0, y: 3] == [0, 0, 0])
        // Coronal view (x across, z up, 8 high) starts at column 6: (x 3, z 7) is its top row.
        #expect(picture[x: 6 + 3, y: 0] == [255, 255, 255])
        // Sagittal view (y across, z up) starts at column 12: (y 2, z 7).
        #expect(picture[x: 12 + 2, y: 0] == [255, 255, 255])
        #expect(picture[x: 12 + 2, y: 1] == [0, 0, 0])
        // Scaled: every pixel 3 x 3.
        let large = MidSliceMontage.render([.init(volume: volume, low: 0, high: 1)], scale: 3)
        #expect(large.width == 48 && large[x: 17, y: 2] == [255, 255, 255] && large[x: 18, y: 2] != [255, 255, 255])
    }
}
