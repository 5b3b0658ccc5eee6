import CITKBridge

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
