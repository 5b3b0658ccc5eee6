import Foundation
import Testing
@testable import Imaging
@testable import TacoCore

@Suite struct NIfTIFileTests {
    /// A .nii.gz cut short (what a full disk leaves) is told from a complete one by its gzip trailer, which
    /// is how a write checks that it is all there.
    @Test func aCompressedFileCutShortIsNotTakenAsWritten() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("taco-gz-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var volume = Volume(geometry: Geometry(size: [20, 18, 16]))
        for i in volume.voxels.indices { volume.voxels[i] = Float((i * 7919) % 1000) }
        let whole = folder.appendingPathComponent("whole.nii.gz")
        try NIfTIFile.write(volume, to: whole)
        let bytes = 352 + volume.voxels.count * 4
        #expect(NIfTIFile.gzipHolds(whole, bytes: bytes))
        let data = try Data(contentsOf: whole)
        for cut in [1, 4, 100, data.count / 2] {
            let short = folder.appendingPathComponent("short-\(cut).nii.gz")
            try data.prefix(data.count - cut).write(to: short)
            #expect(!NIfTIFile.gzipHolds(short, bytes: bytes), "cut by \(cut) bytes")
        }
    }

    /// An oblique, anisotropic grid with a marker at a known voxel.
    static let obliqueGeometry = Geometry(size: [12, 10, 8], spacing: [1.5, 2, 3], origin: [-20, 15, 40],
                                          direction: Matrix3.rotation(x: 0.3, y: -0.2, z: 0.25))
    static let markerIndex = SIMD3<Int>(7, 3, 5)

    @Test func bundledAtlasReadsWithTheSourcesGeometry() throws {
        // SOURCE.md: 197 x 233 x 189, 1 mm, RAS, origin (-98, -134, -72) RAS; sform_code 2, qform_code 0.
        let (atlas, header) = try NIfTIFile.read(Fixtures.atlasT1)
        #expect(header.geometrySource == .sform && header.sformCode == 2 && header.qformCode == 0)
        #expect(header.voxelType == .uint8)
        #expect(atlas.geometry.size == [197, 233, 189])
        #expect(atlas.geometry.origin == Vector3(98, 134, -72))   // LPS
        #expect(atlas.geometry.orientationCode == "RAS")
        let nonZero = Double(atlas.voxels.filter { $0 != 0 }.count) / Double(atlas.voxels.count)
        #expect(abs(nonZero - 0.217) < 0.001)
    }

    @Test func writtenFileReadsBackThroughLibniftiAndITKWithTheSameGeometry() throws {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let g = Self.obliqueGeometry
        let volume = Fixtures.marker(at: Self.markerIndex, on: g)
        for name in ["oblique.nii.gz", "oblique.nii"] {
            let url = folder.appendingPathComponent(name)
            try NIfTIFile.write(volume, to: url)
            let (viaNifti, header) = try NIfTIFile.read(url)
            let viaITK = try ImageFile.readWithITK(url)
            #expect(header.geometrySource == .sform && header.sformCode == 1 && header.qformCode == 1)
            #expect(viaNifti.geometry.isClose(to: g, tolerance: 1e-5))
            #expect(viaITK.geometry.isClose(to: g, tolerance: 1e-5))
            #expect(viaNifti.voxels == volume.voxels && viaITK.voxels == volume.voxels)
            // The marker lands at the physical point computed by hand.
            let expected = g.origin + g.direction * (g.spacing * Vector3(7, 3, 5))
            for read in [viaNifti, viaITK] {
                let found = read.geometry.point(ofIndex: Vector3(read.indexOfMaximum))
                #expect(length(found - expected) < 1e-3)
            }
        }
        // No temporary file is left behind.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty)
    }

    @Test func qformIsUsedWhenSformCodeIsZeroAndSpacingWhenBothAre() throws {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let g = Self.obliqueGeometry
        let url = folder.appendingPathComponent("forms.nii")
        try NIfTIFile.write(Fixtures.pattern(on: g), to: url)
        var bytes = try Data(contentsOf: url)
        // NIfTI-1 header: qform_code int16 at byte 252, sform_code at 254, srow_x/y/z floats at 280..327.
        bytes.replaceSubrange(254..<256, with: [0, 0])
        for offset in stride(from: 280, to: 328, by: 4) { bytes.replaceSubrange(offset..<offset + 4, with: [0, 0, 0x80, 0x3f]) } // 1.0
        try bytes.write(to: url)
        let (fromQform, h1) = try NIfTIFile.read(url)
        #expect(h1.geometrySource == .qform)
        #expect(fromQform.geometry.isClose(to: g, tolerance: 1e-5))

        bytes.replaceSubrange(252..<254, with: [0, 0])
        try bytes.write(to: url)
        let (fromSpacing, h2) = try NIfTIFile.read(url)
        #expect(h2.geometrySource == .spacingOnly)
        #expect(length(fromSpacing.geometry.spacing - g.spacing) < 1e-6)
        #expect(fromSpacing.geometry.origin == .zero)
    }

    @Test(.enabled(if: Fixtures.python != nil, "needs TACO_PYTHON with nibabel (make test sets it)"))
    func nibabelSeesTheRASAffine() throws {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let g = Self.obliqueGeometry
        let url = folder.appendingPathComponent("oblique.nii.gz")
        try NIfTIFile.write(Fixtures.marker(at: Self.markerIndex, on: g), to: url)
        let out = try Fixtures.runPython("""
            import sys, nibabel as nib, numpy as np
            img = nib.load(sys.argv[1])
            data = np.asarray(img.dataobj)
            i = np.unravel_index(np.argmax(data), data.shape)
            print(*img.affine[:3].ravel(), *(img.affine @ [*i, 1])[:3], *img.header.get_sform(coded=True)[1:], img.header['qform_code'])
            """, [url.path])
        let values = out.split(separator: " ").compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        #expect(values.count == 12 + 3 + 2)
        let ras = g.indexToRAS
        for r in 0..<3 {
            for c in 0..<3 { #expect(abs(values[4 * r + c] - ras.linear[r, c]) < 1e-5) }
            #expect(abs(values[4 * r + 3] - ras.translation[r]) < 1e-4)
        }
        // The marker, seen by nibabel in RAS, is the hand-computed LPS point with x and y negated.
        let lps = g.origin + g.direction * (g.spacing * Vector3(7, 3, 5))
        #expect(abs(values[12] + lps.x) < 1e-3 && abs(values[13] + lps.y) < 1e-3 && abs(values[14] - lps.z) < 1e-3)
        #expect(values[15] == 1 && values[16] == 1)
    }

    @Test func int16StorageKeepsValuesThroughSclSlope() throws {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("scaled.nii.gz")
        let volume = Fixtures.pattern(on: Self.obliqueGeometry)   // integers 0...1111
        try NIfTIFile.write(volume, to: url, storage: .int16(slope: 0.5, intercept: -10))
        let (back, header) = try NIfTIFile.read(url)
        #expect(header.voxelType == .int16 && header.scaleSlope == 0.5 && header.scaleIntercept == -10)
        #expect(back.voxels == volume.voxels)
        #expect(back.geometry.isClose(to: volume.geometry, tolerance: 1e-5))
        #expect { try NIfTIFile.write(Volume(geometry: Geometry(size: [1, 1, 1]), fill: 1e6), to: url, storage: .int16(slope: 1, intercept: 0)) }
            throws: { "\($0)".contains("does not fit int16") }
    }

    @Test func vectorFieldsRoundTripAsNIfTIVectorImages() throws {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("map.nii.gz")
        let field = VectorField(geometry: Self.obliqueGeometry) { p in Vector3(p.x * 2, -p.y, p.z + 1) }
        try NIfTIFile.write(field, to: url)
        let back = try NIfTIFile.readVectorField(url)
        #expect(back.vectors == field.vectors)
        #expect(back.geometry.isClose(to: field.geometry, tolerance: 1e-5))
        #expect { try NIfTIFile.readVectorField(Fixtures.atlasT1) } throws: { "\($0)".contains("vector image") }
        if Fixtures.python != nil {
            let out = try Fixtures.runPython("""
                import sys, nibabel as nib
                img = nib.load(sys.argv[1])
                print(img.shape, img.header.get_intent()[0])
                """, [url.path])
            #expect(out.trimmingCharacters(in: .whitespacesAndNewlines) == "(12, 10, 8, 1, 3) vector")
        }
    }

    @Test func mniSpaceIsRecordedInTheCodes() throws {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("mni.nii.gz")
        try NIfTIFile.write(Volume(geometry: Geometry(size: [2, 2, 2])), to: url, space: .mni)
        let (_, header) = try NIfTIFile.read(url)
        #expect(header.sformCode == 4 && header.qformCode == 4)
    }

    @Test func fourDimensionalFileIsRejectedWithItsName() throws {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("series.nii")
        try NIfTIFile.write(Volume(geometry: Geometry(size: [2, 2, 2])), to: url)
        // Make it 2x2x1x4 (dim[0]=4, dim[3]=1, dim[4]=4): same byte count.
        var bytes = try Data(contentsOf: url)
        bytes.replaceSubrange(40..<42, with: [4, 0])
        bytes.replaceSubrange(46..<48, with: [1, 0])
        bytes.replaceSubrange(48..<50, with: [2, 0])
        try bytes.write(to: url)
        #expect { try NIfTIFile.read(url) } throws: { "\($0)".contains(url.path) && "\($0)".contains("4D image with 2 volumes") }
        #expect { try ImageFile.read(url) } throws: { "\($0)".contains(url.path) && "\($0)".contains("volumes") }
    }

    @Test func truncatedCorruptAndForeignFilesFailNamingTheFile() throws {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let good = folder.appendingPathComponent("good.nii")
        try NIfTIFile.write(Fixtures.pattern(on: Geometry(size: [8, 8, 8])), to: good)
        let full = try Data(contentsOf: good)
        let truncated = folder.appendingPathComponent("truncated.nii")
        try full.prefix(1000).write(to: truncated)
        let text = folder.appendingPathComponent("notes.nii.gz")
        try Data("not an image at all".utf8).write(to: text)
        let gzipTruncated = folder.appendingPathComponent("cut.nii.gz")
        try NIfTIFile.write(Fixtures.pattern(on: Geometry(size: [8, 8, 8])), to: gzipTruncated)
        let gz = try Data(contentsOf: gzipTruncated)
        try gz.prefix(gz.count / 2).write(to: gzipTruncated)
        let missing = folder.appendingPathComponent("missing.nii")
        let meta = folder.appendingPathComponent("cut.mha")
        try ImageFile.write(Fixtures.pattern(on: Geometry(size: [8, 8, 8])), to: meta)
        let metaBytes = try Data(contentsOf: meta)
        try metaBytes.prefix(metaBytes.count - 100).write(to: meta)
        for url in [truncated, text, gzipTruncated, missing, meta] {
            if ImageFile.isNIfTI(url) {
                #expect(throws: (any Error).self) { try NIfTIFile.read(url) }
                do { _ = try NIfTIFile.read(url) } catch { #expect("\(error)".contains(url.path)) }
            }
            do { _ = try ImageFile.read(url) } catch { #expect("\(error)".contains(url.path)) }
            #expect(throws: (any Error).self) { try ImageFile.read(url) }
        }
    }

    @Test func unwritableFolderGivesAClearError() throws {
        let url = URL(fileURLWithPath: "/nonexistent-taco-folder/out.nii.gz")
        #expect { try NIfTIFile.write(Volume(geometry: Geometry(size: [2, 2, 2])), to: url) } throws: { "\($0)".contains(url.path) }
        #expect { try ImageFile.write(Volume(geometry: Geometry(size: [2, 2, 2])), to: url.deletingPathExtension().appendingPathExtension("mha")) } throws: { "\($0)".contains("/nonexistent-taco-folder/") }
    }
}

@Suite struct ITKImageFileTests {
    @Test(arguments: ["volume.mha", "volume.nrrd", "volume.nii.gz"])
    func formatsRoundTripWithGeometry(name: String) throws {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let g = NIfTIFileTests.obliqueGeometry
        let volume = Fixtures.pattern(on: g)
        let url = folder.appendingPathComponent(name)
        try ImageFile.write(volume, to: url)
        let info = try ImageFile.info(url)
        #expect(info.voxelType == .float32 && info.dimensions == 3 && info.components == 1)
        let back = try ImageFile.read(url)
        #expect(back.geometry.isClose(to: g, tolerance: 1e-5))
        #expect(back.voxels == volume.voxels)
    }

    @Test func pngPicturesReadBackAsTheyWereDrawn() throws {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var picture = PNGImage(width: 5, height: 3)
        picture[x: 4, y: 1] = [200]
        picture[x: 0, y: 2] = [17]
        let url = folder.appendingPathComponent("qc.png")
        try picture.write(to: url)
        let back = try ImageFile.read(url)
        #expect(back.geometry.size == [5, 3, 1])
        #expect(back[4, 1, 0] == 200 && back[0, 2, 0] == 17 && back.voxels.reduce(0, +) == 217)
        var rgb = PNGImage(width: 2, height: 2, channels: 3)
        rgb[x: 1, y: 1] = [255, 0, 0]
        try rgb.write(to: folder.appendingPathComponent("rgb.png"))
        #expect(try ImageFile.info(folder.appendingPathComponent("rgb.png")).components == 3)
    }
}
