import Foundation
import Testing
import Prep
@testable import Synth

/// What `taco evaluate --synth-truth --key-file` reads: every truth subject's patient id and lesion from
/// cohort.json as written, and the prep key opened without being created.
@Suite struct SynthTruthLabelsTests {
    @Test func lesionsAreReadFromTheWrittenTruth() throws {
        let truth = Dump.truth
        let read = try CohortTruth.lesions(in: Dump.root.appendingPathComponent("truth"))
        #expect(read.map(\.patientID) == truth.subjects.map { $0.phi["PatientID"]! })
        for (r, subject) in zip(read, truth.subjects) {
            #expect(r.center == subject.lesion?.center && r.radiusMM == subject.lesion?.radiusMM)
        }
        #expect(truth.subjects.contains { $0.lesion != nil } && truth.subjects.contains { $0.lesion == nil })
        #expect { try CohortTruth.lesions(in: Dump.root.appendingPathComponent("dicom")) } throws: { "\($0)".contains("cohort.json") }
    }

    @Test func anExistingKeyIsOpenedAndAMissingOneNamed() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let keyFile = folder.appendingPathComponent("keys/prep-key")
        #expect { try PseudonymKey.existing(keyFile: keyFile) } throws: { "\($0)".contains("prep-key") }
        #expect(!FileManager.default.fileExists(atPath: keyFile.path))
        let created = try PseudonymKey.openOrCreate(keyFile: keyFile)
        #expect(try PseudonymKey.existing(keyFile: keyFile).subjectLabel(forPatientID: "P1") == created.subjectLabel(forPatientID: "P1"))
    }
}
