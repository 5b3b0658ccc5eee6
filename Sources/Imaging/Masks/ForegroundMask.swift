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

    /// `mask` grown by `mm` millimetres along each axis (a box: the voxels within round(mm / spacing) steps
    /// of an inside voxel on every axis), by separable running maxima.
    public static func dilated(_ mask: Volume, byMM mm: Double) -> Volume {
        let g = mask.geometry, n = g.size
        var current = mask.voxels.map { $0 > 0 ? Float(1) : 0 }
        for axis in 0..<3 {
            let r = Int((mm / g.spacing[axis]).rounded())
            guard r > 0, n[axis] > 1 else { continue }
            let step = axis == 0 ? 1 : axis == 1 ? n.x : n.x * n.y
            var next = current
            // Each line once, from its first voxel: the distance to the nearest inside voxel behind, then ahead.
            for start in 0..<current.count where (start / step) % n[axis] == 0 {
                var behind = Int.max / 2
                for i in 0..<n[axis] {
                    behind = current[start + i * step] > 0 ? 0 : behind + 1
                    next[start + i * step] = behind <= r ? 1 : 0
                }
                var ahead = Int.max / 2
                for i in stride(from: n[axis] - 1, through: 0, by: -1) {
                    ahead = current[start + i * step] > 0 ? 0 : ahead + 1
                    if ahead <= r { next[start + i * step] = 1 }
                }
            }
            current = next
        }
        return Volume(geometry: g, voxels: current)
    }
}
