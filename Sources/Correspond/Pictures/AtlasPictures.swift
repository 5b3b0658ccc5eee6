import Foundation
import Imaging
import TacoCore

/// The QC pictures of `taco correspond`, on the atlas template's grid at 2 mm: per subject, the atlas
/// tissue outlines (brain red, GM green, WM yellow) over the subject's reference seen in atlas space;
/// per cohort, the mean of the subjects' references in atlas space beside the template.
public struct AtlasPictures: Sendable {
    /// The atlas template's grid at 2 mm (or its own spacing when coarser).
    public let grid: Geometry
    /// The template on `grid`.
    public let template: Volume
    /// Atlas tissue on `grid`: 0 background, 1 CSF, 2 GM, 3 WM (``AtlasMapping``'s rule).
    public let labels: [UInt8]

    public init(atlas: Atlas) throws {
        let full = try atlas.template("T1w")
        let factor = 2 / full.geometry.spacing.min()
        grid = factor > 1 ? full.geometry.downsampled(by: factor) : full.geometry
        template = try Resampler.resample(full, onto: grid, interpolation: .linear)
        let gm = try Resampler.resample(try atlas.tissueMap("GM"), onto: grid, interpolation: .linear)
        let wm = try Resampler.resample(try atlas.tissueMap("WM"), onto: grid, interpolation: .linear)
        var labels = [UInt8](repeating: 0, count: grid.voxelCount)
        let s = grid.size
        for z in 0..<s.z { for y in 0..<s.y { for x in 0..<s.x {
            labels[grid.offset(x, y, z)] = AtlasMapping.tissue(at: grid.point(ofIndex: Vector3(Double(x), Double(y), Double(z))),
                                                               template: template, gm: gm, wm: wm)
        } } }
        self.labels = labels
    }

    /// `volume` (on the subject's grid) in atlas space on ``grid``, zero outside the subject's `mask`.
    public func brainInAtlasSpace(_ volume: Volume, mask: Volume, map: AtlasMapping.Result) throws -> Volume {
        var warped = try map.warpedToAtlas(volume, onto: grid)
        let brain = try map.warpedToAtlas(mask, onto: grid)
        for i in warped.voxels.indices where brain.voxels[i] < 0.5 { warped.voxels[i] = 0 }
        return warped
    }

    /// The atlas outlines over `warped` (a subject's brain on ``grid``, zero outside it).
    public func subject(_ warped: Volume) -> PNGImage {
        var row = MidSliceMontage.Row.windowed(warped, inside: labels.map { $0 > 0 }, outline: labels)
        row.inside = warped.voxels.map { $0 != 0 }
        return MidSliceMontage.render([row], scale: 2)
    }

    /// The mean of the subjects' brains (from ``mean(_:)``) above the template; black where fewer than
    /// half of the subjects have brain.
    public func cohort(mean: (volume: Volume, coverage: [Float])) -> PNGImage {
        let brain = labels.map { $0 > 0 }
        var meanRow = MidSliceMontage.Row.windowed(mean.volume, inside: brain)
        meanRow.inside = mean.coverage.map { $0 >= 0.5 }
        var templateRow = MidSliceMontage.Row.windowed(template, inside: brain)
        templateRow.inside = nil
        return MidSliceMontage.render([meanRow, templateRow], scale: 2)
    }

    /// The voxel-wise mean of brains on ``grid`` over the subjects that have brain there, and the fraction
    /// of subjects that do.
    public func mean(_ volumes: [Volume]) -> (volume: Volume, coverage: [Float]) {
        var sum = [Double](repeating: 0, count: grid.voxelCount), count = [Int](repeating: 0, count: grid.voxelCount)
        for v in volumes { for i in sum.indices where v.voxels[i] != 0 { sum[i] += Double(v.voxels[i]); count[i] += 1 } }
        let n = Float(max(volumes.count, 1))
        return (Volume(geometry: grid, voxels: sum.indices.map { count[$0] > 0 ? Float(sum[$0] / Double(count[$0])) : 0 }),
                count.map { Float($0) / n })
    }
}
