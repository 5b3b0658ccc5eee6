import Foundation
import Imaging

/// Turns the volumes of one session into voxel-aligned, normalised volumes on one RAS+ grid.
///
/// 1. The reference is the first modality present in `referenceOrder` (default T1w, T1w-CE, T2w,
///    FLAIR, PDw, CT, PET).
/// 2. Its grid: axis-aligned in RAS (direction identity in RAS; an oblique acquisition's tilt is
///    resampled away), covering the reference's field of view, at `targetSpacing` on every axis.
///    Resampling is linear on every axis: higher orders ring across thick slices (nnU-Net resamples
///    its out-of-plane axis with low order for the same reason).
/// 3. Every other modality is registered rigidly (Mattes MI, multi-resolution, inside the reference's
///    foreground mask) to the resampled reference, then resampled onto its grid.
/// 4. The foreground mask (``ForegroundMask``) of the reference; all volumes cropped to the mask's
///    bounding box plus `margin` mm.
/// 5. MR volumes are z-scored inside the mask (mean 0, standard deviation 1 there).
public struct SessionPreparation: Sendable {
    public var targetSpacing = 1.0
    public var referenceOrder = ["T1w", "T1w-CE", "T2w", "FLAIR", "PDw", "CT", "PET"]
    public var registration = LinearRegistration.Options.rigid
    public var margin = 5.0

    public init() {}

    /// One modality's input: its volume in its own acquisition geometry.
    public struct Input: Sendable {
        public let modality: String
        public let volume: Volume
        public init(modality: String, volume: Volume) {
            self.modality = modality
            self.volume = volume
        }
    }

    /// What the session became.
    public struct Result: Sendable {
        public let reference: String
        /// Normalised volumes, all on `grid`.
        public let volumes: [String: Volume]
        public let mask: Volume
        public var grid: Geometry { mask.geometry }
        /// Per registered modality: the transform from a grid point to that modality's own scanner
        /// point, and the final metric.
        public let registrations: [String: LinearRegistration.Result]
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let reason: String
        public var description: String { reason }
    }

    public func prepare(_ inputs: [Input]) throws -> Result {
        guard let reference = referenceOrder.first(where: { m in inputs.contains { $0.modality == m } })
                ?? inputs.first?.modality else { throw Failure(reason: "no volume to prepare") }
        let referenceVolume = inputs.first { $0.modality == reference }!.volume
        let grid = Self.rasGrid(covering: referenceVolume.geometry, spacing: targetSpacing)
        let fixed = try Resampler.resample(referenceVolume, onto: grid, interpolation: .linear)
        let fixedMask = try ForegroundMask.compute(fixed)

        var aligned: [String: Volume] = [reference: fixed]
        var registrations: [String: LinearRegistration.Result] = [:]
        for input in inputs where input.modality != reference {
            let result = try LinearRegistration.register(fixed: .init(fixed, mask: fixedMask), moving: .init(input.volume),
                                                         options: registration)
            registrations[input.modality] = result
            aligned[input.modality] = try Resampler.resample(input.volume, onto: grid, transform: result.transform, interpolation: .linear)
        }

        let crop = Self.boundingGrid(of: fixedMask, margin: margin)
        let mask = try Resampler.resample(fixedMask, onto: crop, interpolation: .nearest)
        var volumes: [String: Volume] = [:]
        for (modality, volume) in aligned {
            let cropped = try Resampler.resample(volume, onto: crop, interpolation: .nearest)
            volumes[modality] = ["CT", "PET"].contains(modality) ? cropped : Self.zScored(cropped, inside: mask)
        }
        return Result(reference: reference, volumes: volumes, mask: mask, registrations: registrations)
    }

    /// An axis-aligned RAS+ grid (LPS direction diag(-1, -1, 1)) covering `geometry`'s voxel centres.
    public static func rasGrid(covering geometry: Geometry, spacing: Double) -> Geometry {
        let s = geometry.size
        var low = Vector3(repeating: .infinity), high = Vector3(repeating: -.infinity)
        for corner in 0..<8 {
            let index = Vector3(corner & 1 == 0 ? 0 : Double(s.x - 1), corner & 2 == 0 ? 0 : Double(s.y - 1),
                                corner & 4 == 0 ? 0 : Double(s.z - 1))
            let lps = geometry.point(ofIndex: index)
            let ras = Vector3(-lps.x, -lps.y, lps.z)
            low = pointwiseMin(low, ras)
            high = pointwiseMax(high, ras)
        }
        let size = SIMD3<Int>((0..<3).map { Int(((high[$0] - low[$0]) / spacing).rounded(.up)) + 1 })
        return Geometry(size: size, spacing: Vector3(repeating: spacing), origin: Vector3(-low.x, -low.y, low.z),
                        direction: Matrix3(diagonal: Vector3(-1, -1, 1)))
    }

    /// The sub-grid of `mask`'s grid holding its non-zero voxels plus `margin` mm on each side.
    static func boundingGrid(of mask: Volume, margin: Double) -> Geometry {
        let g = mask.geometry
        var low = SIMD3<Int>(g.size.x, g.size.y, g.size.z), high = SIMD3<Int>(-1, -1, -1)
        for z in 0..<g.size.z { for y in 0..<g.size.y { for x in 0..<g.size.x where mask[x, y, z] > 0 {
            low = pointwiseMin(low, SIMD3(x, y, z))
            high = pointwiseMax(high, SIMD3(x, y, z))
        } } }
        let pad = SIMD3<Int>((0..<3).map { Int((margin / g.spacing[$0]).rounded(.up)) })
        low = pointwiseMax(low &- pad, .zero)
        high = pointwiseMin(high &+ pad, g.size &- 1)
        return Geometry(size: high &- low &+ 1, spacing: g.spacing,
                        origin: g.point(ofIndex: Vector3(Double(low.x), Double(low.y), Double(low.z))), direction: g.direction)
    }

    /// `volume` with mean 0 and standard deviation 1 inside `mask` (outside: 0).
    static func zScored(_ volume: Volume, inside mask: Volume) -> Volume {
        var sum = 0.0, squares = 0.0, n = 0.0
        for i in volume.voxels.indices where mask.voxels[i] > 0 {
            let v = Double(volume.voxels[i])
            sum += v
            squares += v * v
            n += 1
        }
        let mean = sum / max(n, 1), sd = max((squares / max(n, 1) - mean * mean).squareRoot(), 1e-6)
        var out = volume
        for i in out.voxels.indices { out.voxels[i] = mask.voxels[i] > 0 ? Float((Double(volume.voxels[i]) - mean) / sd) : 0 }
        return out
    }
}
