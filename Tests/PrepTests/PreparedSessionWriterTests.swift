import Foundation
import Testing
@testable import Imaging
import TacoCore
@testable import Prep
@testable import Synth

@Suite(.serialized) struct PreparedSessionWriterTests {
    static func prepared() throws -> (SessionPreparation.Result, CohortTruth.Subject) {
        var preparation = SessionPreparation()
        preparation.targetSpacing = 3
        let subject = Dump.truth.subjects[0]
        return (try preparation.prepare(try SessionPreparationTests.inputs(of: subject.label)), subject)
    }

    /// Every byte of every file below `root`, gzip files decompressed (with the system's gzip).
    static func allBytes(under root: URL) throws -> [(String, Data)] {
        try FileTree.regularFiles(under: root).map { url in
            guard url.pathExtension == "gz" else { return (url.path, try Data(contentsOf: url)) }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/gzip")
            process.arguments = ["-dc", url.path]
            let out = Pipe()
            process.standardOutput = out
            try process.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (url.path, data)
        }
    }

    @Test func aSessionIsWrittenInTheDesignLayoutWithoutAnyPlantedIdentifier() throws {
        let (result, subject) = try Self.prepared()
        let root = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let key = try PseudonymKey.openOrCreate(root.appendingPathComponent("../\(root.lastPathComponent)-key").standardizedFileURL,
                                                outputs: [root])
        defer { try? FileManager.default.removeItem(at: key.folder) }
        let label = key.subjectLabel(forPatientID: subject.phi["PatientID"]!)
        let fingerprint = PreparedSessionWriter.fingerprint(of: ["a", "b"])
        let folder = try PreparedSessionWriter().write(result, subject: label, session: "01", fingerprint: fingerprint,
                                                       configuration: ["target_spacing_mm": "3"], under: root)
        let stem = "sub-\(label)_ses-01"
        let names = try FileTree.regularFiles(under: root).map { String($0.path.dropFirst(root.path.count + 1)) }
        #expect(Set(names) == Set(["T1w", "T2w", "FLAIR", "PDw"].map { "sub-\(label)/ses-01/anat/\(stem)_desc-preproc_\($0).nii.gz" }
            + ["sub-\(label)/ses-01/anat/\(stem)_desc-brain_mask.nii.gz", "sub-\(label)/ses-01/subject.json", "sub-\(label)/ses-01/qc.png"]))
        // Volumes: on the prepared grid, RAS+ in the file.
        let (t1, header) = try NIfTIFile.read(folder.appendingPathComponent("anat/\(stem)_desc-preproc_T1w.nii.gz"))
        #expect(t1.geometry.isClose(to: result.grid, tolerance: 1e-4) && t1.geometry.orientationCode == "RAS" && header.sformCode == 1)
        let (mask, maskHeader) = try NIfTIFile.read(folder.appendingPathComponent("anat/\(stem)_desc-brain_mask.nii.gz"))
        #expect(maskHeader.voxelType == .int16 && mask.voxels == result.mask.voxels)
        // subject.json.
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("subject.json"))) as? [String: Any])
        #expect(json["reference"] as? String == "T1w" && (json["modalities"] as? [String])?.count == 4)
        #expect(json["input_fingerprint"] as? String == fingerprint && (json["qc_flags"] as? [String]) == [])
        let registration = try #require(json["registration"] as? [String: [String: Any]])
        #expect(Set(registration.keys) == ["T2w", "FLAIR", "PDw"])
        #expect(registration.values.allSatisfy { ($0["rotation_degrees"] as? Double ?? 99) < 4 && ($0["metric"] as? Double ?? 0) < -0.2 })
        // qc.png: one row per modality, three views side by side.
        let png = try ImageFile.info(folder.appendingPathComponent("qc.png"))
        let s = result.grid.size
        #expect(png.components == 3 && png.geometry.size.x == s.x + s.x + s.y && png.geometry.size.y == 4 * max(s.y, s.z, s.z))
        // Not one planted identifier in any byte or name (the key folder is outside the output).
        for (path, bytes) in try Self.allBytes(under: root) {
            let text = String(decoding: bytes, as: UTF8.self)
            for secret in subject.phi.values {
                #expect(!text.contains(secret) && !path.contains(secret), "\(secret) in \(path)")
            }
            #expect(!text.contains("2.25."), "a UID in \(path)")
        }
    }

    @Test func labelsMustBeBIDSLabelsAndARewriteReplacesTheSession() throws {
        let (result, _) = try Self.prepared()
        let root = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        #expect { try PreparedSessionWriter().write(result, subject: "SMITH^JOHN", session: "01", fingerprint: "x", configuration: [:], under: root) }
            throws: { "\($0)".contains("not a BIDS label") }
        let writer = PreparedSessionWriter()
        let first = try writer.write(result, subject: "abc123", session: "01", fingerprint: "one", configuration: [:], under: root)
        try writer.write(result, subject: "abc123", session: "01", fingerprint: "two", configuration: [:], under: root)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: first.appendingPathComponent("subject.json"))) as? [String: Any]
        #expect(json?["input_fingerprint"] as? String == "two")
        let entries = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("sub-abc123").path)
        #expect(entries == ["ses-01"])   // no partial folder left behind
    }
}
