internal import CITKBridge
import TacoCore

/// One level of a multi-resolution schedule.
public struct RegistrationLevel: Sendable, Equatable {
    /// Integer shrink factor of the images at this level.
    public var shrink: Int
    /// Gaussian smoothing sigma in mm before shrinking.
    public var smoothingMM: Double
    /// Maximum iterations at this level.
    public var iterations: Int

    public init(shrink: Int, smoothingMM: Double, iterations: Int) {
        self.shrink = shrink
        self.smoothingMM = smoothingMM
        self.iterations = iterations
    }

    /// Levels at 4x, 2x and 1x `finest` mm on a grid of `gridSpacing` mm: shrink factors rounded (at
    /// least 1), smoothing sigma half the level's resolution (none at shrink 1), `iterations` at most;
    /// levels that round to the same shrink factor are merged (the finer smoothing kept).
    public static func pyramid(finest: Double, gridSpacing: Double, iterations: Int = 200) -> [RegistrationLevel] {
        var levels: [RegistrationLevel] = []
        for mm in [4 * finest, 2 * finest, finest] {
            let shrink = max(1, Int((mm / gridSpacing).rounded()))
            let level = RegistrationLevel(shrink: shrink, smoothingMM: shrink == 1 ? 0 : mm / 2, iterations: iterations)
            if levels.last?.shrink == shrink { levels[levels.count - 1] = level } else { levels.append(level) }
        }
        return levels
    }
}

// MARK: - Bridging helpers

typealias LevelTuple<T> = (T, T, T, T, T, T)

func setSchedule(_ levels: [RegistrationLevel], shrink: inout LevelTuple<UInt32>,
                         smoothing: inout LevelTuple<Double>, iterations: inout LevelTuple<UInt32>) {
    withUnsafeMutableBytes(of: &shrink) { s in
        withUnsafeMutableBytes(of: &smoothing) { m in
            withUnsafeMutableBytes(of: &iterations) { i in
                let s = s.bindMemory(to: UInt32.self), m = m.bindMemory(to: Double.self), i = i.bindMemory(to: UInt32.self)
                for (l, level) in levels.enumerated() {
                    s[l] = UInt32(level.shrink)
                    m[l] = level.smoothingMM
                    i[l] = UInt32(level.iterations)
                }
            }
        }
    }
}

/// Calls `body` with bridge views of both images; the pointers are valid only inside it.
func withViews<R>(_ fixed: RegistrationImage, _ moving: RegistrationImage,
                          _ body: (taco_image_view, taco_image_view) throws -> R) throws -> R {
    var fixedGeometry = fixed.volume.geometry.bridged
    var movingGeometry = moving.volume.geometry.bridged
    return try fixed.volume.voxels.withUnsafeBufferPointer { fv in
        try moving.volume.voxels.withUnsafeBufferPointer { mv in
            try withOptionalBuffer(fixed.mask?.voxels) { fm in
                try withOptionalBuffer(moving.mask?.voxels) { mm in
                    try withUnsafePointer(to: &fixedGeometry) { fg in
                        try withUnsafePointer(to: &movingGeometry) { mg in
                            try body(taco_image_view(geometry: fg, voxels: fv.baseAddress, mask: fm),
                                     taco_image_view(geometry: mg, voxels: mv.baseAddress, mask: mm))
                        }
                    }
                }
            }
        }
    }
}

/// Runs a deformable registration `call` (bridge views of both images, the initial 4x4 or NULL, the forward
/// and inverse buffers of 3 floats per fixed voxel) and returns both fields on the fixed grid.
func registerFields(_ fixed: RegistrationImage, _ moving: RegistrationImage, initial: AffineTransform3D?,
                    _ call: (taco_image_view, taco_image_view, UnsafePointer<Double>?, UnsafeMutablePointer<Float>?,
                             UnsafeMutablePointer<Float>?) -> taco_status) throws -> (forward: VectorField, inverse: VectorField) {
    let grid = fixed.volume.geometry
    var forward = [Float](repeating: 0, count: 3 * grid.voxelCount)
    var inverse = forward
    try withViews(fixed, moving) { fixedView, movingView in
        try withOptionalBuffer(initial?.rowMajor4x4) { start in
            try forward.withUnsafeMutableBufferPointer { f in
                try inverse.withUnsafeMutableBufferPointer { i in
                    try BridgeError.check(call(fixedView, movingView, start, f.baseAddress, i.baseAddress))
                }
            }
        }
    }
    return (VectorField(geometry: grid, vectors: forward), VectorField(geometry: grid, vectors: inverse))
}
