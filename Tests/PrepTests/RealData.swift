import Foundation

/// The real scanner data of `../shared/realdata` (beside the repository; CI has it): public DICOM validation
/// series with dcm2niix's conversions, and the BraTS sample. Read in place, never copied into the repository.
enum RealData {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/realdata")

    /// The DICOM files of a case (`dicom/<name>/dicom`).
    static func dicom(_ name: String) throws -> URL {
        let folder = root.appendingPathComponent("dicom/\(name)/dicom")
        guard FileManager.default.fileExists(atPath: folder.path) else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: folder.path, NSLocalizedDescriptionKey: "real data case \(name) not found at \(folder.path) (../shared/realdata beside the repository)"])
        }
        return folder
    }
}
