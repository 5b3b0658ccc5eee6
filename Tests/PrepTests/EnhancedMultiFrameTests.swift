import Foundation
import Imaging
import TacoCore
import Testing
@testable import Prep
@testable import Synth

/// Enhanced multi-frame MR files (one file, every slice a frame, geometry in functional groups), as modern
/// scanners export them: found, classified and prepared like classic series.
@Suite(.serialized) struct EnhancedMultiFrameTests {
    @Test func anEnhancedMRFileIsFoundClassifiedAndAlignedLikeAClassicSeries() throws {
        let subject = Dump.truth.subjects[1]
        let id = subject.phi["PatientID"]!
        let mine = Dump.found.series.filter { $0[.patientID] == id }
        let triage = SeriesTriage(rules: TriageTests.rules)
        let decisions = triage.decideAll(mine)
        let t1 = zip(mine, decisions).first { $0.1.modality == "T1w" && $0.1.fate == .used }!.0
        let flair = zip(mine, decisions).first { $0.1.modality == "FLAIR" && $0.1.fate == .used }!.0

        // The FLAIR rewritten as one enhanced MR file beside a copy of the classic T1w series.
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        for (k, file) in t1.files.enumerated() { try FileManager.default.copyItem(at: file, to: folder.appendingPathComponent("T1-\(k)")) }
        let volume = try DICOMSeries.readOrdered(flair.files)
        let tags: [DICOMTag: String] = [
            .studyInstanceUID: flair.studyInstanceUID, .seriesInstanceUID: flair.seriesInstanceUID + ".9",
            .sopInstanceUID: flair.seriesInstanceUID + ".9.1", .patientID: id, .modality: "MR", .seriesNumber: "40",
            .seriesDescription: flair[.seriesDescription]!, .imageType: "ORIGINAL\\PRIMARY\\M\\NONE",
        ]
        try DICOMSeries.writeMultiFrame(volume, to: folder.appendingPathComponent("ENHANCED"), tags: tags, rescaleSlope: 0.25)

        let found = try DICOMDiscovery.discover([folder])
        #expect(found.series.count == 2 && found.unreadable.isEmpty)
        let enhanced = try #require(found.series.first { $0.files.count == 1 })
        #expect(enhanced.frames == volume.geometry.size.z)
        let fates = triage.decideAll(found.series)
        #expect(fates.allSatisfy { $0.fate == .used } && Set(fates.compactMap(\.modality)) == ["T1w", "FLAIR"], "\(fates)")

        var preparation = SessionPreparation()
        preparation.targetSpacing = 3
        let inputs = try zip(found.series, fates).map { series, fate in
            SessionPreparation.Input(modality: fate.modality!, volume: try DICOMSeries.readOrdered(series.files))
        }
        let result = try preparation.prepare(inputs)
        let g = result.grid
        var errors: [Double] = []
        let truth = SessionPreparationTests.rasRowsToLPS(subject.acquisitions.first { $0.modality == "FLAIR" }!.scannerToSubject)
        for z in stride(from: 0, to: g.size.z, by: 2) { for y in stride(from: 0, to: g.size.y, by: 2) { for x in stride(from: 0, to: g.size.x, by: 2)
        where result.mask[x, y, z] > 0 {
            let p = g.point(ofIndex: Vector3(Double(x), Double(y), Double(z)))
            errors.append(length(truth.apply(to: result.registrations["FLAIR"]!.transform.apply(to: p)) - p))
        } } }
        let mean = errors.reduce(0, +) / Double(errors.count)
        #expect(mean <= 1, "FLAIR from an enhanced file: \(mean) mm mean residual")
    }
}
