internal import CITKBridge
import TacoCore

/// The foreground of an image: voxels above a robust threshold, the largest connected component, holes
/// filled (ITK). The threshold is `fraction` of the image's 99th percentile (estimated from a regular
/// subsample of about a million voxels), which ignores a few hot voxels and the noise floor alike.
///
/// ```swift
/// let mask = try ForegroundMask.compute(t1)      // 1 inside, 0 outside, on t1's grid
/// ```
public enum ForegroundMask {
    /// The mask of `volume`; fails when nothing is above the threshold.
    public static func compute(_ volume: Volume, fraction: Float = 0.1) throws -> Volume {
        // The 99th percentile from a regular subsample of about a million voxels.
        let stride = max(1, volume.voxels.count / 1_000_000)
        let threshold = fraction * IntensitySummary(values: volume.voxels, stride: stride).percentile(99)
        var mask = Volume(geometry: volume.geometry)
        var geometry = volume.geometry.bridged
        var inside = 0
        try volume.voxels.withUnsafeBufferPointer { v in
            try mask.voxels.withUnsafeMutableBufferPointer { m in
                try BridgeError.check(taco_foreground_mask(&geometry, v.baseAddress, threshold, m.baseAddress, &inside))
            }
        }
        return mask
    }
}
