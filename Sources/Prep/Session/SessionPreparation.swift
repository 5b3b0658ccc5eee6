import Foundation
import Imaging
import TacoCore

/// Turns the volumes of one session into voxel-aligned, normalised volumes on one RAS+ grid.
///
/// 1. The reference is the first modality present in `referenceOrder` (default T1w, T1w-CE, T2w,
///    FLAIR, PDw, CT, PET).
/// 2. Its grid: axis-aligned in RAS (direction identity in RAS; an oblique acquisition's tilt is
///    resampled away), covering the reference's field of view, at `targetSpacing` on every axis.
///    Resampling is linear on every axis: higher orders ring across thick slices (nnU-Net resamples
///    its out-of-plane axis with low order for the same reason). A thick-slice reference (one spacing
///    more than `anisotropyRatio` times the smallest, nnU-Net's threshold of 3) is interpolated to the
///    target spacing by default (`ThickSlices.interpolate`) or keeps its slice spacing on the RAS axis
///    nearest its slice normal (`ThickSlices.keep`).
/// 3. Every other modality is registered rigidly (Mattes MI, multi-resolution, inside the reference's
///    foreground mask) to the resampled reference, then resampled onto its grid.
/// 4. The foreground mask (``ForegroundMask``) of the reference; all volumes cropped to the mask's
///    bounding box plus `margin` mm.
/// 5. Optionally (`biasCorrection`), N4 on every MR volume on the grid, inside the mask.
/// 6. MR and PET volumes are z-scored inside the mask (mean 0, standard deviation 1 there); CT is
///    clipped to `ctWindow` (HU) and scaled to [0, 1].
public struct SessionPreparation: Sendable {
    public var targetSpacing = 1.0
    public var referenceOrder = Modality.referenceOrder.map(\.rawValue)
    /// Rigid or affine; its levels are replaced by `RegistrationLevel.pyramid(finest: registrationResolution, ...)`.
    public var registration = LinearRegistration.Options.rigid
    /// The registration's finest resolution, mm: levels at 4x, 2x and 1x of it (shrink factors relative
    /// to the grid). 2 mm by default: a full-resolution level at 1 mm costs about 3x the whole
    /// registration and moves a rigid result by a few hundredths of a millimetre.
    public var registrationResolution = 2.0
    /// Fraction of the masked reference voxels the metric samples (regular grid): 10% leaves about
    /// 20 000 samples at 2 mm, and moved the residual by 0.01 mm against 25% (docs/benchmarks.md).
    public var registrationSampling = 0.1
    /// The reference's foreground grown by this many mm restricts the co-registration's metric (nil: the whole
    /// image). The mask alone left out the head's edge, the strongest shared structure across contrasts: on
    /// real anatomy in thick 2D slices a T2w ended 3.9 mm off where the answer was the identity
    /// (ClinicalCoRegistrationTests, docs/prep.md).
    public var registrationMargin: Double? = 10
    public var margin = 5.0
    public var biasCorrection = false
    /// CT window in HU: values are clipped to it, then mapped linearly to [0, 1].
    public var ctWindow: ClosedRange<Double> = -1000...1000
    public var thickSlices = ThickSlices.interpolate
    /// A spacing ratio (largest / smallest) above which the reference counts as thick-slice.
    public static let anisotropyRatio = 3.0

    /// What to do with the thick axis of a thick-slice reference.
    public enum ThickSlices: String, Sendable, Codable, CaseIterable {
        /// Interpolate (linearly) to the target spacing like the other axes: every session on one spacing.
        case interpolate
        /// Keep the reference's slice spacing on the RAS axis nearest the slice normal: no invented slices.
        case keep
    }

    /// Seconds spent in each step of one ``prepare(_:)``.
    public struct StepTimes: Sendable, Codable {
        public var resample = 0.0, register = 0.0, mask = 0.0, biasCorrection = 0.0, normalise = 0.0
    }

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
        /// Spacing ratio (largest / smallest) of the reference as acquired; above ``anisotropyRatio`` it is thick-slice.
        public let referenceAnisotropy: Double
        public let times: StepTimes
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let reason: String
        public var description: String { reason }
    }

    public func prepare(_ inputs: [Input]) throws -> Result {
        guard let reference = referenceOrder.first(where: { m in inputs.contains { $0.modality == m } })
                ?? inputs.first?.modality else { throw Failure(reason: "no volume to prepare") }
        var times = StepTimes()
        func timed<T>(_ step: WritableKeyPath<StepTimes, Double>, _ work: () throws -> T) rethrows -> T {
            let start = DispatchTime.now().uptimeNanoseconds
            defer { times[keyPath: step] += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
            return try work()
        }
        let referenceVolume = inputs.first { $0.modality == reference }!.volume
        let spacing = referenceVolume.geometry.spacing
        let anisotropy = spacing.max() / spacing.min()
        let grid = Self.rasGrid(covering: referenceVolume.geometry,
                                spacing: gridSpacing(for: referenceVolume.geometry, anisotropy: anisotropy))
        let fixed = try timed(\.resample) { try Resampler.resample(referenceVolume, onto: grid, interpolation: .linear) }
        let fixedMask = try timed(\.mask) { try ForegroundMask.compute(fixed) }

        // The crop box: every other volume is resampled straight onto it; the reference and its mask,
        // already on the grid, are cut out.
        let box = Self.boundingBox(of: fixedMask, margin: margin)
        let mask = fixedMask.extracting(from: box.low, size: box.size)
        let crop = mask.geometry
        var aligned: [String: Volume] = [reference: fixed.extracting(from: box.low, size: box.size)]
        var registrations: [String: LinearRegistration.Result] = [:]
        var levelled = registration
        levelled.levels = RegistrationLevel.pyramid(finest: registrationResolution, gridSpacing: grid.spacing.min())
        levelled.samplingFraction = registrationSampling
        let registrationMask = registrationMargin.map { ForegroundMask.dilated(fixedMask, byMM: $0) }
        for input in inputs where input.modality != reference {
            let result = try timed(\.register) {
                try LinearRegistration.register(fixed: .init(fixed, mask: registrationMask), moving: .init(input.volume), options: levelled)
            }
            registrations[input.modality] = result
            aligned[input.modality] = try timed(\.resample) {
                try Resampler.resample(input.volume, onto: crop, transform: result.transform, interpolation: .linear)
            }
        }

        var volumes: [String: Volume] = [:]
        for (modality, volume) in aligned {
            var cropped = volume
            if biasCorrection && Self.isMR(modality) {
                cropped = try timed(\.biasCorrection) { try BiasCorrection.n4(cropped, mask: mask) }
            }
            volumes[modality] = timed(\.normalise) {
                modality == "CT" ? Self.windowed(cropped, to: ctWindow) : Self.zScored(cropped, inside: mask)
            }
        }
        return Result(reference: reference, volumes: volumes, mask: mask, registrations: registrations,
                      referenceAnisotropy: anisotropy, times: times)
    }

    /// MR classes (bias correction applies to them).
    static func isMR(_ modality: String) -> Bool { !["CT", "PET"].contains(modality) }

    /// The grid spacing per RAS axis: `targetSpacing` everywhere, except with ``ThickSlices/keep`` for a
    /// thick-slice reference, where the RAS axis nearest the thick axis keeps the thick spacing.
    func gridSpacing(for geometry: Geometry, anisotropy: Double) -> Vector3 {
        var out = Vector3(repeating: targetSpacing)
        guard thickSlices == .keep, anisotropy > Self.anisotropyRatio else { return out }
        let thick = (0..<3).max { geometry.spacing[$0] < geometry.spacing[$1] }!
        let column = geometry.direction.column(thick)
        let axis = (0..<3).max { abs(column[$0]) < abs(column[$1]) }!
        out[axis] = max(targetSpacing, geometry.spacing[thick])
        return out
    }

    /// An axis-aligned RAS+ grid (LPS direction diag(-1, -1, 1)) covering `geometry`'s voxel centres.
    public static func rasGrid(covering geometry: Geometry, spacing: Double) -> Geometry {
        rasGrid(covering: geometry, spacing: Vector3(repeating: spacing))
    }

    /// An axis-aligned RAS+ grid covering `geometry`'s voxel centres, with `spacing` per RAS axis.
    public static func rasGrid(covering geometry: Geometry, spacing: Vector3) -> Geometry {
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
        let size = SIMD3<Int>((0..<3).map { Int(((high[$0] - low[$0]) / spacing[$0] - 1e-9).rounded(.up)) + 1 })
        return Geometry(size: size, spacing: spacing, origin: Vector3(-low.x, -low.y, low.z),
                        direction: Matrix3(diagonal: Vector3(-1, -1, 1)))
    }

    /// The index box of `mask`'s non-zero voxels plus `margin` mm on each side, within its grid.
    static func boundingBox(of mask: Volume, margin: Double) -> (low: SIMD3<Int>, size: SIMD3<Int>) {
        let g = mask.geometry
        var low = SIMD3<Int>(g.size.x, g.size.y, g.size.z), high = SIMD3<Int>(-1, -1, -1)
        for z in 0..<g.size.z { for y in 0..<g.size.y { for x in 0..<g.size.x where mask[x, y, z] > 0 {
            low = pointwiseMin(low, SIMD3(x, y, z))
            high = pointwiseMax(high, SIMD3(x, y, z))
        } } }
        let pad = SIMD3<Int>((0..<3).map { Int((margin / g.spacing[$0]).rounded(.up)) })
        low = pointwiseMax(low &- pad, .zero)
        high = pointwiseMin(high &+ pad, g.size &- 1)
        return (low, high &- low &+ 1)
    }

    /// `volume` clipped to `window` and mapped linearly onto [0, 1].
    static func windowed(_ volume: Volume, to window: ClosedRange<Double>) -> Volume {
        var out = volume
        let low = Float(window.lowerBound), width = Float(window.upperBound - window.lowerBound)
        for i in out.voxels.indices { out.voxels[i] = (min(max(volume.voxels[i], low), low + width) - low) / width }
        return out
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
