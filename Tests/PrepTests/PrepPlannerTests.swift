import Foundation
import Imaging
import TacoCore
import Testing
@testable import Prep

/// The plan: subjects by PatientID, sessions by study, pseudonyms only, shards that partition the sessions.
@Suite struct PrepPlannerTests {
    /// A tiny series of `description` for `patient` in `study`.
    static func writeSeries(_ folder: URL, patient: String, study: String, series: String, description: String) throws {
        let g = Geometry(size: [8, 8, 4], spacing: [2, 2, 3])
        var volume = Volume(geometry: g)
        for i in volume.voxels.indices { volume.voxels[i] = Float(i % 50) }
        let files = (0..<4).map { folder.appendingPathComponent("\(series.suffix(3))-\($0)") }
        try DICOMSeries.write(volume, to: files, tags: [
            .sopClassUID: "1.2.840.10008.5.1.4.1.1.4", .modality: "MR", .patientID: patient, .patientName: "DOE^\(patient)",
            .studyInstanceUID: study, .seriesInstanceUID: series, .seriesNumber: String(series.suffix(1)), .seriesDescription: description,
        ])
    }

    @Test func studiesOfOnePatientAreSessionsOfOneSubject() throws {
        let root = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let dump = root.appendingPathComponent("dump")
        try FileManager.default.createDirectory(at: dump, withIntermediateDirectories: true)
        try Self.writeSeries(dump, patient: "P1", study: "1.2.3.1", series: "1.2.3.1.1", description: "t1_mprage_sag")
        try Self.writeSeries(dump, patient: "P1", study: "1.2.3.1", series: "1.2.3.1.2", description: "t2_tse_tra")
        try Self.writeSeries(dump, patient: "P1", study: "1.2.3.2", series: "1.2.3.2.3", description: "t1_mprage_sag")
        try Self.writeSeries(dump, patient: "P2", study: "1.2.3.3", series: "1.2.3.3.4", description: "Ax T2 FLAIR")
        let key = try PseudonymKey.openOrCreate(root.appendingPathComponent("key"))
        let planner = PrepPlanner(triage: SeriesTriage(rules: TriageTests.rules), key: key, options: PrepOptions(),
                                  output: root.appendingPathComponent("out"))
        let plan = try planner.plan([dump])
        #expect(plan.jobs.count == 3 && plan.sessionKeys.count == 3 && plan.problems.isEmpty)
        let p1 = key.subjectLabel(forPatientID: "P1"), p2 = key.subjectLabel(forPatientID: "P2")
        #expect(plan.jobs.filter { $0.subject == p1 }.count == 2 && plan.jobs.filter { $0.subject == p2 }.count == 1)
        let first = try #require(plan.jobs.first { $0.session == key.sessionLabel(forStudy: "1.2.3.1", patientID: "P1") })
        #expect(first.sources.map(\.modality).sorted() == ["T1w", "T2w"] && first.sources.allSatisfy { $0.files.count == 4 })
        // Shards partition the sessions and the report.
        let a = plan.shard(0, of: 2), b = plan.shard(1, of: 2)
        #expect(a.jobs.count + b.jobs.count == 3 && Set(a.jobs.map(\.session)).isDisjoint(with: b.jobs.map(\.session)))
        #expect(a.report.count + b.report.count == plan.report.count)
        // The same inputs give the same fingerprints; another configuration keeps them (it is compared apart).
        #expect(try planner.plan([dump]).jobs.map(\.fingerprint) == plan.jobs.map(\.fingerprint))
        // Nothing in a job's output-bound fields carries the patient's data.
        for job in plan.jobs {
            #expect(![job.subject, job.session, job.fingerprint].contains { $0.contains("P1") || $0.contains("DOE") || $0.contains("1.2.3") })
        }
    }
}
