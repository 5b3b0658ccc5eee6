import Foundation
import Testing
@testable import Imaging
import TacoCore
@testable import Prep
@testable import Synth

/// The same synthetic subjects as a BIDS dataset (made once per test process).
enum BIDSCohort {
    static let root = FileManager.default.temporaryDirectory.appendingPathComponent("taco-prep-bids-\(UUID().uuidString)")
    static let truth: CohortTruth = {
        atexit { try? FileManager.default.removeItem(at: BIDSCohort.root) }
        // Same seed and size as Dump: the BIDS files hold the very acquisitions of Dump's DICOM series.
        return try! CohortSynthesizer(options: SynthOptions(subjects: 4, seed: 21, atlas: Dump.atlas.path, size: .small, formats: [.bids]),
                                      version: "test").run(into: root)
    }()
}

@Suite(.serialized) struct NIfTIInputTests {
    @Test func bidsSuffixesLooseNamesAnd4DFilesGetTheirFates() throws {
        _ = BIDSCohort.truth
        let triage = SeriesTriage(rules: TriageTests.rules)
        let found = try NIfTIDiscovery.discover([BIDSCohort.root.appendingPathComponent("bids")], triage: triage)
        #expect(found.count == 16 && found.allSatisfy { $0.decision.fate == .used })
        #expect(Set(found.map(\.subjectID)) == ["01", "02", "03", "04"] && Set(found.compactMap(\.decision.modality)) == ["T1w", "T2w", "FLAIR", "PDw"])

        let loose = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: loose) }
        let patient = loose.appendingPathComponent("patient7")
        try FileManager.default.createDirectory(at: patient, withIntermediateDirectories: true)
        let flair = found.first { $0.decision.modality == "FLAIR" }!.url
        try FileManager.default.copyItem(at: flair, to: patient.appendingPathComponent("Ax_T2_FLAIR.nii.gz"))
        try FileManager.default.copyItem(at: flair, to: patient.appendingPathComponent("calibration.nii.gz"))
        let series4D = patient.appendingPathComponent("t1_mprage_4d.nii")
        try NIfTIFile.write(Volume(geometry: Geometry(size: [2, 2, 2])), to: series4D)
        var bytes = try Data(contentsOf: series4D)
        bytes.replaceSubrange(40..<42, with: [4, 0]); bytes.replaceSubrange(46..<48, with: [1, 0]); bytes.replaceSubrange(48..<50, with: [2, 0])
        try bytes.write(to: series4D)
        let mixed = try NIfTIDiscovery.discover([patient], triage: triage)
        func fate(_ name: String) -> TriageDecision { mixed.first { $0.url.lastPathComponent == name }!.decision }
        #expect(fate("Ax_T2_FLAIR.nii.gz").fate == .used && fate("Ax_T2_FLAIR.nii.gz").modality == "FLAIR")
        #expect(fate("calibration.nii.gz").reason == "unknown modality")
        #expect(fate("t1_mprage_4d.nii").fate == .rejected && fate("t1_mprage_4d.nii").reason.hasPrefix("4D where 3D is needed"))
        #expect(mixed.allSatisfy { $0.subjectID == "patient7" })
    }

    @Test func dicomAndBIDSInputsOfOneSubjectGiveTheSamePreparedVolumes() throws {
        _ = BIDSCohort.truth
        var preparation = SessionPreparation()
        preparation.targetSpacing = 3
        let label = Dump.truth.subjects[1].label
        let fromDICOM = try preparation.prepare(try SessionPreparationTests.inputs(of: label))
        let bids = try NIfTIDiscovery.discover([BIDSCohort.root.appendingPathComponent("bids")], triage: SeriesTriage(rules: TriageTests.rules))
            .filter { $0.subjectID == label }
        let fromBIDS = try preparation.prepare(try bids.map { .init(modality: $0.decision.modality!, volume: try NIfTIFile.read($0.url).0) })
        #expect(fromBIDS.grid.isClose(to: fromDICOM.grid, tolerance: 1e-3))
        for (modality, a) in fromDICOM.volumes {
            let b = try #require(fromBIDS.volumes[modality])
            let inside = a.voxels.indices.filter { fromDICOM.mask.voxels[$0] > 0 && fromBIDS.mask.voxels[$0] > 0 }
            let meanDifference = inside.map { Double(abs(a.voxels[$0] - b.voxels[$0])) }.reduce(0, +) / Double(inside.count)
            #expect(meanDifference < 0.02, "\(modality): mean |difference| \(meanDifference) (z-score units)")
        }
    }
}
