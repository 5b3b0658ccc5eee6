import ArgumentParser
import Foundation
import Imaging

/// `taco inspect PATH`: explains an image file or a DICOM folder. Patient tags are never printed.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe an image file (NIfTI, NRRD, MetaImage) or the DICOM series in a folder.",
        discussion: "Prints geometry (LPS), orientation code, voxel type, intensity range and percentiles; for a DICOM folder, each series with its technical tags. Patient data, dates and UIDs are never printed."
    )

    @Argument(help: "An image file or a folder of DICOM files.")
    var path: String

    func run() throws {
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw ValidationError("\(path): no such file or folder")
        }
        do {
            if isDirectory.boolValue {
                print(InspectionText.describe(try DICOMFolderSurvey(url), folder: path))
            } else {
                print(InspectionText.describe(try ImageInspection(url), path: path))
            }
        } catch {
            throw CommandFailure(message: "\(error)")
        }
    }
}


