import Foundation
import Imaging
import TacoCore
import Testing

/// `taco inspect` run as a user runs it: the built binary, its output and exit code.
@Suite struct InspectCommandTests {
    static let root = TacoProcess.root

    static func run(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) { try TacoProcess.run(arguments) }

    @Test func describesTheBundledAtlas() throws {
        let atlas = Self.root.appendingPathComponent("atlases/mni152-2009a-sym/mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz")
        let r = try Self.run(["inspect", atlas.path])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("size         197 x 233 x 189 voxels"))
        #expect(r.out.contains("orientation  RAS"))
        #expect(r.out.contains("from sform (sform_code 2, qform_code 0)"))
        #expect(r.out.contains("voxel type   uint8"))
        #expect(r.out.contains("origin       98, 134, -72 mm (LPS)"))
    }

    @Test(arguments: ["oblique.nrrd", "oblique.mha"])
    func describesITKFormatsWithTheirOrientation(name: String) throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("taco-inspect-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        // Axes pointing R, I, A: a coronal-style grid, 25 degrees off axis around the left-right axis.
        let direction = Matrix3.rotation(x: 25 * .pi / 180, y: 0, z: 0) * Matrix3(columns: (Vector3(-1, 0, 0), Vector3(0, 0, -1), Vector3(0, -1, 0)))
        var volume = Volume(geometry: Geometry(size: [4, 5, 6], spacing: [1, 2, 3], origin: [1, 2, 3], direction: direction))
        for i in volume.voxels.indices { volume.voxels[i] = Float(i) }
        let url = folder.appendingPathComponent(name)
        try ImageFile.write(volume, to: url)
        let r = try Self.run(["inspect", url.path])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("orientation  RIA (oblique)"))
        #expect(r.out.contains("size         4 x 5 x 6 voxels"))
        #expect(r.out.contains("intensity    min 0  max 119"))
    }

    @Test func dicomFolderShowsSeriesButNoPatientData() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("taco-inspect-\(UUID().uuidString)")
        let nested = folder.appendingPathComponent("A1/B7")
        try FileManager.default.createDirectory(at: nested, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let phi: [DICOMTag: String] = [
            .patientName: "SMITH^JOHN", .patientID: "MRN0042", .patientBirthDate: "19610203",
            .institutionName: "St Elsewhere Hospital", .accessionNumber: "ACC778899", .studyDate: "20250314",
            .seriesDate: "20250314", .referringPhysicianName: "HOUSE^GREGORY",
        ]
        var tags = phi
        tags[.sopClassUID] = "1.2.840.10008.5.1.4.1.1.4"
        tags[.modality] = "MR"
        tags[.seriesDescription] = "T1_MPRAGE_SAG"
        tags[.studyInstanceUID] = "1.2.826.0.1.3680043.10.20250314.1"
        tags[.seriesInstanceUID] = "1.2.826.0.1.3680043.10.20250314.1.3"
        tags[.seriesNumber] = "3"
        let g = Geometry(size: [8, 8, 3], spacing: [1, 1, 1], direction: Matrix3(columns: (Vector3(0, 1, 0), Vector3(0, 0, -1), Vector3(-1, 0, 0))))
        try DICOMSeries.write(Volume(geometry: g, fill: 10), to: (0..<3).map { nested.appendingPathComponent("x\($0)") }, tags: tags)
        try Data("junk".utf8).write(to: folder.appendingPathComponent("DICOMDIR.txt"))

        let r = try Self.run(["inspect", folder.path])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("4 files, 1 DICOM series, 1 not DICOM"))
        #expect(r.out.contains("T1_MPRAGE_SAG"))
        #expect(r.out.contains("3 files, 8 x 8 pixels, orientation PIR"))
        for secret in phi.values + ["20250314", "1.2.826.0.1.3680043"] {
            #expect(!r.out.contains(secret) && !r.err.contains(secret), "leaked \(secret)")
        }
    }

    @Test func synthMakesACohortAndRefusesBadOptions() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("taco-synth-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = folder.appendingPathComponent("cohort").path
        let r = try Self.run(["synth", "--out", out, "--subjects", "1", "--seed", "2", "--size", "small", "--formats", "bids"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("wrote 1 subjects"))
        #expect(FileManager.default.fileExists(atPath: out + "/bids/sub-01/ses-01/anat/sub-01_ses-01_T2w.nii.gz"))
        #expect(!FileManager.default.fileExists(atPath: out + "/dicom"))
        let again = try Self.run(["synth", "--out", out, "--size", "small"])
        #expect(again.status != 0 && again.err.contains("already exists"))
        let badFormat = try Self.run(["synth", "--out", out + "2", "--formats", "dicom,minc"])
        #expect(badFormat.status != 0 && badFormat.err.contains("unknown format 'minc'"))
    }

    @Test func badInputFailsWithTheFileNameAndAnExitCode() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("taco-bad-\(UUID().uuidString).nii.gz")
        try Data("garbage".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let r = try Self.run(["inspect", file.path])
        #expect(r.status != 0)
        #expect(r.err.contains(file.path))
        let missing = try Self.run(["inspect", "/no/such/file.nii"])
        #expect(missing.status != 0 && missing.err.contains("/no/such/file.nii"))
    }
}
