import Foundation
import Imaging
import TacoCore

/// The dataset-level files of a prepared folder (docs/design.md §5): `prep-report.json`, `datalist.json`
/// (MONAI decathlon style), `participants.tsv` and `dataset_description.json`, each written atomically.
///
/// The report names series by pseudonymous subject, session, series number and modality, never by
/// input path: export folders are often named after the patient.
public enum PreparedDataset {
    /// One input series and what became of it.
    public struct ReportEntry: Sendable, Codable, Equatable {
        public enum Fate: String, Sendable, Codable { case used, rejected, failed }
        public let subject: String
        public let session: String
        public let seriesNumber: String?
        public let modality: String?
        public let fate: Fate
        public let reason: String
        public let files: Int
        /// Further copies of its files found in the input (the same series exported twice).
        public let duplicateFiles: Int

        public init(subject: String, session: String, seriesNumber: String?, modality: String?, fate: Fate,
                    reason: String, files: Int, duplicateFiles: Int = 0) {
            self.subject = subject
            self.session = session
            self.seriesNumber = seriesNumber
            self.modality = modality
            self.fate = fate
            self.reason = reason
            self.files = files
            self.duplicateFiles = duplicateFiles
        }
    }

    /// A prepared session, by its labels and the modalities written.
    public struct Session: Sendable, Equatable {
        public let subject: String
        public let session: String
        public let modalities: [String]
        public init(subject: String, session: String, modalities: [String]) {
            self.subject = subject
            self.session = session
            self.modalities = modalities
        }
    }

    /// `message` with every path in `paths` replaced by "file k" (k counting from 1 in `paths`' order),
    /// for failure reasons that quote the reader's message.
    public static func redacting(_ message: String, paths: [URL]) -> String {
        var out = message
        for (k, url) in paths.enumerated().sorted(by: { $0.element.path.count > $1.element.path.count }) {
            out = out.replacingOccurrences(of: url.path, with: "file \(k + 1)")
        }
        return out
    }

    /// What became of one session in a run.
    public struct SessionStatus: Sendable, Codable, Equatable {
        public let subject: String
        public let session: String
        /// prepared, skipped (up to date), or failed.
        public let status: String
        public let reason: String?
        public let qcFlags: [String]
        public init(subject: String, session: String, status: String, reason: String?, qcFlags: [String]) {
            self.subject = subject
            self.session = session
            self.status = status
            self.reason = reason
            self.qcFlags = qcFlags
        }
    }

    /// Writes the four files into `root`. Beside the series, the report lists the sessions' outcomes,
    /// the files that could not be used at all (`problems`, by id), the files set aside as not DICOM (by id)
    /// and the counts of files set aside.
    public static func write(under root: URL, sessions: [Session], report: [ReportEntry], version: String,
                             configuration: [String: String], sessionStatuses: [SessionStatus] = [],
                             problems: [InputProblem] = [], ignoredFiles: Int = 0, notDicomFiles: [InputProblem] = [],
                             nonImageFiles: Int = 0) throws {
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let counts = Dictionary(grouping: report, by: \.fate).mapValues(\.count)
        let reportDocument = Report(series: report, used: counts[.used] ?? 0, rejected: counts[.rejected] ?? 0,
                                    failed: counts[.failed] ?? 0,
                                    sessions: sessionStatuses.sorted { ($0.subject, $0.session) < ($1.subject, $1.session) },
                                    unusableFiles: problems, ignoredFiles: ignoredFiles, notDicomFiles: notDicomFiles,
                                    nonImageFiles: nonImageFiles)
        try AtomicFile.write(to: PreparedLayout(root: root).report) { try encoder.encode(reportDocument).write(to: $0) }

        let sorted = sessions.sorted { ($0.subject, $0.session) < ($1.subject, $1.session) }
        let entries: [[String: Any]] = sorted.map { s in
            let labels = PreparedLayout.Session(subject: s.subject, session: s.session)
            return ["image": s.modalities.map { labels.folderPath + "/" + labels.volumePath($0) }, "modalities": s.modalities,
                    "mask": labels.folderPath + "/" + labels.maskPath, "subject": labels.participant,
                    "session": labels.sessionName]
        }
        let allModalities = Array(Set(sessions.flatMap(\.modalities))).sorted()
        let datalist: [String: Any] = [
            "name": "TacoKit prepared dataset", "tensorImageSize": "3D",
            "modality": Dictionary(uniqueKeysWithValues: allModalities.enumerated().map { (String($0.offset), $0.element) }),
            "numTraining": entries.count, "training": entries,
        ]
        try writeJSON(datalist, to: PreparedLayout(root: root).datalist)

        let participants = ["participant_id"] + Array(Set(sorted.map { PreparedLayout.Session(subject: $0.subject, session: $0.session).participant })).sorted()
        try AtomicFile.write(to: PreparedLayout(root: root).participants) {
            try Data((participants.joined(separator: "\n") + "\n").utf8).write(to: $0)
        }
        let description: [String: Any] = [
            "Name": "TacoKit prepared dataset", "BIDSVersion": "1.8.0", "DatasetType": "derivative",
            "GeneratedBy": [["Name": "taco prep", "Version": version, "Configuration": configuration]],
        ]
        try writeJSON(description, to: PreparedLayout(root: root).datasetDescription)
    }

    struct Report: Codable {
        let series: [ReportEntry]
        let used: Int
        let rejected: Int
        let failed: Int
        let sessions: [SessionStatus]
        let unusableFiles: [InputProblem]
        let ignoredFiles: Int
        /// Files set aside as not DICOM, by id with the reason (not failures).
        let notDicomFiles: [InputProblem]
        let nonImageFiles: Int
    }

    private static func writeJSON(_ object: Any, to url: URL) throws {
        try AtomicFile.write(to: url) {
            try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]).write(to: $0)
        }
    }
}
