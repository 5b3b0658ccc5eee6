import Foundation
import Testing
import TacoCore
@testable import Imaging

/// TacoKit's greedy deformable registration against warps with a known answer.
@Suite struct GreedyRegistrationTests {
    /// A smooth warp of up to ~4 mm around the grid's centre: moving(q) = fixed(q + w(q)).
    static func knownWarp(_ fixed: Volume) -> (Vector3) -> Vector3 {
        let c = fixed.geometry.center
        return { p in
            let d = (p - c) / 40
            return Vector3(3.0 * sin(d.y), -2.5 * sin(d.z + 0.5 * d.x), 2.0 * cos(d.x) * sin(d.y))
        }
    }

    static let options: GreedyRegistration.Options = {
        var o = GreedyRegistration.Options(levels: [
            RegistrationLevel(shrink: 4, smoothingMM: 6, iterations: 60),
            RegistrationLevel(shrink: 2, smoothingMM: 3, iterations: 40),
            RegistrationLevel(shrink: 1, smoothingMM: 0, iterations: 20),
        ])
        o.threads = 2
        return o
    }()

    @Test func recoversAKnownSmoothWarpBothWays() throws {
        let fixed = try Fixtures.atlas(spacing: 2)
        let w = Self.knownWarp(fixed)
        let moving = try Resampler.resample(fixed, onto: fixed.geometry, field: VectorField(geometry: fixed.geometry, w), interpolation: .bspline)
        let start = Date()
        let result = try GreedyRegistration.register(fixed: .init(fixed), moving: .init(moving), options: Self.options)
        let seconds = Date().timeIntervalSince(start)
        let points = RegistrationTests.brainPoints(fixed, step: 2)
        // Fixed p corresponds to moving q = p + u(p); truly q + w(q) = p.
        let before = points.map { length(w($0)) }
        let after = points.map { p -> Double in
            let q = p + result.forward.value(at: p)
            return length(q + w(q) - p)
        }
        print("greedy: \(String(format: "%.2f", mean(before))) -> \(String(format: "%.2f", mean(after))) mm, metric \(result.metric), \(result.iterations) iterations, \(String(format: "%.1f", seconds)) s, inverse residual \(result.inverseResidualMM) mm")
        #expect(mean(after) < 0.25 * mean(before), "mean error \(mean(after)) of \(mean(before)) mm")
        // The other direction: moving point q maps back to q + v(q) = q + w(q).
        let backward = points.map { q -> Double in length(q + result.inverse.value(at: q) - (q + w(q))) }
        #expect(mean(backward) < 0.25 * mean(before), "inverse mean error \(mean(backward)) mm")
        // The inverse composed with the forward is the identity.
        let roundTrip = points.map { p -> Double in
            let q = p + result.forward.value(at: p)
            return length(q + result.inverse.value(at: q) - p)
        }
        let sorted = roundTrip.sorted()
        #expect(sorted[sorted.count * 99 / 100] < 0.1, "round trip p99 \(sorted[sorted.count * 99 / 100]) mm, max \(sorted.last!) mm")
        #expect(result.inverseResidualMM < 0.01, "inverse residual on the grid \(result.inverseResidualMM) mm")
    }

    @Test func sameFieldWithOneAndTwoThreads() throws {
        let fixed = try Fixtures.atlas(spacing: 4)
        let moving = try Resampler.resample(fixed, onto: fixed.geometry, field: VectorField(geometry: fixed.geometry, Self.knownWarp(fixed)),
                                            interpolation: .linear)
        var options = GreedyRegistration.Options(levels: [
            RegistrationLevel(shrink: 2, smoothingMM: 4, iterations: 10),
            RegistrationLevel(shrink: 1, smoothingMM: 0, iterations: 5),
        ])
        options.threads = 1
        let one = try GreedyRegistration.register(fixed: .init(fixed), moving: .init(moving), options: options)
        options.threads = 2
        let two = try GreedyRegistration.register(fixed: .init(fixed), moving: .init(moving), options: options)
        #expect(one.forward.vectors.contains { $0 != 0 })
        #expect(one.forward.vectors == two.forward.vectors)
        #expect(one.inverse.vectors == two.inverse.vectors)
        #expect(one.metric == two.metric)
    }

    @Test func aShiftedImageIsFoundAsAShift() throws {
        // moving(q) = fixed(q - s): the forward field should be s everywhere inside the head.
        let fixed = try Fixtures.atlas(spacing: 3)
        let shift = Vector3(2.5, -1.5, 1)
        let moving = try Resampler.resample(fixed, onto: fixed.geometry, transform: AffineTransform3D(linear: .identity, translation: -shift),
                                            interpolation: .bspline)
        let result = try GreedyRegistration.register(fixed: .init(fixed), moving: .init(moving), options: Self.options)
        let errors = RegistrationTests.brainPoints(fixed, step: 2).map { length(result.forward.value(at: $0) - shift) }
        // Measured 0.34 mm on these 3 mm voxels (a ninth of a voxel; the border of the head pulls the field towards 0).
        #expect(mean(errors) < 0.4, "mean error \(mean(errors)) mm of a \(length(shift)) mm shift")
    }

    @Test func aLevelStopsOnceItsMetricStopsGaining() throws {
        let fixed = try Fixtures.atlas(spacing: 6)
        var options = GreedyRegistration.Options(levels: [
            RegistrationLevel(shrink: 2, smoothingMM: 6, iterations: 50),
            RegistrationLevel(shrink: 1, smoothingMM: 0, iterations: 50),
        ])
        #expect(try GreedyRegistration.register(fixed: .init(fixed), moving: .init(fixed), options: options).iterations == 100)
        // No ten iterations gain a whole unit of a metric in 0...1: each level stops at its first check, after 11.
        options.convergence = 1
        #expect(try GreedyRegistration.register(fixed: .init(fixed), moving: .init(fixed), options: options).iterations == 22)
    }

    @Test func rejectsSchedulesThatCannotWork() throws {
        let fixed = try Fixtures.atlas(spacing: 6)
        var options = GreedyRegistration.Options(levels: [RegistrationLevel(shrink: 2, smoothingMM: 1, iterations: 2)])
        #expect { try GreedyRegistration.register(fixed: .init(fixed), moving: .init(fixed), options: options) }
            throws: { "\($0)".contains("shrink factor 1") }
        options.levels = [RegistrationLevel(shrink: 1, smoothingMM: 0, iterations: 2)]
        options.radius = 0
        #expect { try GreedyRegistration.register(fixed: .init(fixed), moving: .init(fixed), options: options) }
            throws: { "\($0)".contains("radius") }
    }
}

