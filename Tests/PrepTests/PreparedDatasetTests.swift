import Foundation
import Testing
@testable import Imaging
@testable import Prep
@testable import Synth

@Suite struct PreparedDatasetTests {
    @Test func theDatasetFilesDescribeTheSessionsAndEverySeriesWithoutPaths() throws {
        // The report of the synthetic dump: discovery + triage, labelled by pseudonyms.
        let root = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let key = try PseudonymKey.openOrCreate(root.deletingLastPathComponent().appendingPathComponent(root.lastPathComponent + "-key"), outputs: [root])
        defer { try? FileManager.default.removeItem(at: key.folder) }
        let decisions = SeriesTriage(rules: TriageTests.rules).decideAll(Dump.found.series)
        var report: [PreparedDataset.ReportEntry] = []
        var sessions: [String: (String, String, [String])] = [:]
        for (series, decision) in zip(Dump.found.series, decisions) {
            let id = series[.patientID]!
            let subject = key.subjectLabel(forPatientID: id), session = key.sessionLabel(forStudy: series.studyInstanceUID, patientID: id)
            report.append(.init(subject: subject, session: session, seriesNumber: series[.seriesNumber], modality: decision.modality,
                                fate: decision.fate == .used ? .used : .rejected, reason: decision.reason, files: series.files.count,
                                duplicateFiles: series.duplicateFiles.count))
            if decision.fate == .used { sessions[subject + session, default: (subject, session, [])].2.append(decision.modality!) }
        }
        let prepared = sessions.values.map { PreparedDataset.Session(subject: $0.0, session: $0.1, modalities: $0.2.sorted()) }
        try PreparedDataset.write(under: root, sessions: prepared, report: report, version: "test", configuration: ["target_spacing_mm": "1"])

        let reportJSON = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("prep-report.json"))) as? [String: Any])
        let entries = try #require(reportJSON["series"] as? [[String: Any]])
        #expect(entries.count == Dump.found.series.count)
        #expect(reportJSON["used"] as? Int == 16 && (reportJSON["rejected"] as? Int ?? 0) == Dump.found.series.count - 16)
        #expect(entries.contains { $0["reason"] as? String == "localizer" && $0["fate"] as? String == "rejected" })
        #expect(entries.contains { ($0["duplicate_files"] as? Int ?? 0) > 0 && $0["fate"] as? String == "used" })
        let datalist = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("datalist.json"))) as? [String: Any])
        let training = try #require(datalist["training"] as? [[String: Any]])
        #expect(training.count == 4 && training.allSatisfy { ($0["image"] as? [String])?.count == 4 && ($0["mask"] as? String)?.hasSuffix("_desc-brain_mask.nii.gz") == true })
        #expect((datalist["modality"] as? [String: String]) == ["0": "FLAIR", "1": "PDw", "2": "T1w", "3": "T2w"])
        let participants = try String(contentsOf: root.appendingPathComponent("participants.tsv"), encoding: .utf8).split(separator: "\n")
        #expect(participants.first == "participant_id" && participants.count == 5 && Set(participants).count == 5)
        let description = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("dataset_description.json"))) as? [String: Any])
        #expect(description["DatasetType"] as? String == "derivative")
        // No planted identifier, UID or input path anywhere.
        for url in try FileTree.regularFiles(under: root) {
            let text = try String(contentsOf: url, encoding: .utf8)
            for secret in Dump.truth.subjects.flatMap({ $0.phi.values }) { #expect(!text.contains(secret), "\(secret) in \(url.lastPathComponent)") }
            #expect(!text.contains("2.25.") && !text.contains(Dump.root.path))
        }
    }

    @Test func failureMessagesLoseTheirPaths() {
        let files = [URL(fileURLWithPath: "/exports/DOE_JANE/IM1"), URL(fileURLWithPath: "/exports/DOE_JANE/IM10")]
        let message = "read DICOM series: series of 2 files starting with /exports/DOE_JANE/IM10: truncated; also /exports/DOE_JANE/IM1"
        #expect(PreparedDataset.redacting(message, paths: files) == "read DICOM series: series of 2 files starting with file 2: truncated; also file 1")
    }
}
