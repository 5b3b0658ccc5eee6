import Foundation
import Imaging

/// A file of the input that could not be used at all (not DICOM, unreadable, an empty input), by an id
/// that reveals nothing (its path is kept in the key folder's `files.tsv`).
public struct InputProblem: Sendable, Codable, Equatable {
    /// `file-<10 hex digits>`: HMAC of the path under the pseudonym key; or `input-<k>` for a whole input.
    public let file: String
    public let reason: String
}

/// Everything `taco prep` will do, decided from headers before any pixel is read.
public struct PrepPlan: Sendable {
    /// Every input series and its fate so far (sessions' outcomes may still turn `used` into `failed`).
    public var report: [PreparedDataset.ReportEntry]
    /// The sessions to prepare, in label order.
    public var jobs: [SessionJob]
    /// Files and inputs that could not be used at all.
    public var problems: [InputProblem]
    /// Files skipped as not images by their extension (.txt, .pdf, ...).
    public var ignoredFiles: Int
    /// Files set aside because they are not DICOM at all (export clutter such as VERSION or LOCKFILE), by id
    /// with the reason; not failures.
    public var notDicomFiles: [InputProblem] = []
    /// DICOM files without pixel data (DICOMDIR, structured reports, presentation states): set aside.
    public var nonImageFiles: Int
    /// Every (subject, session) met, including those without a usable series.
    public var sessionKeys: [SessionKey]
    /// DICOM candidate files whose headers were scanned, and the seconds the scan took.
    public var scannedFiles = 0
    public var scanSeconds = 0.0
    /// Problem file id -> path, for the operator's console (`--show-paths`) only; never written to the output.
    public var problemPaths: [String: String] = [:]

    /// A session's pseudonymous labels.
    public struct SessionKey: Sendable, Hashable, Comparable, Codable {
        public let subject: String
        public let session: String
        public static func < (a: SessionKey, b: SessionKey) -> Bool { (a.subject, a.session) < (b.subject, b.session) }
    }

    /// The part of the plan shard `index` of `count` does: sessions dealt round-robin in label order,
    /// so that every machine computes the same split from the same inputs.
    public func shard(_ index: Int, of count: Int) -> PrepPlan {
        guard count > 1 else { return self }
        let mine = Set(sessionKeys.enumerated().filter { $0.offset % count == index }.map(\.element))
        var out = self
        out.jobs = jobs.filter { mine.contains(SessionKey(subject: $0.subject, session: $0.session)) }
        out.report = report.filter { mine.contains(SessionKey(subject: $0.subject, session: $0.session)) }
        out.sessionKeys = sessionKeys.filter { mine.contains($0) }
        // Whole-input problems belong to shard 0 only, so that a merge counts them once.
        if index != 0 { out.problems = []; out.ignoredFiles = 0; out.nonImageFiles = 0; out.notDicomFiles = [] }
        return out
    }
}

/// Turns inputs into a ``PrepPlan``: DICOM discovery and NIfTI/BIDS discovery, triage, subjects and
/// sessions under pseudonyms, one job per session with at least one usable series.
///
/// Subjects and sessions: DICOM by PatientID + StudyInstanceUID (a series without PatientID counts as
/// its own patient, keyed by its study); BIDS by sub/ses labels; loose NIfTI files by their folder.
public struct PrepPlanner: Sendable {
    public let triage: SeriesTriage
    public let key: PseudonymKey
    public let options: PrepOptions
    /// The output folder the jobs write to.
    public let output: URL
    /// Where DICOM headers are scanned.
    public var scanner: DICOMHeaderScanner = .inProcess

    /// Extensions of files that are never images: skipped without a complaint.
    public static let ignoredExtensions: Set<String> = ["txt", "pdf", "xml", "html", "htm", "json", "md", "csv", "tsv", "log",
                                                        "jpg", "jpeg", "png", "gif", "bmp", "ini", "inf", "exe", "dll", "bat", "sh",
                                                        "zip", "db"]

    public init(triage: SeriesTriage, key: PseudonymKey, options: PrepOptions, output: URL) {
        self.triage = triage
        self.key = key
        self.options = options
        self.output = output
    }

    /// What a plan collects as the inputs are walked, before sessions become jobs.
    private struct Draft {
        var report: [PreparedDataset.ReportEntry] = []
        var problems: [InputProblem] = []
        var notDICOM: [InputProblem] = []
        var ignored = 0
        /// Each session's usable inputs with the identities their fingerprint is made of.
        var sources: [PrepPlan.SessionKey: [(SessionJob.Source, [String])]] = [:]
        var keys = Set<PrepPlan.SessionKey>()
        /// Problem file id -> path, for the key folder's files.tsv.
        var fileNames: [(String, String)] = []
    }

    /// The steps in order: walk the inputs, DICOM discovery and triage, NIfTI and BIDS discovery, one job per session.
    public func plan(_ inputs: [URL]) throws -> PrepPlan {
        var draft = Draft()
        let (files, bidsRoots) = try walk(inputs, into: &draft)
        let dicom = try planDICOM(files, outside: bidsRoots, into: &draft)
        try planNIfTI(inputs, into: &draft)
        let jobs = makeJobs(&draft)
        try recordFileNames(draft.fileNames)
        return PrepPlan(report: draft.report, jobs: jobs, problems: draft.problems, ignoredFiles: draft.ignored, notDicomFiles: draft.notDICOM,
                        nonImageFiles: dicom.nonImage, sessionKeys: draft.keys.sorted(), scannedFiles: dicom.scanned, scanSeconds: dicom.seconds,
                        problemPaths: Dictionary(draft.fileNames, uniquingKeysWith: { a, _ in a }))
    }

    /// Each input walked once: its files, and the roots of BIDS datasets (whose files go to NIfTI discovery only).
    private func walk(_ inputs: [URL], into draft: inout Draft) throws -> (files: [URL], bidsRoots: [String]) {
        var files: [URL] = []
        var bidsRoots: [String] = []
        for (k, input) in inputs.enumerated() {
            guard FileManager.default.fileExists(atPath: input.path) else {
                throw PrepFailure("\(input.path): no such file or folder")
            }
            guard try FileTree.isFolder(input) else { files.append(input); continue }
            let (below, unreadable) = try FileTree.walk(input)
            for (folder, reason) in unreadable {
                let id = "file-" + key.hmac("file:" + folder.path).prefix(10)
                draft.fileNames.append((id, folder.path))
                draft.problems.append(InputProblem(file: id, reason: "a folder of input \(k + 1) cannot be read (\(reason)): its files were not looked at"))
            }
            if below.isEmpty {
                draft.problems.append(InputProblem(file: "input-\(k + 1)", reason: "input \(k + 1) is an empty folder: nothing to prepare"))
            }
            if FileManager.default.fileExists(atPath: input.appendingPathComponent("dataset_description.json").path) {
                bidsRoots.append(input.path + "/")
            } else {
                files += below
            }
        }
        return (files, bidsRoots)
    }

    /// The session a patient's study belongs to, under pseudonyms (recorded in the key folder's table).
    private func session(patient: String, study: String, into draft: inout Draft) throws -> PrepPlan.SessionKey {
        let session = PrepPlan.SessionKey(subject: key.subjectLabel(forPatientID: patient), session: key.sessionLabel(forStudy: study, patientID: patient))
        try key.record(patientID: patient, label: session.subject)
        draft.keys.insert(session)
        return session
    }

    /// DICOM: header scan, series assembly and triage; every series reported, the usable ones kept with a
    /// technical sidecar. Returns the files scanned, the scan's seconds and the non-image files set aside.
    private func planDICOM(_ files: [URL], outside bidsRoots: [String], into draft: inout Draft) throws -> (scanned: Int, seconds: Double, nonImage: Int) {
        let nonNIfTI = files.filter { url in !ImageFile.isNIfTI(url) && !bidsRoots.contains { url.path.hasPrefix($0) } }
        let candidates = nonNIfTI.filter { !Self.ignoredExtensions.contains($0.pathExtension.lowercased()) }
        draft.ignored += nonNIfTI.count - candidates.count
        let scanStart = Date()
        let found = try DICOMDiscovery.discover(candidates, scanner: scanner)
        let scanSeconds = Date().timeIntervalSince(scanStart)
        for (url, reason) in found.unreadable {
            let id = "file-" + key.hmac("file:" + url.path).prefix(10)
            draft.fileNames.append((id, url.path))
            draft.problems.append(InputProblem(file: id, reason: PreparedDataset.redacting(reason, paths: [url])))
        }
        for url in found.notDICOM {
            let id = "file-" + key.hmac("file:" + url.path).prefix(10)
            draft.fileNames.append((id, url.path))
            draft.notDICOM.append(InputProblem(file: id, reason: "not a DICOM file (no DICM marker at byte 128, no DICOM element at its start): ignored"))
        }
        // Used series become sources; series set aside as duplicates of a used one (and readable) become its fallbacks.
        var used: [(index: Int, session: PrepPlan.SessionKey, source: SessionJob.Source, ids: [String])] = []
        var fallbacks: [Int: [(rank: Int, source: SessionJob.Source)]] = [:]
        for (index, (series, decision)) in zip(found.series, triage.decideAll(found.series)).enumerated() {
            let patient = series[.patientID].flatMap { $0.isEmpty ? nil : $0 } ?? "study:" + series.studyInstanceUID
            let session = try session(patient: patient, study: series.studyInstanceUID, into: &draft)
            // A series with a defective file (e.g. truncated) fails with the reason, unless it was rejected anyway.
            let defective = decision.fate == .used && !series.defects.isEmpty
            draft.report.append(PreparedDataset.ReportEntry(subject: session.subject, session: session.session, seriesNumber: series[.seriesNumber],
                                                            modality: decision.modality,
                                                            fate: defective ? .failed : decision.fate == .used ? .used : .rejected,
                                                            reason: defective ? "could not be read: " + Self.listed(series.defects) : decision.reason,
                                                            files: series.files.count, duplicateFiles: series.duplicateFiles.count))
            guard series.defects.isEmpty, let modality = decision.modality else { continue }
            if decision.fate == .used {
                used.append((index, session, try source(series, modality: modality, reportIndex: draft.report.count - 1), series.headers.compactMap { $0[.sopInstanceUID] }))
            } else if let duplicate = decision.duplicate {
                fallbacks[duplicate.of, default: []].append((duplicate.rank, try source(series, modality: modality, reportIndex: draft.report.count - 1)))
            }
        }
        for var entry in used {
            entry.source.fallbacks = (fallbacks[entry.index] ?? []).sorted { $0.rank < $1.rank }.map(\.source)
            draft.sources[entry.session, default: []].append((entry.source, entry.ids))
        }
        return (candidates.count, scanSeconds, found.nonImage.count)
    }

    /// A DICOM series as a job's source, with its technical sidecar (identifiers of its headers kept out).
    private func source(_ series: DiscoveredSeries, modality: String, reportIndex: Int) throws -> SessionJob.Source {
        let h = series.headers[0]
        let forbidden = [DICOMTag.patientID, .patientName, .patientBirthDate, .institutionName, .accessionNumber, .referringPhysicianName]
            .compactMap { h[$0] }.flatMap { [$0] + $0.split(separator: "^").map(String.init) }.filter { $0.count >= 3 }
        let sidecar = try JSONSerialization.data(withJSONObject: TechnicalSidecar.make(from: h, forbidden: forbidden),
                                                 options: [.prettyPrinted, .sortedKeys])
        return SessionJob.Source(modality: modality, kind: .dicom, files: series.files.map(\.path),
                                 sidecar: String(decoding: sidecar, as: UTF8.self), reportIndex: reportIndex)
    }

    /// NIfTI files and BIDS datasets: every file reported, the usable ones kept (identified by name, size and date).
    private func planNIfTI(_ inputs: [URL], into draft: inout Draft) throws {
        for input in try NIfTIDiscovery.discover(inputs, triage: triage) {
            let session = try session(patient: "nifti:" + input.subjectID, study: input.sessionID, into: &draft)
            let malformed = input.decision.isMalformedInput
            draft.report.append(PreparedDataset.ReportEntry(subject: session.subject, session: session.session, seriesNumber: nil,
                                                            modality: input.decision.modality,
                                                            fate: input.decision.fate == .used ? .used : malformed ? .failed : .rejected,
                                                            reason: PreparedDataset.redacting(input.decision.reason, paths: [input.url]), files: 1))
            guard input.decision.fate == .used, let modality = input.decision.modality else { continue }
            let attributes = try? FileManager.default.attributesOfItem(atPath: input.url.path)
            let identity = "\(input.url.lastPathComponent)|\(attributes?[.size] ?? 0)|\((attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)"
            let source = SessionJob.Source(modality: modality, kind: .nifti, files: [input.url.path],
                                           sidecar: Self.bidsSidecar(beside: input.url), reportIndex: draft.report.count - 1)
            draft.sources[session, default: []].append((source, [identity]))
        }
    }

    /// One job per session with a usable input: one input per class (the DICOM triage chose per study; BIDS and
    /// mixed inputs here), the others reported as set aside; the fingerprint from the chosen inputs.
    private func makeJobs(_ draft: inout Draft) -> [SessionJob] {
        var jobs: [SessionJob] = []
        for (session, list) in draft.sources.sorted(by: { $0.key < $1.key }) {
            var chosen: [String: (SessionJob.Source, [String])] = [:]
            for (source, ids) in list {
                if let kept = chosen[source.modality] {
                    let keptName = kept.0.kind == .dicom ? "series " + (draft.report[kept.0.reportIndex].seriesNumber ?? "?") : "a NIfTI file"
                    draft.report[source.reportIndex] = draft.report[source.reportIndex].with(fate: .rejected,
                        reason: "another \(source.modality) input of this session was used (\(keptName))")
                } else {
                    chosen[source.modality] = (source, ids)
                }
            }
            let picked = chosen.values.sorted { $0.0.modality < $1.0.modality }
            let fingerprint = PreparedSessionWriter.fingerprint(of: picked.flatMap { s, ids in ids.map { s.modality + ":" + $0 } })
            jobs.append(SessionJob(subject: session.subject, session: session.session, sources: picked.map(\.0),
                                   fingerprint: fingerprint, options: options, output: output.path))
        }
        return jobs
    }

    /// The first three of `items`, and how many more.
    static func listed(_ items: [String]) -> String {
        items.prefix(3).joined(separator: "; ") + (items.count > 3 ? "; and \(items.count - 3) more" : "")
    }

    /// The whitelisted fields of a BIDS JSON sidecar beside `url`, as JSON text.
    static func bidsSidecar(beside url: URL) -> String? {
        let stem = url.path.replacingOccurrences(of: ".nii.gz", with: "").replacingOccurrences(of: ".nii", with: "")
        guard let data = FileManager.default.contents(atPath: stem + ".json"),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        let allowed = Set(TechnicalSidecar.fields.map(\.0)).subtracting(["SeriesDescription", "ProtocolName"])
        let kept = object.filter { allowed.contains($0.key) }
        guard !kept.isEmpty, let out = try? JSONSerialization.data(withJSONObject: kept, options: [.prettyPrinted, .sortedKeys]) else { return nil }
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends file id -> path to the key folder's private `files.tsv`, so that an operator can find a
    /// problem file the report names by id.
    func recordFileNames(_ names: [(String, String)]) throws {
        guard !names.isEmpty else { return }
        try key.appendToPrivateTable("files.tsv", header: "file\tpath",
                                     text: names.map { "\($0.0)\t\($0.1.replacingOccurrences(of: "\t", with: " "))\n" }.joined())
    }
}

extension PreparedDataset.ReportEntry {
    /// The same entry with another fate and reason.
    public func with(fate: Fate, reason: String) -> Self {
        Self(subject: subject, session: session, seriesNumber: seriesNumber, modality: modality, fate: fate, reason: reason,
             files: files, duplicateFiles: duplicateFiles)
    }
}
