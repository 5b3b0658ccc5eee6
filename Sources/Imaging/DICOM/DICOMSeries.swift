internal import CITKBridge
import Foundation
import TacoCore

/// Reading and writing one DICOM series (one file per slice) through GDCM.
///
/// ```swift
/// let volume = try DICOMSeries.read(files)       // any file order: slices are sorted along the normal
/// ```
public enum DICOMSeries {
    /// A series that cannot be assembled, with the reason.
    public struct AssemblyError: Error, CustomStringConvertible, Sendable {
        public let reason: String
        public var description: String { reason }
    }

    /// Tags the slice ordering needs.
    static let geometryTags: [DICOMTag] = [.imagePositionPatient, .imageOrientationPatient, .instanceNumber]

    /// The files in slice order: ascending position along the slice normal (row x column direction).
    /// Throws when a file is unreadable or lacks position and orientation, or orientations differ.
    public static func sortedAlongNormal(_ files: [URL]) throws -> [URL] {
        let headers = try DICOMHeaderScan.scan(files, tags: geometryTags)
        if let bad = headers.first(where: { $0.failure != nil }) {
            throw AssemblyError(reason: "\(bad.url.path): \(bad.failure!)")
        }
        guard headers.count > 1 else { return files }
        var keyed: [(URL, Double)] = []
        var reference: [Double]?
        for h in headers {
            guard let iop = h.numbers(.imageOrientationPatient), iop.count == 6,
                  let ipp = h.numbers(.imagePositionPatient), ipp.count == 3 else {
                throw AssemblyError(reason: "\(h.url.path): no ImagePositionPatient/ImageOrientationPatient")
            }
            if let ref = reference {
                if zip(ref, iop).contains(where: { abs($0 - $1) > 1e-4 }) {
                    throw AssemblyError(reason: "\(h.url.path): orientation differs from the rest of the series")
                }
            } else {
                reference = iop
            }
            let normal = cross(Vector3(iop[0], iop[1], iop[2]), Vector3(iop[3], iop[4], iop[5]))
            keyed.append((h.url, dot(normal, Vector3(ipp[0], ipp[1], ipp[2]))))
        }
        return keyed.sorted { $0.1 < $1.1 }.map(\.0)
    }

    /// Reads a series from its files (in any order) as float32 with rescale slope and intercept applied.
    public static func read(_ files: [URL]) throws -> Volume {
        let ordered = try sortedAlongNormal(files)
        return try readOrdered(ordered)
    }

    /// Reads a series from files already in slice order.
    public static func readOrdered(_ files: [URL]) throws -> Volume {
        guard !files.isEmpty else { throw AssemblyError(reason: "an empty series") }
        let paths = files.map { strdup($0.path) }
        defer { paths.forEach { free($0) } }
        let pointers = paths.map { UnsafePointer($0) }
        var geometry = taco_geometry()
        try pointers.withUnsafeBufferPointer { p in
            try BridgeError.check(taco_dicom_read_series(p.baseAddress, p.count, &geometry, nil, 0))
        }
        var voxels = [Float](repeating: 0, count: Geometry(geometry).voxelCount)
        let capacity = voxels.count
        try pointers.withUnsafeBufferPointer { p in
            try voxels.withUnsafeMutableBufferPointer { v in
                try BridgeError.check(taco_dicom_read_series(p.baseAddress, p.count, &geometry, v.baseAddress, capacity))
            }
        }
        return Volume(geometry: Geometry(geometry), voxels: voxels)
    }

    public enum Compression: Sendable {
        case none, jpegLossless, jpeg2000Lossless, jpegLSLossless, rleLossless

        /// The transfer syntax UID of files written with this choice.
        public var transferSyntaxUID: String {
            switch self {
            case .none: return "1.2.840.10008.1.2.1"
            case .jpegLossless: return "1.2.840.10008.1.2.4.70"
            case .jpeg2000Lossless: return "1.2.840.10008.1.2.4.90"
            case .jpegLSLossless: return "1.2.840.10008.1.2.4.80"
            case .rleLossless: return "1.2.840.10008.1.2.5"
            }
        }

        var bridged: taco_dicom_compression {
            switch self {
            case .none: return TACO_DICOM_UNCOMPRESSED
            case .jpegLossless: return TACO_DICOM_JPEG_LOSSLESS
            case .jpeg2000Lossless: return TACO_DICOM_JPEG2000_LOSSLESS
            case .jpegLSLossless: return TACO_DICOM_JPEGLS_LOSSLESS
            case .rleLossless: return TACO_DICOM_RLE_LOSSLESS
            }
        }
    }

    /// Writes `volume` as one int16 file per z slice at `files` (one URL per slice), with
    /// stored = round((value - intercept) / slope). `tags` must include SeriesInstanceUID; geometry,
    /// instance numbers (from `firstInstanceNumber`), SOP instance UIDs (series UID + "." + instance
    /// number) and rescale tags are added.
    public static func write(_ volume: Volume, to files: [URL], tags: [DICOMTag: String], rescaleSlope: Double = 1,
                             rescaleIntercept: Double = 0, firstInstanceNumber: Int = 1,
                             compression: Compression = .none) throws {
        precondition(files.count == volume.geometry.size.z, "one file per slice")
        let sorted = tags.sorted { $0.key < $1.key }
        let keys = sorted.map { strdup($0.key.itkKey) }, values = sorted.map { strdup($0.value) }
        let paths = files.map { strdup($0.path) }
        defer { (keys + values + paths).forEach { free($0) } }
        let cTags = zip(keys, values).map { taco_dicom_tag(tag: $0, value: $1) }
        let pathPointers = paths.map { UnsafePointer($0) }
        var geometry = volume.geometry.bridged
        try volume.voxels.withUnsafeBufferPointer { v in
            try cTags.withUnsafeBufferPointer { t in
                try pathPointers.withUnsafeBufferPointer { p in
                    try BridgeError.check(taco_dicom_write_series(&geometry, v.baseAddress, rescaleSlope, rescaleIntercept,
                                                                  t.baseAddress, t.count, p.baseAddress, UInt32(firstInstanceNumber),
                                                                  compression.bridged))
                }
            }
        }
    }

    /// Writes `volume` as one Enhanced MR Image Storage file (every z slice a frame; geometry in the
    /// functional groups), stored = round((value - intercept) / slope). `tags` must include
    /// SeriesInstanceUID and should include SOPInstanceUID.
    public static func writeMultiFrame(_ volume: Volume, to file: URL, tags: [DICOMTag: String], rescaleSlope: Double = 1,
                                       rescaleIntercept: Double = 0) throws {
        let sorted = tags.sorted { $0.key < $1.key }
        let keys = sorted.map { strdup($0.key.itkKey) }, values = sorted.map { strdup($0.value) }
        defer { (keys + values).forEach { free($0) } }
        let cTags = zip(keys, values).map { taco_dicom_tag(tag: $0, value: $1) }
        var geometry = volume.geometry.bridged
        try volume.voxels.withUnsafeBufferPointer { v in
            try cTags.withUnsafeBufferPointer { t in
                try BridgeError.check(taco_dicom_write_multiframe(&geometry, v.baseAddress, rescaleSlope, rescaleIntercept,
                                                                  t.baseAddress, t.count, file.path))
            }
        }
    }
}
