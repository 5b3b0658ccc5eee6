import Foundation
import Imaging
import TacoCore
import Testing
@testable import Prep
@testable import Synth

/// A small synthetic dump shared by the discovery tests (made once per test process).
enum Dump {
    static let atlas = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("atlases/mni152-2009a-sym")
    static let root = FileManager.default.temporaryDirectory.appendingPathComponent("taco-prep-\(UUID().uuidString)")
    static let truth: CohortTruth = {
        atexit { try? FileManager.default.removeItem(at: Dump.root) }
        return try! CohortSynthesizer(options: SynthOptions(subjects: 4, seed: 21, atlas: atlas.path, size: .small, formats: [.dicom]),
                                      version: "test").run(into: root)
    }()
    static let found: DiscoveryResult = {
        _ = truth
        return try! DICOMDiscovery.discover([root.appendingPathComponent("dicom")])
    }()

}

func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("taco-prep-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

@Suite(.serialized) struct DiscoveryTests {
    @Test func everySeriesOfTheSyntheticDumpIsFoundAsTheTruthDescribesIt() throws {
        let truth = Dump.truth, found = Dump.found
        #expect(found.unreadable.isEmpty && found.nonImage.isEmpty)
        func discovered(_ series: CohortTruth.Series) -> [DiscoveredSeries] {
            let id = truth.subjects.first { $0.label == series.subject }!.phi["PatientID"]!
            return found.series.filter { $0[.patientID] == id && $0[.seriesNumber] == String(series.seriesNumber) }
        }
        var expectedCount = 0
        for series in truth.series {
            let matches = discovered(series)
            switch series.kind {
            case "T1w", "T2w", "FLAIR", "PDw":
                expectedCount += 1
                #expect(matches.count == 1, "\(series.kind) of \(series.subject)")
                guard let s = matches.first else { continue }
                #expect(s.part == 0 && s.files.count == series.files && s.missingSlices == 0 && !s.hasNonUniformSpacing()
                        && s.repeatedPositions == 0, "\(series.kind) of \(series.subject)")
                let twice = truth.series.first { $0.kind == "duplicate" && $0.subject == series.subject && $0.seriesNumber == series.seriesNumber }
                #expect(s.duplicateFiles.count == (twice?.files ?? 0))
                // Slice order: positions along the normal ascend, as the truth grid's slices do.
                let grid = truth.subjects.first { $0.label == series.subject }!.acquisitions.first { $0.modality == series.kind }!.grid
                #expect(s.sliceSpacing.map { abs($0 - hypot3(grid.affine, column: 2)) < 1e-3 } == true)
            case "localizer":
                expectedCount += 3
                #expect(matches.count == 3 && Set(matches.map(\.part)) == [1, 2, 3] && matches.allSatisfy { $0.files.count == 1 })
                #expect(Set(matches.compactMap(\.orientation).map { $0.map { ($0 * 1000).rounded() } }).count == 3)
            case "missing-slice":
                expectedCount += 1
                #expect(matches.count == 1 && matches.first?.missingSlices == 1 && matches.first?.files.count == series.files)
            case "secondary-capture":
                expectedCount += 1
                #expect(matches.count == 1 && matches.first?[.sopClassUID] == "1.2.840.10008.5.1.4.1.1.7")
            case "duplicate":
                break   // found as duplicateFiles of the original, above
            default:
                Issue.record("unexpected kind \(series.kind)")
            }
        }
        #expect(found.series.count == expectedCount)
    }

    @Test func nonUniformSpacingIsMeasuredAndEchoesAreSplit() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var tags: [DICOMTag: String] = [.sopClassUID: "1.2.840.10008.5.1.4.1.1.4", .modality: "MR", .studyInstanceUID: "1.2.3",
                                        .seriesInstanceUID: "1.2.3.4", .echoNumbers: "1"]
        // Five slices at z = 0, 2, 4, 6.5, 8.5 mm: one step is 25% longer than the others.
        for (k, z) in [0.0, 2, 4, 6.5, 8.5].enumerated() {
            let slice = Volume(geometry: Geometry(size: [4, 4, 1], spacing: [1, 1, 2], origin: [0, 0, z]), fill: Float(k))
            try DICOMSeries.write(slice, to: [folder.appendingPathComponent("a\(k)")], tags: tags, firstInstanceNumber: k + 1)
        }
        // Echo 2 of the same series, regular spacing.
        tags[.echoNumbers] = "2"
        let echo2 = Volume(geometry: Geometry(size: [4, 4, 3], spacing: [1, 1, 2]))
        try DICOMSeries.write(echo2, to: (0..<3).map { folder.appendingPathComponent("b\($0)") }, tags: tags, firstInstanceNumber: 10)
        let found = try DICOMDiscovery.discover([folder])
        #expect(found.series.count == 2 && Set(found.series.map(\.part)) == [1, 2])
        let first = try #require(found.series.first { $0[.echoNumbers] == "1" })
        #expect(first.files.map(\.lastPathComponent) == ["a0", "a1", "a2", "a3", "a4"])
        #expect(first.sliceSpacing == 2 && first.missingSlices == 0)
        #expect(abs(first.spacingDeviation - 0.25) < 1e-6 && first.hasNonUniformSpacing())
        let second = try #require(found.series.first { $0[.echoNumbers] == "2" })
        #expect(second.files.count == 3 && !second.hasNonUniformSpacing())
    }

    /// The signature: the PS3.10 marker, or a bare data set starting with group 0002 or 0008 in either VR form
    /// (the real dcm_qa files all carry the marker); text and empty files have neither.
    @Test func theDICOMSignatureTellsDamagedDICOMFromClutter() throws {
        #expect(DICOMSignature.isPresent(in: [UInt8](repeating: 0, count: 128) + Array("DICM".utf8)))
        #expect(DICOMSignature.isPresent(in: [0x08, 0x00, 0x16, 0x00] + Array("UI".utf8) + [0x1a, 0x00]))      // explicit VR LE
        #expect(DICOMSignature.isPresent(in: [0x08, 0x00, 0x05, 0x00, 0x0a, 0x00, 0x00, 0x00]))               // implicit VR LE
        #expect(DICOMSignature.isPresent(in: [0x00, 0x08, 0x00, 0x16] + Array("UI".utf8) + [0x00, 0x1a]))      // explicit VR BE
        #expect(!DICOMSignature.isPresent(in: Array("1.4.2\nbuild 7\n".utf8)))
        #expect(!DICOMSignature.isPresent(in: []))
        #expect(!DICOMSignature.isPresent(in: [0x08, 0x00, 0x16, 0x00, 0x61, 0x62, 0x63, 0x64]))              // lower-case "VR", no zero
        for file in try FileTree.regularFiles(under: try RealData.dicom("transfer_syntaxes")) {
            #expect(DICOMSignature.isPresent(in: file), "\(file.lastPathComponent)")
        }
    }

    @Test func junkNonImageFilesLinksAndEmptyFoldersAreHandled() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let nested = folder.appendingPathComponent("A/B")
        try FileManager.default.createDirectory(at: nested, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: nested.appendingPathComponent("loop"), withDestinationURL: folder)
        try Data("not DICOM".utf8).write(to: nested.appendingPathComponent("notes.dcm"))
        try Data("1.4.2\n".utf8).write(to: nested.appendingPathComponent("VERSION"))
        try Data().write(to: nested.appendingPathComponent("LOCKFILE"))
        try Self.minimalReport().write(to: nested.appendingPathComponent("REPORT"))
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("empty"), withIntermediateDirectories: true)
        let found = try DICOMDiscovery.discover([folder])
        #expect(found.fileCount == 4 && found.series.isEmpty && found.unreadable.isEmpty)
        #expect(Set(found.notDICOM.map(\.lastPathComponent)) == ["notes.dcm", "VERSION", "LOCKFILE"])
        #expect(found.nonImage.map(\.sopClassUID) == ["1.2.840.10008.5.1.4.1.1.88.11"])
        let empty = try DICOMDiscovery.discover([folder.appendingPathComponent("empty")])
        #expect(empty.fileCount == 0 && empty.series.isEmpty)
        #expect { try DICOMDiscovery.discover([folder.appendingPathComponent("absent")]) } throws: { "\($0)".contains("absent") }
    }

    /// A DICOM Basic Text SR written byte by byte (explicit VR little endian): a file without pixels.
    static func minimalReport() -> Data {
        func element(_ group: UInt16, _ elem: UInt16, _ vr: String, _ value: String) -> Data {
            var bytes = Data(value.utf8)
            if bytes.count % 2 == 1 { bytes.append(0) }
            var d = Data()
            for v in [group, elem] { d.append(contentsOf: withUnsafeBytes(of: v.littleEndian, Array.init)) }
            d.append(contentsOf: Array(vr.utf8))
            d.append(contentsOf: withUnsafeBytes(of: UInt16(bytes.count).littleEndian, Array.init))
            return d + bytes
        }
        let sop = "1.2.840.10008.5.1.4.1.1.88.11"
        var meta = Data([0x02, 0x00, 0x01, 0x00]) + Data("OB".utf8) + Data([0, 0, 2, 0, 0, 0, 0, 1])
        meta += element(2, 2, "UI", sop) + element(2, 3, "UI", "1.2.3.9") + element(2, 0x10, "UI", "1.2.840.10008.1.2.1")
        var file = Data(count: 128) + Data("DICM".utf8)
        file += Data([0x02, 0x00, 0x00, 0x00]) + Data("UL".utf8) + Data([4, 0])
        file += withUnsafeBytes(of: UInt32(meta.count).littleEndian) { Data($0) }
        file += meta
        file += element(8, 0x16, "UI", sop) + element(8, 0x18, "UI", "1.2.3.9") + element(8, 0x60, "CS", "SR")
        file += element(0x20, 0x0d, "UI", "1.2.3") + element(0x20, 0x0e, "UI", "1.2.3.8")
        return file
    }
}

/// Length of column `c` of a 4x4 affine given as rows (the voxel size along that axis).
func hypot3(_ affine: [[Double]], column c: Int) -> Double {
    (0..<3).map { affine[$0][c] * affine[$0][c] }.reduce(0, +).squareRoot()
}
