import Foundation
import TacoCore

/// What `taco inspect` reports about one image file: its grid, orientation, voxel type, where a
/// NIfTI file's geometry came from, and intensity statistics.
///
/// ```swift
/// let report = try ImageInspection(url)
/// print(report.geometry.orientationCode, report.intensities.percentile(99))
/// ```
public struct ImageInspection: Sendable {
    public let url: URL
    public let format: String
    public let geometry: Geometry
    public let voxelType: VoxelType
    /// For NIfTI: which header field gave the geometry, and the codes.
    public let niftiHeader: NIfTIFile.Header?
    public let intensities: IntensitySummary

    /// Reads and summarises `url` (NIfTI through libnifti; NRRD, MetaImage and others through ITK).
    public init(_ url: URL) throws {
        self.url = url
        let name = url.lastPathComponent.lowercased()
        if ImageFile.isNIfTI(url) {
            let (volume, header) = try NIfTIFile.read(url)
            format = "NIfTI-1"
            geometry = volume.geometry
            voxelType = header.voxelType
            niftiHeader = header
            intensities = IntensitySummary(of: volume)
        } else {
            let info = try ImageFile.info(url)
            let volume = try ImageFile.read(url)
            format = AtomicFile.fullExtension(of: name).dropFirst().uppercased()
            geometry = volume.geometry
            voxelType = info.voxelType
            niftiHeader = nil
            intensities = IntensitySummary(of: volume)
        }
    }
}
