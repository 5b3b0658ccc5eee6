import Foundation
import Testing
@testable import Imaging
import TacoCore

@Suite struct DICOMTests {
    /// An oblique, thick-slice axial-ish grid (right-handed, as DICOM's normal = row x column).
    static let geometry = Geometry(size: [12, 10, 6], spacing: [0.9, 0.9, 4], origin: [-30.5, 20.25, -12],
                                   direction: Matrix3.rotation(x: 0.2, y: 0.1, z: -0.15))

    static let seriesTags: [DICOMTag: String] = [
        .sopClassUID: "1.2.840.10008.5.1.4.1.1.4", .modality: "MR", .seriesDescription: "t2_tse_tra",
        .studyInstanceUID: "1.2.826.0.1.3680043.10.1001.1", .seriesInstanceUID: "1.2.826.0.1.3680043.10.1001.1.7",
        .frameOfReferenceUID: "1.2.826.0.1.3680043.10.1001.1.99", .seriesNumber: "7",
        .patientName: "DOE^JANE", .patientID: "PID-12345", .repetitionTime: "4000", .echoTime: "90",
    ]

    /// Writes the pattern volume as a series with opaque names; returns the files in a scrambled order.
    static func writeSeries(in folder: URL, compression: DICOMSeries.Compression = .none,
                            volume: Volume = Fixtures.pattern(on: geometry)) throws -> [URL] {
        let files = (0..<volume.geometry.size.z).map { folder.appendingPathComponent(String(format: "IM%04X", ($0 * 7919) % 65536)) }
        try DICOMSeries.write(volume, to: files, tags: seriesTags, rescaleSlope: 0.5, rescaleIntercept: -100,
                              compression: compression)
        return files.enumerated().sorted { ($0.offset * 5) % 7 < ($1.offset * 5) % 7 }.map(\.element)
    }

    @Test(arguments: [DICOMSeries.Compression.none, .jpegLossless, .jpeg2000Lossless, .jpegLSLossless, .rleLossless])
    func seriesReadsBackWithTheWrittenGeometryInAnyFileOrder(compression: DICOMSeries.Compression) throws {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let volume = Fixtures.pattern(on: Self.geometry)
        let files = try Self.writeSeries(in: folder, compression: compression, volume: volume)
        let back = try DICOMSeries.read(files)
        #expect(back.geometry.isClose(to: Self.geometry, tolerance: 1e-4), "\(back.geometry)")
        #expect(back.voxels == volume.voxels)   // integer pattern: exact through slope 0.5, intercept -100
        let syntax = try DICOMHeaderScan.scan([files[0]], tags: [.transferSyntaxUID])[0][.transferSyntaxUID]
        #expect(syntax == compression.transferSyntaxUID)
    }

    @Test func enhancedMultiFrameFilesReadBackWithTheirGeometry() throws {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let g = Self.geometry
        var volume = Fixtures.marker(at: [9, 2, 4], on: g, value: 500)
        volume.voxels[0] = 20
        let file = folder.appendingPathComponent("ENHANCED")
        var tags = Self.seriesTags
        tags[.sopInstanceUID] = "1.2.826.0.1.3680043.10.1001.1.7.1"
        try DICOMSeries.writeMultiFrame(volume, to: file, tags: tags, rescaleSlope: 0.5, rescaleIntercept: -100)
        let header = try DICOMHeaderScan.scan([file], tags: [.sopClassUID, .numberOfFrames, .seriesDescription, .rows])[0]
        #expect(header.failure == nil && header[.sopClassUID] == "1.2.840.10008.5.1.4.1.1.4.1" && header[.numberOfFrames] == "6")
        let back = try DICOMSeries.readOrdered([file])
        #expect(back.geometry.isClose(to: g, tolerance: 1e-4), "\(back.geometry)")
        let found = back.geometry.point(ofIndex: Vector3(back.indexOfMaximum))
        #expect(length(found - (g.origin + g.direction * (g.spacing * Vector3(9, 2, 4)))) < 1e-3)
        #expect(back[9, 2, 4] == 500 && back.voxels[0] == 20)
    }

    @Test func markerLandsAtTheHandComputedPoint() throws {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let g = Self.geometry
        let files = try Self.writeSeries(in: folder, volume: Fixtures.marker(at: [9, 2, 4], on: g, value: 500))
        let back = try DICOMSeries.read(files)
        let found = back.geometry.point(ofIndex: Vector3(back.indexOfMaximum))
        let expected = g.origin + g.direction * (g.spacing * Vector3(9, 2, 4))
        #expect(length(found - expected) < 1e-3)
        #expect(back[9, 2, 4] == 500)
    }

    @Test func headerScanReadsTextBinaryAndMetaTagsWithoutPixels() throws {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let files = try Self.writeSeries(in: folder)
        let junk = folder.appendingPathComponent("README")
        try Data("a text file in the export".utf8).write(to: junk)
        let headers = try DICOMHeaderScan.scan(files + [junk], tags: [.seriesDescription, .rows, .columns, .transferSyntaxUID,
                                                                       .imagePositionPatient, .patientName, .inversionTime])
        for h in headers.dropLast() {
            #expect(h.failure == nil)
            #expect(h[.seriesDescription] == "t2_tse_tra")
            #expect(h[.rows] == "10" && h[.columns] == "12")
            #expect(h[.transferSyntaxUID] == "1.2.840.10008.1.2.1")
            #expect(h[.patientName] == "DOE^JANE")
            #expect(h[.inversionTime] == nil)
            #expect(h.numbers(.imagePositionPatient)?.count == 3)
        }
        #expect(headers.last!.failure?.contains("not a DICOM file") == true)
        #expect(headers.last!.values.isEmpty)
    }

    @Test func seriesWithMixedOrientationsOrForeignFilesIsRefusedWithTheFileName() throws {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let files = try Self.writeSeries(in: folder)
        let other = folder.appendingPathComponent("other")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        var tilted = Self.geometry
        tilted.direction = .identity
        tilted.size.z = 1
        let odd = other.appendingPathComponent("odd")
        var tags = Self.seriesTags
        tags[.seriesInstanceUID] = "1.2.3.4"
        try DICOMSeries.write(Volume(geometry: tilted), to: [odd], tags: tags)
        #expect { try DICOMSeries.read(files + [odd]) } throws: { "\($0)".contains(odd.path) && "\($0)".contains("orientation") }
        let text = folder.appendingPathComponent("notes.txt")
        try Data("hello".utf8).write(to: text)
        #expect { try DICOMSeries.read(files + [text]) } throws: { "\($0)".contains(text.path) }
        #expect { try DICOMSeries.readOrdered([text]) } throws: { "\($0)".contains(text.path) }
    }

    @Test func valuesOutsideInt16AreRefused() throws {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var g = Self.geometry
        g.size.z = 1
        let huge = Volume(geometry: g, fill: 1e6)
        #expect { try DICOMSeries.write(huge, to: [folder.appendingPathComponent("x")], tags: Self.seriesTags) }
            throws: { "\($0)".contains("int16") }
    }

    @Test(.enabled(if: Fixtures.python != nil, "needs TACO_PYTHON with pydicom (make test sets it)"))
    func pydicomSeesTheGeometryTags() throws {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let files = try Self.writeSeries(in: folder)
        let out = try Fixtures.runPython("""
            import sys, pydicom
            rows = []
            for path in sys.argv[1:]:
                d = pydicom.dcmread(path)
                rows.append((int(d.InstanceNumber), [float(v) for v in d.ImagePositionPatient], [float(v) for v in d.ImageOrientationPatient],
                             [float(v) for v in d.PixelSpacing], float(d.RescaleSlope), float(d.RescaleIntercept), d.SOPClassUID, d.Modality))
            for r in sorted(rows, key=lambda r: r[0]):
                print(r[0], *r[1], *r[2], *r[3], r[4], r[5], r[6], r[7])
            """, files.map(\.path))
        let lines = out.split(separator: "\n")
        #expect(lines.count == Self.geometry.size.z)
        let g = Self.geometry
        for line in lines {
            let f = line.split(separator: " ").map(String.init)
            let k = Int(f[0])! - 1
            let ipp = Vector3(Double(f[1])!, Double(f[2])!, Double(f[3])!)
            #expect(length(ipp - g.point(ofIndex: Vector3(0, 0, Double(k)))) < 1e-3)
            let row = Vector3(Double(f[4])!, Double(f[5])!, Double(f[6])!), column = Vector3(Double(f[7])!, Double(f[8])!, Double(f[9])!)
            #expect(length(row - g.direction.column(0)) < 1e-5 && length(column - g.direction.column(1)) < 1e-5)
            // PixelSpacing is (row spacing = between rows = y, column spacing = x).
            #expect(Double(f[10]) == g.spacing.y && Double(f[11]) == g.spacing.x)
            #expect(f[12] == "0.5" && f[13] == "-100.0" && f[14] == "1.2.840.10008.5.1.4.1.1.4" && f[15] == "MR")
        }
    }
}
