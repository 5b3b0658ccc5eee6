internal import CITKBridge
import TacoCore

/// N4 bias-field correction (ITK's N4BiasFieldCorrectionImageFilter): a smooth multiplicative field
/// fitted inside a mask on a shrunken copy of the image, then divided out at full resolution.
///
/// ```swift
/// let flat = try BiasCorrection.n4(t1, mask: brain)     // same grid, bias divided out
/// ```
public enum BiasCorrection {
    /// `volume` with its bias field divided out. `shrink` speeds the fit (4 is N4's usual choice);
    /// `iterations` gives the maximum iterations per fitting level (coarse to fine).
    public static func n4(_ volume: Volume, mask: Volume, shrink: Int = 4, iterations: [Int] = [50, 50, 30]) throws -> Volume {
        precondition(mask.geometry == volume.geometry, "the mask must share the image's grid")
        var out = volume
        var geometry = volume.geometry.bridged
        let levels = iterations.map { UInt32($0) }
        try mask.voxels.withUnsafeBufferPointer { m in
            try out.voxels.withUnsafeMutableBufferPointer { v in
                try BridgeError.check(taco_n4_bias_correct(&geometry, v.baseAddress, m.baseAddress, UInt32(shrink), levels, levels.count))
            }
        }
        return out
    }
}
