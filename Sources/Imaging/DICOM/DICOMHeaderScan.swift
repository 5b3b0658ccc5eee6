internal import CITKBridge
import Foundation

/// Fast header scans of many DICOM files through GDCM: each file is parsed up to its pixel data.
///
/// ```swift
/// let headers = try DICOMHeaderScan.scan(files, tags: [.seriesInstanceUID, .imagePositionPatient])
/// for h in headers where h.failure == nil { print(h[.seriesInstanceUID] ?? "-") }
/// ```
public enum DICOMHeaderScan {
    /// Reads `tags` from every file; unreadable files come back with a `failure` reason.
    public static func scan(_ files: [URL], tags: [DICOMTag]) throws -> [DICOMHeader] {
        let paths = files.map { strdup($0.path) }
        let tagTexts = tags.map { strdup($0.text) }
        defer {
            paths.forEach { free($0) }
            tagTexts.forEach { free($0) }
        }
        var handle: OpaquePointer?
        let pathPointers = paths.map { UnsafePointer($0) }
        let tagPointers = tagTexts.map { UnsafePointer($0) }
        try pathPointers.withUnsafeBufferPointer { p in
            try tagPointers.withUnsafeBufferPointer { t in
                try BridgeError.check(taco_dicom_scan_files(p.baseAddress, p.count, t.baseAddress, t.count, &handle))
            }
        }
        defer { taco_dicom_scan_free(handle) }
        return files.enumerated().map { i, url in
            // A file whose header was read but whose pixel data is truncated keeps its values beside the failure.
            var values: [DICOMTag: String] = [:]
            for (j, tag) in tags.enumerated() {
                if let value = taco_dicom_scan_value(handle, i, j) { values[tag] = String(cString: value) }
            }
            let failure = taco_dicom_scan_is_readable(handle, i) != 0 ? nil : String(cString: taco_dicom_scan_failure(handle, i))
            return DICOMHeader(url: url, failure: failure, values: values)
        }
    }
}
