internal import CITKBridge
import Foundation
import TacoCore

/// Image files of any format TacoKit reads: NIfTI through libnifti (``NIfTIFile``, which checks the voxel
/// byte count: ITK's NIfTI reader accepts truncated files), NRRD, MetaImage and the rest through ITK.
/// Geometry comes back in LPS whatever the file stores.
///
/// ```swift
/// let t1 = try ImageFile.read(URL(fileURLWithPath: "t1.nrrd"))
/// try ImageFile.write(t1, to: URL(fileURLWithPath: "t1.mha"))
/// ```
public enum ImageFile {
    /// What an image file holds, from its header alone.
    public struct Info: Sendable, Equatable {
        public let geometry: Geometry
        public let voxelType: VoxelType
        public let dimensions: Int
        public let components: Int
    }

    /// Reads the header of `url`.
    public static func info(_ url: URL) throws -> Info {
        var c = taco_image_info()
        try BridgeError.check(taco_image_read_info(url.path, &c))
        return Info(geometry: Geometry(c.geometry), voxelType: VoxelType(c.voxel_type),
                    dimensions: Int(c.dimensions), components: Int(c.components))
    }

    /// Reads a scalar 2D or 3D image as float32.
    public static func read(_ url: URL) throws -> Volume {
        if isNIfTI(url) { return try NIfTIFile.read(url).0 }
        return try readWithITK(url)
    }

    /// Whether the name says NIfTI (.nii or .nii.gz).
    public static func isNIfTI(_ url: URL) -> Bool {
        let name = url.lastPathComponent.lowercased()
        return name.hasSuffix(".nii") || name.hasSuffix(".nii.gz")
    }

    /// Reads any format through ITK, NIfTI included (ITK's NIfTI reader does not detect truncated voxel
    /// data: prefer ``read(_:)``). Useful to compare the two NIfTI readers.
    public static func readWithITK(_ url: URL) throws -> Volume {
        let header = try info(url)
        var voxels = [Float](repeating: 0, count: header.geometry.voxelCount)
        var geometry = taco_geometry()
        let capacity = voxels.count
        try voxels.withUnsafeMutableBufferPointer { buffer in
            try BridgeError.check(taco_image_read(url.path, &geometry, buffer.baseAddress, capacity))
        }
        return Volume(geometry: Geometry(geometry), voxels: voxels)
    }

    /// Writes `volume` as float32, atomically (a temporary name in the same folder, then a rename).
    /// The format follows the extension: .nii, .nii.gz, .mha, .mhd, .nrrd.
    public static func write(_ volume: Volume, to url: URL) throws {
        try AtomicFile.write(to: url) { temporary in
            var geometry = volume.geometry.bridged
            try volume.voxels.withUnsafeBufferPointer { buffer in
                try BridgeError.check(taco_image_write(temporary.path, &geometry, buffer.baseAddress))
            }
        }
    }
}
