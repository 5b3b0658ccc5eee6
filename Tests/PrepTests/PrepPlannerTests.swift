import Foundation
import Imaging
import TacoCore
import Testing
@testable import Prep

/// The plan: subjects by PatientID, sessions by study, pseudonyms only, shards that partition the sessions.
@Suite struct PrepPlannerTests {
    /// A tiny series of `description` for `patient` in `study`.
    /// `head`: a 40 x 40 x 20 ellipsoid at 2 x 2 x 3 mm (enough for a session to be prepared) instead of 8 x 8 x 4 noise.
    static func writeSeries(_ folder: URL, patient: String, study: String, series: String, description: String, head: Bool = false) throws {
        let g = head ? Geometry(size: [40, 40, 20], spacing: [2, 2, 3]) : Geometry(size: [8, 8, 4], spacing: [2, 2, 3])
        var volume = Volume(geometry: g)
        for i in volume.voxels.indices {
            let x = i % g.size.x, y = (i / g.size.x) % g.size.y, z = i / (g.size.x * g.size.y)
            let r = pow(Double(x - 20) / 14, 2) + pow(Double(y - 20) / 16, 2) + pow(Double(z - 10) / 8, 2)
            volume.voxels[i] = head ? (r < 1 ? Float(300 + 200 * (x % 7 < 3 ? 1 : 0) + 100 * r) : 0) : Float(i % 50)
        }
        let files = (0..<g.size.z).map { folder.appendingPathComponent("\(series.suffix(3))-\($0)") }
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

    /// A second series of a class is the first one's fallback: when the chosen series cannot be read at
    /// preparation time (here its files are overwritten after the plan), the worker prepares the session from
    /// the fallback, and the report says which was used and why.
    @Test func aChosenSeriesThatCannotBeReadHandsItsClassToTheNextCandidate() throws {
        let root = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let dump = root.appendingPathComponent("dump")
        try FileManager.default.createDirectory(at: dump, withIntermediateDirectories: true)
        try Self.writeSeries(dump, patient: "P1", study: "1.2.3.1", series: "1.2.3.1.1", description: "t1_mprage_sag", head: true)
        try Self.writeSeries(dump, patient: "P1", study: "1.2.3.1", series: "1.2.3.1.2", description: "t2_flair_tra", head: true)
        try Self.writeSeries(dump, patient: "P1", study: "1.2.3.1", series: "1.2.3.1.5", description: "t2_flair_tra", head: true)
        let key = try PseudonymKey.openOrCreate(root.appendingPathComponent("key"))
        let output = root.appendingPathComponent("out")
        let plan = try PrepPlanner(triage: SeriesTriage(rules: TriageTests.rules), key: key, options: PrepOptions(), output: output).plan([dump])
        let job = try #require(plan.jobs.first)
        let flair = try #require(job.sources.first { $0.modality == "FLAIR" })
        #expect(plan.report[flair.reportIndex].seriesNumber == "5" && flair.fallbacks.map { plan.report[$0.reportIndex].seriesNumber } == ["2"])
        #expect(job.sources.first { $0.modality == "T1w" }?.fallbacks.isEmpty == true)
        for file in flair.files { try Data("overwritten".utf8).write(to: URL(fileURLWithPath: file)) }

        let outcome = SessionWorker.run(job)
        #expect(outcome.status == .prepared, "\(outcome.reason ?? "")")
        #expect(outcome.modalities == ["FLAIR", "T1w"] && outcome.fallbackUsed == ["FLAIR": flair.fallbacks[0].reportIndex] && outcome.inputFailures.isEmpty)
        let part = PrepPart(plan: plan, outcomes: [outcome], index: 0, count: 1, version: "test", configuration: [:])
        let first = part.report[flair.reportIndex], second = part.report[flair.fallbacks[0].reportIndex]
        #expect(first.fate == .rejected && first.reason.hasPrefix("could not be read") && first.reason.hasSuffix("series 2 was used instead"), "\(first.reason)")
        #expect(second.fate == .used && second.reason.contains("series 5 could not be read"), "\(second.reason)")
        #expect(part.failures == 0)
        #expect(!first.reason.contains(dump.path), "paths are redacted")

        // When no candidate reads, the class is left out and every candidate is a failure.
        for file in flair.fallbacks[0].files { try Data("overwritten".utf8).write(to: URL(fileURLWithPath: file)) }
        let none = SessionWorker.run(job)
        #expect(none.status == .prepared && none.modalities == ["T1w"] && none.inputFailures["FLAIR"] != nil && none.fallbackUsed.isEmpty)
        let failed = PrepPart(plan: plan, outcomes: [none], index: 0, count: 1, version: "test", configuration: [:])
        #expect(failed.report[flair.reportIndex].fate == .failed && failed.report[flair.fallbacks[0].reportIndex].fate == .failed && failed.failures == 2)
    }
}
