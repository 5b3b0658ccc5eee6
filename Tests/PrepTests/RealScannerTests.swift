import Foundation
import Imaging
import TacoCore
import Testing

/// Real scanners' files (../shared/realdata: dcm2niix's public validation series) decode to what dcm2niix's
/// conversions hold: the same value at the same world point for every anatomical case, identical voxels from
/// nine transfer syntaxes, the 12-bit variants' values, two patient positions, enhanced and classic exports.
@Suite struct RealScannerTests {
    /// Every `step`-th voxel of `ours` against `reference`: how far (mm) its world point lies from the nearest
    /// reference voxel centre at most, how many values differ there, how many points fall outside.
    static func compare(_ ours: Volume, _ reference: Volume, step: Int = 7) -> (offMM: Double, mismatches: Int, outside: Int, compared: Int) {
        var offMM = 0.0, mismatches = 0, outside = 0, compared = 0
        let g = ours.geometry, r = reference.geometry
        for n in stride(from: 0, to: g.voxelCount, by: step) {
            let index = Vector3(Double(n % g.size.x), Double((n / g.size.x) % g.size.y), Double(n / (g.size.x * g.size.y)))
            let c = r.continuousIndex(ofPoint: g.point(ofIndex: index))
            let nearest = Vector3(c.x.rounded(), c.y.rounded(), c.z.rounded())
            offMM = max(offMM, length((c - nearest) * r.spacing))
            let i = Int(nearest.x), j = Int(nearest.y), k = Int(nearest.z)
            guard (0..<r.size.x).contains(i), (0..<r.size.y).contains(j), (0..<r.size.z).contains(k) else { outside += 1; continue }
            let a = ours.voxels[n], b = reference.voxels[r.offset(i, j, k)]
            if abs(a - b) > 1e-3 * max(1, abs(b)) { mismatches += 1 }
            compared += 1
        }
        return (offMM, mismatches, outside, compared)
    }

    static func reference(_ name: String, _ file: String) throws -> Volume {
        try NIfTIFile.read(RealData.root.appendingPathComponent("dicom/\(name)/reference/\(file)")).0
    }

    static func files(_ name: String) throws -> [URL] {
        try FileTree.regularFiles(under: try RealData.dicom(name)).filter { !$0.lastPathComponent.hasPrefix("README") }
    }

    @Test(arguments: [
        ("ge_ax_oblique_mprage", "5_Brain_Advanced_Sequences.nii.gz"),
        ("siemens_xa30_enhanced_t1", "5_anat-T1w_acq-tfl.nii.gz"),
        ("siemens_xa30_classic_t1", "5001_anat-T1w_acq-tfl.nii.gz"),
        ("siemens_decubitus_hfs", "3_t1_fl2d_sag.nii.gz"),
        ("siemens_decubitus_hfdl", "2_t1_fl2d_sag.nii.gz"),
    ])
    func anAnatomicalSeriesHasTheReferenceValueAtEveryWorldPoint(name: String, reference file: String) throws {
        let ours = try DICOMSeries.read(try Self.files(name))
        let reference = try Self.reference(name, file)
        #expect(ours.geometry.voxelCount == reference.geometry.voxelCount, "\(ours.geometry) vs \(reference.geometry)")
        let c = Self.compare(ours, reference)
        #expect(c.offMM < 0.1 && c.mismatches == 0 && c.outside == 0 && c.compared > 1000,
                "\(name): \(c.compared) points, off by up to \(c.offMM) mm, \(c.mismatches) values differ, \(c.outside) outside")
    }

    /// The values of a Siemens mosaic's first `tiles` tiles (6 x 6 of 64 x 64 here), sorted: what a 3D
    /// conversion holds whatever its slice order and flips.
    static func mosaicValues(_ volume: Volume, tile: Int = 64, tiles: Int = 35) -> [Float] {
        let across = volume.geometry.size.x / tile
        var values: [Float] = []
        for t in 0..<tiles {
            let x0 = (t % across) * tile, y0 = (t / across) * tile
            for y in y0..<(y0 + tile) { for x in x0..<(x0 + tile) { values.append(volume.voxels[volume.geometry.offset(x, y, 0)]) } }
        }
        return values.sorted()
    }

    @Test func nineTransferSyntaxesDecodeToIdenticalVoxels() throws {
        let files = try Self.files("transfer_syntaxes").sorted { $0.lastPathComponent < $1.lastPathComponent }
        #expect(files.count == 9)
        let decoded = try files.map { try DICOMSeries.read([$0]) }
        for (file, volume) in zip(files, decoded) {
            #expect(volume.geometry.size == decoded[0].geometry.size && volume.voxels == decoded[0].voxels, "\(file.lastPathComponent) differs from 1.dcm")
        }
        let reference = try Self.reference("transfer_syntaxes", "1.nii.gz").voxels.sorted()
        #expect(Self.mosaicValues(decoded[0]) == reference)
    }

    @Test(arguments: [("12bitUnsigned.dcm", 2), ("12bitUnsigned_0x0F0F.dcm", 3), ("12bitSigned_0x0F0F.dcm", 4)])
    func twelveBitVariantsDecodeToTheReferenceValues(file: String, series: Int) throws {
        let volume = try DICOMSeries.read([try RealData.dicom("bits12").appendingPathComponent(file)])
        let reference = try Self.reference("bits12", "\(series).nii.gz").voxels.sorted()
        let ours = Self.mosaicValues(volume)
        #expect(ours.count == reference.count)
        #expect(ours == reference, "\(file): ours \(ours.first!)...\(ours.last!), reference \(reference.first!)...\(reference.last!)")
    }

    /// Head first supine and head first decubitus left: the orientation tags hold the position, so each
    /// series has its reference's grid (also point by point above): the same once both are in canonical order.
    @Test func patientPositionsKeepTheReferenceGeometry() throws {
        for (name, file) in [("siemens_decubitus_hfs", "3_t1_fl2d_sag.nii.gz"), ("siemens_decubitus_hfdl", "2_t1_fl2d_sag.nii.gz")] {
            let ours = try DICOMSeries.read(try Self.files(name)).geometry, reference = try Self.reference(name, file).geometry
            let a = CanonicalReorientation.closestRAS(of: Volume(geometry: ours)).geometry
            let b = CanonicalReorientation.closestRAS(of: Volume(geometry: reference)).geometry
            #expect(a.isClose(to: b, tolerance: 1e-3), "\(name): \(a) vs \(b)")
            #expect(abs(ours.spacing.z - 4.8) < 1e-3, "\(name): slice spacing \(ours.spacing.z) mm, from positions (thickness is 4 mm)")
        }
    }

    /// One protocol exported as one enhanced multi-frame file and as 96 classic files: the same grid once in
    /// prep's canonical orientation (the enhanced file stacks its frames the other way along the slice normal;
    /// each matches its own reference point by point above).
    @Test func enhancedAndClassicExportsAgree() throws {
        let enhanced = CanonicalReorientation.closestRAS(of: try DICOMSeries.read(try Self.files("siemens_xa30_enhanced_t1"))).geometry
        let classic = CanonicalReorientation.closestRAS(of: try DICOMSeries.read(try Self.files("siemens_xa30_classic_t1"))).geometry
        #expect(enhanced.size == classic.size && length(enhanced.spacing - classic.spacing) < 1e-4)
        #expect(enhanced.orientationCode == classic.orientationCode, "\(enhanced.orientationCode) vs \(classic.orientationCode)")
        #expect(enhanced.direction.maxDifference(classic.direction) < 0.05, "the same protocol's slice plane: \(enhanced.direction) vs \(classic.direction)")
    }
}
