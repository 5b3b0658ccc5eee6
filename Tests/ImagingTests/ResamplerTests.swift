import Foundation
import Testing
@testable import Imaging
import TacoCore

@Suite struct ResamplerTests {
    @Test func extractingABlockKeepsEveryVoxelAtItsPhysicalPoint() throws {
        let g = Geometry(size: [9, 8, 7], spacing: [1, 2, 3], origin: [4, -5, 6], direction: Matrix3.rotation(x: 0.3, y: -0.2, z: 0.1))
        let volume = Fixtures.pattern(on: g)
        let block = volume.extracting(from: [2, 3, 4], size: [5, 4, 3])
        // The marker's physical point is unchanged: index (6, 5, 5) of the volume is (4, 2, 1) of the block.
        #expect(length(block.geometry.point(ofIndex: Vector3(4, 2, 1)) - g.point(ofIndex: Vector3(6, 5, 5))) < 1e-9)
        #expect(block[4, 2, 1] == volume[6, 5, 5] && block[0, 0, 0] == volume[2, 3, 4])
        // The same as a nearest-neighbour resample onto the block's grid.
        let resampled = try Resampler.resample(volume, onto: block.geometry, interpolation: .nearest)
        #expect(resampled.voxels == block.voxels)
    }

    @Test func integerShiftMovesAMarkerExactly() throws {
        let g = Geometry(size: [20, 20, 20], spacing: [2, 2, 2], origin: [0, 0, 0])
        let volume = Fixtures.marker(at: [5, 6, 7], on: g)
        // Output point p reads the input at p + (4, 0, -6) mm = 2 voxels in x, -3 in z.
        let shifted = try Resampler.resample(volume, onto: g, transform: AffineTransform3D(translation: [4, 0, -6]),
                                             interpolation: .nearest)
        #expect(shifted.indexOfMaximum == [3, 6, 10])
        #expect(shifted[3, 6, 10] == 100)
    }

    @Test func displacementFieldActsLikeTheSameTranslation() throws {
        let g = Geometry(size: [16, 16, 16], spacing: [2, 2, 2])
        let volume = Fixtures.pattern(on: g)
        let field = VectorField(geometry: g) { _ in Vector3(2.5, -1, 3) }
        let viaField = try Resampler.resample(volume, onto: g, field: field)
        let viaAffine = try Resampler.resample(volume, onto: g, transform: AffineTransform3D(translation: [2.5, -1, 3]))
        let maxDiff = zip(viaField.voxels, viaAffine.voxels).map { abs($0 - $1) }.max()!
        #expect(maxDiff < 1e-3)
    }

    @Test func fieldIsAppliedBeforeTheAffine() throws {
        // p -> A(p + u): with A a scaling by 2 and u = 1 mm in x, output x reads input at 2(x + 1).
        let g = Geometry(size: [40, 1, 1])
        var ramp = Volume(geometry: g)
        for x in 0..<40 { ramp[x, 0, 0] = Float(x) }
        let field = VectorField(geometry: g) { _ in Vector3(1, 0, 0) }
        let out = try Resampler.resample(ramp, onto: g, transform: AffineTransform3D(linear: Matrix3(diagonal: [2, 1, 1])),
                                         field: field, interpolation: .linear, defaultValue: -1)
        #expect(out[3, 0, 0] == 8)
        #expect(out[19, 0, 0] == -1)   // reads x = 40: outside
    }

    @Test(arguments: [Resampler.Interpolation.linear, .bspline])
    func affineThereAndBackReproducesTheInterior(interpolation: Resampler.Interpolation) throws {
        let atlas = try Fixtures.atlas(spacing: 2)
        let centre = atlas.geometry.center
        let t = AffineTransform3D.rigid(rotation: .rotation(x: 0.08, y: -0.05, z: 0.1), translation: [3, -2, 4], center: centre)
        let moved = try Resampler.resample(atlas, onto: atlas.geometry, transform: t, interpolation: interpolation)
        let back = try Resampler.resample(moved, onto: atlas.geometry, transform: t.inverse!, interpolation: interpolation)
        // Compare inside the brain, away from the border: mean error small relative to the intensity range.
        var errors: [Double] = []
        for i in atlas.voxels.indices where atlas.voxels[i] > 50 { errors.append(Double(abs(back.voxels[i] - atlas.voxels[i]))) }
        #expect(mean(errors) < 8)       // two interpolations of a 0..255 image at 2 mm
        let range = Double(IntensitySummary(of: atlas).maximum)
        #expect(mean(errors) / range < 0.03)
    }
}

@Suite struct VolumeStackResamplingTests {
    @Test(arguments: [2, 3, 4])
    func stackedResamplingEqualsOneResampleperChannel(channels: Int) throws {
        let g = Geometry(size: [20, 18, 16], spacing: [2, 2, 2.5], direction: Matrix3.rotation(x: 0.1, y: 0.2, z: 0))
        let volumes = (0..<channels).map { c in
            Volume(geometry: g, voxels: Fixtures.pattern(on: g).voxels.map { $0 * Float(c + 1) + Float(c) })
        }
        let target = Geometry(size: [15, 15, 15], spacing: [2.5, 2.5, 2.5], origin: [3, 2, 1])
        let t = AffineTransform3D.rigid(rotation: .rotation(x: 0.05, y: 0, z: -0.1), translation: [1, -2, 0.5], center: g.center)
        let field = VectorField(geometry: target.downsampled(by: 2)) { p in Vector3(0.5 * sin(p.x / 10), 0.3, -0.2) }
        let stacked = try Resampler.resample(VolumeStack(volumes), onto: target, transform: t, field: field, defaultValue: -7)
        for c in 0..<channels {
            let single = try Resampler.resample(volumes[c], onto: target, transform: t, field: field, defaultValue: -7)
            #expect(stacked.volume(c).voxels == single.voxels, "channel \(c)")
        }
        #expect(stacked.volume(0).voxels.contains(-7))   // some points fall outside the input
    }

    @Test func fiveChannelsAreRefused() throws {
        let v = Volume(geometry: Geometry(size: [2, 2, 2]))
        #expect { try Resampler.resample(VolumeStack([v, v, v, v, v]), onto: v.geometry) } throws: { "\($0)".contains("2 to 4 channels") }
    }
}

@Suite struct VectorFieldTests {
    @Test func trilinearInterpolationOfALinearFieldIsExact() {
        let g = Geometry(size: [6, 5, 4], spacing: [2, 2, 2], origin: [1, 1, 1])
        let f = VectorField(geometry: g) { p in Vector3(0.5 * p.x, -p.y + 2, 3) }
        let p = Vector3(4.3, 5.1, 3.7)
        #expect(length(f.value(at: p) - Vector3(2.15, -3.1, 3)) < 1e-5)
    }
}

@Suite struct BiasCorrectionTests {
    @Test func n4RemovesMostOfAKnownSmoothBias() throws {
        // A ball of two tissues (100 inside radius 10 mm, 60 in the shell to 18 mm) under a multiplicative bias
        // that rises 40% across it; N4 inside the ball should flatten each tissue.
        let g = Geometry(size: [48, 48, 48], spacing: [1, 1, 1], origin: [-24, -24, -24])
        var biased = Volume(geometry: g), mask = Volume(geometry: g)
        var inner: [Int] = []
        for z in 0..<48 { for y in 0..<48 { for x in 0..<48 {
            let p = g.point(ofIndex: Vector3(Double(x), Double(y), Double(z)))
            let r = length(p)
            guard r < 18 else { continue }
            let i = (z * 48 + y) * 48 + x
            let tissue: Float = r < 10 ? 100 : 60
            biased.voxels[i] = tissue * Float(1 + 0.4 * (p.x + 18) / 36)
            mask.voxels[i] = 1
            if r < 9 { inner.append(i) }
        } } }
        func variation(_ v: Volume) -> Double {
            let values = inner.map { Double(v.voxels[$0]) }
            let mean = values.reduce(0, +) / Double(values.count)
            return (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)).squareRoot() / mean
        }
        let corrected = try BiasCorrection.n4(biased, mask: mask, shrink: 2)
        let before = variation(biased), after = variation(corrected)
        #expect(after < 0.2 * before, "coefficient of variation inside the inner tissue: \(before) -> \(after)")
    }
}
