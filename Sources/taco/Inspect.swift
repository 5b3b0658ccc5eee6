import ArgumentParser
import Foundation
import Imaging
import Shards

/// `taco inspect PATH`: explains an image file or a DICOM folder. Patient tags are never printed.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe an image file (NIfTI, NRRD, MetaImage), a shard (HDF5), or the DICOM series in a folder.",
        discussion: "Prints geometry (LPS), orientation code, voxel type, intensity range and percentiles; for a DICOM folder, each series with its technical tags; for a shard, its subjects (modalities, shapes, flags). Patient data, dates and UIDs are never printed."
    )

    @Argument(help: "An image file, a shard, or a folder of DICOM files.")
    var path: String

    @Flag(name: .long, help: "For a shard: read every chunk and check its checksum; for a manifest (dataset.json): check every shard's size and SHA-256 (exit 1 on any problem).")
    var verify = false

    func run() throws {
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw ValidationError("\(path): no such file or folder")
        }
        do {
            if isDirectory.boolValue {
                print(InspectionText.describe(try DICOMFolderSurvey(url, scanner: .isolated(IsolatedHeaderScan(worker: BatchOptions.executable(arguments: "prep", "scan-worker")))), folder: path))
            } else if url.pathExtension == "json", let manifest = try? ShardManifest.read(from: url) {
                print(InspectionText.describe(manifest, path: path))
                if verify {
                    let problems = try manifest.verify(folder: url.deletingLastPathComponent())
                    print(problems.isEmpty ? "verify: every shard is present with its size and SHA-256" : "verify: \(problems.count) problem(s)")
                    problems.forEach { print("  " + $0) }
                    if !problems.isEmpty { throw ExitCode(1) }
                }
            } else if Self.isHDF5(url) {
                let shard = try ShardReader(url: url)
                print(try InspectionText.describe(shard, path: path))
                if verify {
                    let problems = try shard.verify()
                    print(problems.isEmpty ? "verify: every chunk's checksum holds" : "verify: \(problems.count) damaged dataset(s)")
                    problems.forEach { print("  " + $0) }
                    if !problems.isEmpty { throw ExitCode(1) }
                }
            } else {
                print(InspectionText.describe(try ImageInspection(url), path: path))
            }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            throw CommandFailure(message: "\(error)")
        }
    }

    /// Whether `url` starts with the HDF5 signature.
    static func isHDF5(_ url: URL) -> Bool {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return false }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: 8)) == Data([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a])
    }
}


