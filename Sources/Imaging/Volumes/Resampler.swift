internal import CITKBridge
import TacoCore

/// Resampling of a volume onto another grid through ITK.
///
/// An output point p takes the input's value at `transform(p + field(p))` (transform and field both
/// optional), the convention of ITK's ResampleImageFilter: the transform maps output points to input points.
///
/// ```swift
/// let coarse = try Resampler.resample(atlas, onto: atlas.geometry.downsampled(by: 2))
/// ```
public enum Resampler {
    public enum Interpolation: Sendable {
        case nearest, linear, bspline

        var bridged: taco_interpolation {
            switch self {
            case .nearest: return TACO_INTERPOLATE_NEAREST
            case .linear: return TACO_INTERPOLATE_LINEAR
            case .bspline: return TACO_INTERPOLATE_BSPLINE
            }
        }
    }

    /// `volume` resampled onto `geometry`. Points outside the input get `defaultValue`.
    public static func resample(_ volume: Volume, onto geometry: Geometry, transform: AffineTransform3D? = nil,
                                field: VectorField? = nil, interpolation: Interpolation = .linear,
                                defaultValue: Float = 0) throws -> Volume {
        var output = Volume(geometry: geometry)
        var inputGeometry = volume.geometry.bridged
        var outputGeometry = geometry.bridged
        var fieldGeometry = field?.geometry.bridged ?? taco_geometry()
        let matrix = transform?.rowMajor4x4
        try volume.voxels.withUnsafeBufferPointer { input in
            try output.voxels.withUnsafeMutableBufferPointer { out in
                try withOptionalBuffer(field?.vectors) { fieldBuffer in
                    try withOptionalBuffer(matrix) { matrixBuffer in
                        try withUnsafePointer(to: &fieldGeometry) { fieldGeometryPointer in
                            try BridgeError.check(taco_resample(
                                &inputGeometry, input.baseAddress, &outputGeometry, out.baseAddress, matrixBuffer,
                                field == nil ? nil : fieldGeometryPointer, fieldBuffer, interpolation.bridged, defaultValue))
                        }
                    }
                }
            }
        }
        return output
    }
}

extension Resampler {
    /// Every channel of `stack` (2 to 4 channels) resampled onto `geometry` in one pass (nearest or linear
    /// interpolation).
    public static func resample(_ stack: VolumeStack, onto geometry: Geometry, transform: AffineTransform3D? = nil,
                                field: VectorField? = nil, interpolation: Interpolation = .linear,
                                defaultValue: Float = 0) throws -> VolumeStack {
        precondition(interpolation != .bspline, "B-spline interpolation is for single volumes")
        var output = [Float](repeating: 0, count: geometry.voxelCount * stack.channels)
        var inputGeometry = stack.geometry.bridged
        var outputGeometry = geometry.bridged
        var fieldGeometry = field?.geometry.bridged ?? taco_geometry()
        let matrix = transform?.rowMajor4x4
        try stack.values.withUnsafeBufferPointer { input in
            try output.withUnsafeMutableBufferPointer { out in
                try withOptionalBuffer(field?.vectors) { fieldBuffer in
                    try withOptionalBuffer(matrix) { matrixBuffer in
                        try withUnsafePointer(to: &fieldGeometry) { fieldGeometryPointer in
                            try BridgeError.check(taco_resample_components(
                                &inputGeometry, input.baseAddress, UInt32(stack.channels), &outputGeometry, out.baseAddress,
                                matrixBuffer, field == nil ? nil : fieldGeometryPointer, fieldBuffer, interpolation.bridged,
                                defaultValue))
                        }
                    }
                }
            }
        }
        return VolumeStack(geometry: geometry, channels: stack.channels, values: output)
    }
}

/// Calls `body` with a pointer to `array`'s storage, or nil when there is no array.
func withOptionalBuffer<T, R>(_ array: [T]?, _ body: (UnsafePointer<T>?) throws -> R) rethrows -> R {
    guard let array else { return try body(nil) }
    return try array.withUnsafeBufferPointer { try body($0.baseAddress) }
}
