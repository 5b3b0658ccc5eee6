import Foundation
import Imaging
import TacoCore
import Testing

/// `taco prep` on real scanners' anatomical series (../shared/realdata, dcm2niix's validation sets): every
/// case is prepared, its prepared image agrees with dcm2niix's conversion at the same world points (prep
/// resamples and normalises, so the comparison is a correlation of intensities at mapped points), and no
/// identifier from the headers reaches any output.
@Suite struct RealScannerPrepTests {
    static let root = TacoProcess.root.deletingLastPathComponent().appendingPathComponent("shared/realdata/dicom")

    /// Trilinear value of `volume` at continuous index `c`; nil outside.
    static func sample(_ volume: Volume, _ c: Vector3) -> Float? {
        let g = volume.geometry
        let x0 = Int(c.x.rounded(.down)), y0 = Int(c.y.rounded(.down)), z0 = Int(c.z.rounded(.down))
        guard x0 >= 0, y0 >= 0, z0 >= 0, x0 + 1 < g.size.x, y0 + 1 < g.size.y, z0 + 1 < g.size.z else { return nil }
        let fx = Float(c.x) - Float(x0), fy = Float(c.y) - Float(y0), fz = Float(c.z) - Float(z0)
        var value: Float = 0
        for dz in 0...1 { for dy in 0...1 { for dx in 0...1 {
            let w = (dx == 0 ? 1 - fx : fx) * (dy == 0 ? 1 - fy : fy) * (dz == 0 ? 1 - fz : fz)
            value += w * volume.voxels[g.offset(x0 + dx, y0 + dy, z0 + dz)]
        } } }
        return value
    }

    @Test(arguments: [
        ("ge_ax_oblique_mprage", "5_Brain_Advanced_Sequences.nii.gz"),
        ("siemens_xa30_enhanced_t1", "5_anat-T1w_acq-tfl.nii.gz"),
        ("siemens_xa30_classic_t1", "5001_anat-T1w_acq-tfl.nii.gz"),
        ("siemens_decubitus_hfs", "3_t1_fl2d_sag.nii.gz"),
        ("siemens_decubitus_hfdl", "2_t1_fl2d_sag.nii.gz"),
    ])
    func aRealSeriesIsPreparedWhereTheReferencePutsIt(name: String, reference file: String) throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("taco-real-\(name)-\(UUID().uuidString.prefix(6))")
        defer { try? FileManager.default.removeItem(at: work) }
        let input = Self.root.appendingPathComponent("\(name)/dicom"), out = work.appendingPathComponent("out")
        let r = try TacoProcess.run(["prep", input.path, "--out", out.path, "--key-file", work.appendingPathComponent("key").path, "--progress", "plain"])
        #expect(r.status == 0, "\(r.out)\n\(r.err)")
        let written = try FileTree.regularFiles(under: out)
        let image = try #require(written.first { $0.lastPathComponent.hasSuffix("_desc-preproc_T1w.nii.gz") }, "\(name): no T1w prepared\n\(r.out)")
        let mask = try #require(written.first { $0.lastPathComponent.hasSuffix("_desc-brain_mask.nii.gz") })
        let prepared = try NIfTIFile.read(image).0, brain = try NIfTIFile.read(mask).0
        let reference = try NIfTIFile.read(Self.root.appendingPathComponent("\(name)/reference/\(file)")).0

        // Pearson correlation of prepared and reference intensities at the prepared brain voxels' world points
        // (moved by `shift` mm, to show what a misplacement costs).
        func correlation(shift: Vector3) -> (rho: Double, points: Int) {
            var pairs: [(Double, Double)] = []
            let g = prepared.geometry
            for n in stride(from: 0, to: g.voxelCount, by: 3) where brain.voxels[n] > 0 {
                let index = Vector3(Double(n % g.size.x), Double((n / g.size.x) % g.size.y), Double(n / (g.size.x * g.size.y)))
                if let value = Self.sample(reference, reference.geometry.continuousIndex(ofPoint: g.point(ofIndex: index) + shift)) {
                    pairs.append((Double(prepared.voxels[n]), Double(value)))
                }
            }
            let ma = pairs.map(\.0).reduce(0, +) / Double(pairs.count), mb = pairs.map(\.1).reduce(0, +) / Double(pairs.count)
            let cov = pairs.map { ($0.0 - ma) * ($0.1 - mb) }.reduce(0, +)
            let va = pairs.map { ($0.0 - ma) * ($0.0 - ma) }.reduce(0, +), vb = pairs.map { ($0.1 - mb) * ($0.1 - mb) }.reduce(0, +)
            return (cov / (va * vb).squareRoot(), pairs.count)
        }
        // Prep interpolates trilinearly, as this comparison does: on the same grid the two agree to better than 1e-5 (1 - correlation 1e-10 to 1.4e-6 here), while
        // a displacement of a tenth of a millimetre along the slices' normal costs 1e-4 to 5e-3.
        let exact = correlation(shift: .zero)
        #expect(exact.points > 1000 && exact.rho >= 0.99999, "\(name): correlation \(exact.rho) at \(exact.points) brain points")
        let normal = reference.geometry.direction.column(2)
        let moved = correlation(shift: 0.1 * normal)
        #expect(moved.rho < 0.99999, "\(name): a 0.1 mm displacement would go unnoticed (correlation \(moved.rho))")

        // No identifier of the headers in any output byte (gzip opened), file name or console line.
        let first = try FileTree.regularFiles(under: input).first { !$0.lastPathComponent.hasPrefix("README") }!
        let header = try DICOMHeaderScan.scan([first], tags: [.patientName, .patientID, .patientBirthDate, .institutionName, .accessionNumber,
                                                              .referringPhysicianName, .studyDate, .studyInstanceUID])[0]
        // ("dicom", the GE case's placeholder name, is also a word of the report's own keys: not a finding.)
        var secrets: [String] = []
        for value in header.values.values { secrets += [value] + value.split(separator: "^").map(String.init) }
        secrets = secrets.filter { $0.count >= 4 && $0 != "dicom" }
        var texts = [Data(r.out.utf8), Data(r.err.utf8)]
        for url in written {
            texts.append(Data(url.path.dropFirst(out.path.count).utf8))
            texts.append(url.pathExtension == "gz" ? try gunzip(url) : try Data(contentsOf: url))
        }
        for secret in secrets {
            let bytes = Data(secret.utf8)
            #expect(!texts.contains { $0.range(of: bytes) != nil }, "\(name): a header identifier reached the output")
        }
    }
}
