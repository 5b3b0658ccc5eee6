import Foundation
import Testing
@testable import Imaging
import TacoCore

/// Registrations recover transforms we applied ourselves to the atlas (at coarse voxels, for speed).
@Suite(.serialized) struct RegistrationTests {
    /// Physical points of the voxels where `volume` is above `threshold` (every `step`-th one).
    static func brainPoints(_ volume: Volume, threshold: Float = 40, step: Int = 3) -> [Vector3] {
        let g = volume.geometry
        var points: [Vector3] = []
        var n = 0
        for z in 0..<g.size.z { for y in 0..<g.size.y { for x in 0..<g.size.x where volume[x, y, z] > threshold {
            n += 1
            if n % step == 0 { points.append(g.point(ofIndex: Vector3(SIMD3(x, y, z)))) }
        } } }
        return points
    }

    /// Mean distance (mm) that `residual` (ideally the identity) moves the brain points of `volume`.
    static func meanError(of residual: AffineTransform3D, over volume: Volume) -> Double {
        mean(brainPoints(volume).map { length(residual.apply(to: $0) - $0) })
    }

    @Test func rigidRecoversAKnownRotationAndTranslation() throws {
        let fixed = try Fixtures.atlas(spacing: 3)
        let centre = fixed.geometry.center
        // moving(p) = fixed(T(p)): the fixed -> moving map the registration must find is T^-1.
        let rotation = Matrix3.rotation(x: 6 * .pi / 180, y: -4 * .pi / 180, z: 5 * .pi / 180)
        let t = AffineTransform3D.rigid(rotation: rotation, translation: [5, -4, 3], center: centre)
        let moving = try Resampler.resample(fixed, onto: fixed.geometry, transform: t, interpolation: .bspline)
        let result = try LinearRegistration.register(fixed: .init(fixed), moving: .init(moving), options: .rigid)
        let residual = t.composed(after: result.transform)      // ~ identity
        let error = Self.meanError(of: residual, over: fixed)
        let angle = residual.linear.rotationAngle * 180 / .pi
        #expect(error < 0.5, "mean point error \(error) mm")
        #expect(angle < 0.5, "residual rotation \(angle) degrees")
        #expect(result.metric < 0 && result.iterations > 0)
    }

    @Test func rigidWithMasksAndAcrossContrasts() throws {
        // An inverted contrast (like T2 against T1) inside a brain mask: mutual information still aligns.
        let fixed = try Fixtures.atlas(spacing: 3)
        let mask = Volume(geometry: fixed.geometry, voxels: fixed.voxels.map { $0 > 20 ? 1 : 0 })
        let t = AffineTransform3D.rigid(rotation: .rotation(x: 0, y: 0.06, z: -0.05), translation: [-3, 2, 4], center: fixed.geometry.center)
        var moving = try Resampler.resample(fixed, onto: fixed.geometry, transform: t, interpolation: .linear)
        moving.voxels = moving.voxels.map { $0 > 5 ? 300 - $0 : 0 }
        let movingMask = try Resampler.resample(mask, onto: fixed.geometry, transform: t, interpolation: .nearest)
        let result = try LinearRegistration.register(fixed: .init(fixed, mask: mask), moving: .init(moving, mask: movingMask),
                                                     options: .rigid)
        let error = Self.meanError(of: t.composed(after: result.transform), over: fixed)
        #expect(error < 0.75, "mean point error \(error) mm")
    }

    @Test func affineRecoversAKnownScaling() throws {
        let fixed = try Fixtures.atlas(spacing: 3)
        let centre = fixed.geometry.center
        let scale = Matrix3(diagonal: [1.08, 0.93, 1.04])
        let t = AffineTransform3D(linear: scale, translation: centre - scale * centre + Vector3(2, -3, 1))
        let moving = try Resampler.resample(fixed, onto: fixed.geometry, transform: t, interpolation: .bspline)
        let result = try LinearRegistration.register(fixed: .init(fixed), moving: .init(moving), options: .affine)
        // The recovered fixed -> moving map is T^-1: its diagonal holds the inverse scales.
        let found = result.transform.linear
        for a in 0..<3 { #expect(abs(found[a, a] * scale[a, a] - 1) < 0.015, "axis \(a): \(found[a, a])") }
        let error = Self.meanError(of: t.composed(after: result.transform), over: fixed)
        #expect(error < 0.75, "mean point error \(error) mm")
    }

    @Test func deformableRemovesMostOfAKnownSmoothWarp() throws {
        let fixed = try Fixtures.atlas(spacing: 4)
        let c = fixed.geometry.center
        // A smooth warp of up to ~4 mm: moving(q) = fixed(q + w(q)).
        func w(_ p: Vector3) -> Vector3 {
            let d = (p - c) / 40
            return Vector3(3.0 * sin(d.y), -2.5 * sin(d.z + 0.5 * d.x), 2.0 * cos(d.x) * sin(d.y))
        }
        let warp = VectorField(geometry: fixed.geometry, w)
        let moving = try Resampler.resample(fixed, onto: fixed.geometry, field: warp, interpolation: .bspline)
        let options = DeformableRegistration.Options(metric: .mutualInformation(bins: 32), levels: [
            RegistrationLevel(shrink: 2, smoothingMM: 3, iterations: 30),
            RegistrationLevel(shrink: 1, smoothingMM: 0, iterations: 20),
        ])
        let result = try DeformableRegistration.register(fixed: .init(fixed), moving: .init(moving), options: options)
        // Fixed point p corresponds to moving q = p + f(p); truly q + w(q) = p.
        let points = Self.brainPoints(fixed)
        let before = points.map { length(w($0)) }
        let after = points.map { p -> Double in
            let q = p + result.forward.value(at: p)
            return length(q + w(q) - p)
        }
        let removed = 1 - mean(after) / mean(before)
        #expect(removed >= 0.6, "removed \(removed * 100)% of \(mean(before)) mm mean error")
        // The inverse field undoes the forward one.
        let roundTrip = points.map { p -> Double in
            let q = p + result.forward.value(at: p)
            return length(q + result.inverse.value(at: q) - p)
        }
        #expect(mean(roundTrip) < 0.5, "inverse round trip \(mean(roundTrip)) mm")
    }

    @Test func deformableRejectsAScheduleThatEndsCoarse() throws {
        let fixed = try Fixtures.atlas(spacing: 6)
        let options = DeformableRegistration.Options(levels: [RegistrationLevel(shrink: 2, smoothingMM: 1, iterations: 2)])
        #expect { try DeformableRegistration.register(fixed: .init(fixed), moving: .init(fixed), options: options) }
            throws: { "\($0)".contains("shrink factor 1") }
    }

    @Test func emptyMaskIsReportedNotCrashed() throws {
        let fixed = try Fixtures.atlas(spacing: 6)
        let empty = Volume(geometry: fixed.geometry)
        #expect { try LinearRegistration.register(fixed: .init(fixed, mask: empty), moving: .init(fixed), options: .rigid) }
            throws: { "\($0)".contains("mask is empty") }
    }
}
