import Foundation
import Imaging
import TacoCore
import Testing

/// A small synthetic dump (DICOM + BIDS + truth), made once per test process with `taco synth`.
enum PrepFixture {
    static let root: URL = {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("taco-prep-cli-\(UUID().uuidString)")
        atexit { try? FileManager.default.removeItem(at: PrepFixture.root) }
        let r = try! TacoProcess.run(["synth", "--out", root.appendingPathComponent("dump").path, "--subjects", "3", "--seed", "5",
                                      "--size", "small"])
        precondition(r.status == 0, r.err)
        return root
    }()
    static var dicom: URL { root.appendingPathComponent("dump/dicom") }
    static var keyFile: URL { root.appendingPathComponent("private/key") }
    static var truth: [String: Any] {
        try! JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("dump/truth/cohort.json"))) as! [String: Any]
    }
    static var subjects: [[String: Any]] { truth["subjects"] as! [[String: Any]] }
    static var series: [[String: Any]] { truth["series"] as! [[String: Any]] }
    /// Every planted identifier (names, ids, dates, institution, accession number).
    static var phi: [String] { subjects.flatMap { ($0["phi"] as! [String: String]).values } }

    /// A fresh output folder under the fixture.
    static func output(_ name: String) -> URL {
        let url = root.appendingPathComponent("out-\(name)-\(UUID().uuidString.prefix(6))")
        return url
    }

    /// truth subject label -> pseudonym, from the private table (after a run with `keyFile`).
    static func pseudonyms() throws -> [String: String] {
        let table = try String(contentsOf: keyFile.deletingLastPathComponent().appendingPathComponent("pseudonyms.tsv"), encoding: .utf8)
        let byID = Dictionary(table.split(separator: "\n").dropFirst().map { line -> (String, String) in
            let f = line.split(separator: "\t").map(String.init)
            return (f[0], f[1])
        }, uniquingKeysWith: { a, _ in a })
        return Dictionary(uniqueKeysWithValues: subjects.map { ($0["label"] as! String, byID[($0["phi"] as! [String: String])["PatientID"]!]!) })
    }

    static func prep(_ inputs: [URL], out: URL, _ extra: [String] = [], whileRunning: ((Process) -> Void)? = nil) throws
        -> (status: Int32, out: String, err: String) {
        try TacoProcess.run(["prep"] + inputs.map(\.path) + ["--out", out.path, "--key-file", keyFile.path, "--spacing", "3",
                                                              "--progress", "plain"] + extra, whileRunning: whileRunning)
    }

    static func json(_ url: URL) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }
}

/// `taco prep` as a user runs it, against `taco synth`'s ground truth.
@Suite(.serialized) struct PrepCommandTests {
    @Test func preparesTheDumpWithEverySeriesFateRightAndNoPatientDataAnywhere() throws {
        let out = PrepFixture.output("main")
        let r = try PrepFixture.prep([PrepFixture.dicom], out: out, ["--jobs", "2"])
        #expect(r.status == 0, "\(r.out)\n\(r.err)")
        let names = try PrepFixture.pseudonyms()
        let report = try PrepFixture.json(out.appendingPathComponent("prep-report.json"))
        let entries = report["series"] as! [[String: Any]]
        // Every synthetic series: the right fate, modality and reason.
        for truth in PrepFixture.series {
            let subject = names[truth["subject"] as! String]!
            let number = String(truth["series_number"] as! Int)
            let mine = entries.filter { $0["subject"] as? String == subject && $0["series_number"] as? String == number }
            let kind = truth["kind"] as! String
            switch kind {
            case "localizer":
                #expect(mine.count == 3 && mine.allSatisfy { $0["fate"] as? String == "rejected" && $0["reason"] as? String == "localizer" })
            case "secondary-capture":
                #expect(mine.count == 1 && mine[0]["reason"] as? String == "secondary capture or screenshot")
            case "missing-slice":
                #expect(mine.count == 1 && (mine[0]["reason"] as? String)?.hasPrefix("missing slices") == true)
            case "duplicate":
                // The second export of a series is the same SOP instances: one used series, its copies counted.
                #expect(mine.count == 1 && mine[0]["fate"] as? String == "used" && mine[0]["duplicate_files"] as? Int == truth["files"] as? Int)
            default:
                #expect(mine.count == 1 && mine[0]["fate"] as? String == "used" && mine[0]["modality"] as? String == truth["expected_modality"] as? String,
                        "subject \(truth["subject"]!) series \(number): \(mine)")
            }
        }
        #expect(report["failed"] as? Int == 0)
        let datalist = try PrepFixture.json(out.appendingPathComponent("datalist.json"))
        #expect((datalist["training"] as! [[String: Any]]).count == 3)

        // The prepared grid sits where the truth says the anatomy is: the mask's centroid equals the truth
        // brain's centroid (subject frame = T1w scanner frame) within half a voxel.
        for subject in PrepFixture.subjects {
            let label = names[subject["label"] as! String]!
            let session = try #require(try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("sub-\(label)").path)
                .first { $0.hasPrefix("ses-") })
            let anat = out.appendingPathComponent("sub-\(label)/\(session)/anat")
            let mask = try NIfTIFile.read(try #require(try FileManager.default.contentsOfDirectory(at: anat, includingPropertiesForKeys: nil)
                .first { $0.lastPathComponent.hasSuffix("_desc-brain_mask.nii.gz") })).0
            let labels = try NIfTIFile.read(PrepFixture.root.appendingPathComponent("dump/truth").appendingPathComponent(subject["labels"] as! String)).0
            func centroid(_ v: Volume) -> Vector3 {
                var sum = Vector3.zero, n = 0.0
                for z in 0..<v.geometry.size.z { for y in 0..<v.geometry.size.y { for x in 0..<v.geometry.size.x where v[x, y, z] > 0 {
                    sum += v.geometry.point(ofIndex: Vector3(Double(x), Double(y), Double(z)))
                    n += 1
                } } }
                return sum / n
            }
            let distance = length(centroid(mask) - centroid(labels))
            #expect(distance <= 1.5, "sub \(label): mask centroid \(distance) mm from the truth brain's (voxel 3 mm)")
        }

        // Not one planted identifier or UID in any byte (gzip opened), file name or console line.
        var texts = [r.out, r.err]
        for url in try FileTree.regularFiles(under: out) {
            texts.append(url.path.dropFirst(out.path.count).description)
            var data = try Data(contentsOf: url)
            if url.pathExtension == "gz" { data = try gunzip(url) }
            texts.append(String(decoding: data, as: UTF8.self))
        }
        for text in texts {
            for secret in PrepFixture.phi { #expect(!text.contains(secret), "a planted identifier reached the output") }
            #expect(!text.contains("2.25."), "a UID reached the output")
            #expect(!text.contains(PrepFixture.dicom.path), "an input path reached the output")
        }
    }

    @Test func aRerunSkipsWhatIsUpToDateAndForceRedoesIt() throws {
        let out = PrepFixture.output("resume")
        #expect(try PrepFixture.prep([PrepFixture.dicom], out: out).status == 0)
        let subjectFiles = try FileTree.regularFiles(under: out).filter { $0.lastPathComponent == "subject.json" }
        let before = try subjectFiles.map { try FileManager.default.attributesOfItem(atPath: $0.path)[.modificationDate] as! Date }
        let again = try PrepFixture.prep([PrepFixture.dicom], out: out, ["--progress", "json"])
        #expect(again.status == 0 && again.out.contains("0 sessions prepared, 3 up to date"), "\(again.out)")
        // JSON lines: one object per event.
        let events = again.out.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(events.count == again.out.split(separator: "\n").count)
        #expect(events.filter { $0["event"] as? String == "finished" && $0["status"] as? String == "skipped" }.count == 3)
        let after = try subjectFiles.map { try FileManager.default.attributesOfItem(atPath: $0.path)[.modificationDate] as! Date }
        #expect(before == after)
        // Another configuration is another session: redone.
        let changed = try PrepFixture.prep([PrepFixture.dicom], out: out, ["--margin", "4"])
        #expect(changed.out.contains("3 sessions prepared, 0 up to date"), "\(changed.out)")
        let forced = try PrepFixture.prep([PrepFixture.dicom], out: out, ["--margin", "4", "--force"])
        #expect(forced.out.contains("3 sessions prepared, 0 up to date"), "\(forced.out)")
    }

    /// A FLAIR exported a second time (a later series number, so preferred) with one file cut short, and the
    /// clutter of an export (VERSION, LOCKFILE): the complete FLAIR is prepared, the copy is set aside naming
    /// its defect, the clutter is listed as not DICOM, and the run exits 0 since every session was prepared.
    @Test func aTruncatedSecondExportAndExportClutterLoseNothing() throws {
        let fm = FileManager.default
        let work = PrepFixture.output("second-export")
        let dump = work.appendingPathComponent("dump")
        try fm.createDirectory(at: work, withIntermediateDirectories: true)
        try fm.copyItem(at: PrepFixture.dicom, to: dump)
        let tags: [DICOMTag] = [.seriesDescription, .patientID, .patientName, .studyInstanceUID, .seriesInstanceUID, .seriesNumber, .modality, .sopClassUID]
        let headers = try DICOMHeaderScan.scan(try FileTree.regularFiles(under: dump), tags: tags)
        let flair = try #require(headers.first { ($0[.seriesDescription] ?? "").lowercased().contains("flair") })
        let files = headers.filter { $0[.seriesInstanceUID] == flair[.seriesInstanceUID] }.map(\.url)
        let volume = try DICOMSeries.readOrdered(files)
        let copyFolder = dump.appendingPathComponent("second-export")
        try fm.createDirectory(at: copyFolder, withIntermediateDirectories: true)
        let copies = (0..<volume.geometry.size.z).map { copyFolder.appendingPathComponent(String(format: "IM%04d", $0)) }
        var copyTags = [DICOMTag: String]()
        for tag in [DICOMTag.seriesDescription, .patientID, .patientName, .studyInstanceUID, .modality, .sopClassUID] { copyTags[tag] = flair[tag] }
        copyTags[.seriesInstanceUID] = flair[.seriesInstanceUID]! + ".2"
        copyTags[.seriesNumber] = String((Int(flair[.seriesNumber] ?? "") ?? 0) + 100)
        try DICOMSeries.write(volume, to: copies, tags: copyTags)
        let cut = try Data(contentsOf: copies[copies.count / 2])
        try cut.prefix(cut.count - 2000).write(to: copies[copies.count / 2])
        try Data("3.1.4\n".utf8).write(to: dump.appendingPathComponent("VERSION"))
        try Data().write(to: dump.appendingPathComponent("LOCKFILE"))

        let out = work.appendingPathComponent("out")
        let r = try PrepFixture.prep([dump], out: out)
        #expect(r.status == 0, "\(r.out)\n\(r.err)")
        #expect(r.out.contains("2 not DICOM"), "\(r.out)")
        let report = try PrepFixture.json(out.appendingPathComponent("prep-report.json"))
        let subject = try PrepFixture.pseudonyms()[PrepFixture.subjects.first { ($0["phi"] as! [String: String])["PatientID"] == flair[.patientID] }!["label"] as! String]!
        let flairs = (report["series"] as! [[String: Any]]).filter { $0["subject"] as? String == subject && $0["modality"] as? String == "FLAIR" }
        let used = try #require(flairs.first { $0["fate"] as? String == "used" })
        let copy = try #require(flairs.first { $0["series_number"] as? String == copyTags[.seriesNumber] })
        #expect(used["series_number"] as? String == flair[.seriesNumber])
        #expect(copy["fate"] as? String == "rejected" && (copy["reason"] as? String ?? "").contains("truncated"), "\(copy)")
        let prepared = try FileTree.regularFiles(under: out.appendingPathComponent("sub-\(subject)"))
        #expect(prepared.contains { $0.lastPathComponent.hasSuffix("_FLAIR.nii.gz") })
        let clutter = report["not_dicom_files"] as! [[String: Any]]
        #expect(clutter.count == 2 && clutter.allSatisfy { ($0["reason"] as? String ?? "").hasPrefix("not a DICOM file") && ($0["file"] as? String ?? "").hasPrefix("file-") })
        #expect((report["unusable_files"] as! [[String: Any]]).isEmpty && report["failed"] as? Int == 0)
    }

    @Test func badInputsFailClearlyWhileTheBatchGoesOn() throws {
        let fm = FileManager.default
        let work = PrepFixture.output("bad")
        let dump = work.appendingPathComponent("dump")
        try fm.createDirectory(at: work, withIntermediateDirectories: true)
        try fm.copyItem(at: PrepFixture.dicom, to: dump)
        // A truncated slice in one used series (the first FLAIR file found), a text file named .dcm.
        let headers = try DICOMHeaderScan.scan(try FileTree.regularFiles(under: dump), tags: [.seriesDescription, .patientID])
        let flair = try #require(headers.first { ($0[.seriesDescription] ?? "").lowercased().contains("flair") })
        let bytes = try Data(contentsOf: flair.url)
        try bytes.prefix(bytes.count - 3000).write(to: flair.url)
        try Data("Patient export notes\n".utf8).write(to: dump.appendingPathComponent("notes.dcm"))
        // A damaged DICOM file on which GDCM's own assertions abort the reader: named, the scan goes on.
        let crashing = dump.appendingPathComponent("IM-damaged")
        try (Data(count: 128) + Data("DICM".utf8) + Data([0x02, 0x00, 0x10, 0x00, 0xff, 0xff, 0xff, 0xff, 1, 2, 3])).write(to: crashing)
        let empty = work.appendingPathComponent("empty")
        try fm.createDirectory(at: empty, withIntermediateDirectories: true)
        // A 4D NIfTI given as a loose file.
        let loose = work.appendingPathComponent("loose/t1_mprage_4d.nii")
        try fm.createDirectory(at: loose.deletingLastPathComponent(), withIntermediateDirectories: true)
        try NIfTIFile.write(Volume(geometry: Geometry(size: [8, 8, 8])), to: loose)
        var nifti = try Data(contentsOf: loose)
        nifti.replaceSubrange(40..<42, with: [4, 0]); nifti.replaceSubrange(48..<50, with: [2, 0])
        try nifti.write(to: loose)
        // One session's folder cannot be made (a file is in the way; tests run as root, so modes would not stop it).
        let out = work.appendingPathComponent("out")
        _ = try PrepFixture.prep([PrepFixture.dicom], out: PrepFixture.output("labels"))  // the pseudonyms, via the shared key
        let blockedSubject = PrepFixture.subjects.first { ($0["phi"] as! [String: String])["PatientID"] != flair[.patientID] }!
        let blocked = try PrepFixture.pseudonyms()[blockedSubject["label"] as! String]!
        try fm.createDirectory(at: out, withIntermediateDirectories: true)
        try Data().write(to: out.appendingPathComponent("sub-\(blocked)"))

        let r = try PrepFixture.prep([dump, empty, loose.deletingLastPathComponent()], out: out)
        #expect(r.status == 1, "\(r.out)\n\(r.err)")
        let report = try PrepFixture.json(out.appendingPathComponent("prep-report.json"))
        let series = report["series"] as! [[String: Any]]
        let flairSubject = try PrepFixture.pseudonyms()[PrepFixture.subjects.first { ($0["phi"] as! [String: String])["PatientID"] == flair[.patientID] }!["label"] as! String]!
        let failedFLAIR = series.first { $0["subject"] as? String == flairSubject && $0["modality"] as? String == "FLAIR" }!
        #expect(failedFLAIR["fate"] as? String == "failed" && (failedFLAIR["reason"] as? String ?? "").contains("truncated"), "\(failedFLAIR)")
        // Its session goes on without it.
        let flairSession = (report["sessions"] as! [[String: Any]]).first { $0["subject"] as? String == flairSubject }
        #expect(flairSession?["status"] as? String == "prepared")
        #expect(!FileManager.default.fileExists(atPath: try FileTree.regularFiles(under: out.appendingPathComponent("sub-\(flairSubject)"))
            .first { $0.lastPathComponent.hasSuffix("_T1w.nii.gz") }!.path.replacingOccurrences(of: "_T1w.nii.gz", with: "_FLAIR.nii.gz")))
        let unusable = report["unusable_files"] as! [[String: Any]]
        #expect(unusable.contains { ($0["reason"] as? String ?? "").contains("empty folder") })
        #expect(unusable.contains { ($0["file"] as? String ?? "").hasPrefix("file-") && ($0["reason"] as? String ?? "").contains("crashed") })
        #expect((report["not_dicom_files"] as! [[String: Any]]).count == 1, "notes.dcm is text: set aside, not a failure")
        #expect(series.contains { $0["fate"] as? String == "failed" && ($0["reason"] as? String ?? "").hasPrefix("4D where 3D is needed") })
        let blockedSession = (report["sessions"] as! [[String: Any]]).first { $0["subject"] as? String == blocked }!
        #expect(blockedSession["status"] as? String == "failed" && (blockedSession["reason"] as? String ?? "").contains("could not write"))
        // The other sessions are complete; the console names every failure.
        let datalist = try PrepFixture.json(out.appendingPathComponent("datalist.json"))
        #expect((datalist["training"] as! [[String: Any]]).count == 2)
        #expect(r.out.contains("unit(s) failed") && r.out.contains("sub-\(blocked)") && r.out.contains("empty folder"))
        #expect(!r.out.contains(dump.path) && !r.out.contains(loose.path), "input paths appear only with --show-paths")
        let shown = try PrepFixture.prep([dump], out: out, ["--show-paths"])
        #expect(shown.out.contains(crashing.path))

        // An output folder that cannot be made at all: exit 1, the folder named.
        let file = work.appendingPathComponent("a-file")
        try Data().write(to: file)
        let unwritable = try PrepFixture.prep([PrepFixture.dicom], out: file.appendingPathComponent("out"))
        #expect(unwritable.status == 1 && unwritable.err.contains(file.appendingPathComponent("out").path) && unwritable.err.contains("cannot be written"))
    }

    @Test func aKilledWorkerLeavesNoPartialOutputAndTheRerunCompletes() throws {
        let out = PrepFixture.output("killed")
        let r = try PrepFixture.prep([PrepFixture.dicom], out: out, ["--jobs", "1"]) { prep in
            // Kill the first worker as soon as it runs, from outside, like an OOM killer or a decoder crash.
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline {
                if let pid = workerProcess(parent: prep.processIdentifier) {
                    usleep(300_000)
                    kill(pid, SIGKILL)
                    return
                }
                usleep(20_000)
            }
        }
        #expect(r.status == 1, "\(r.out)")
        let report = try PrepFixture.json(out.appendingPathComponent("prep-report.json"))
        let failed = (report["sessions"] as! [[String: Any]]).filter { $0["status"] as? String == "failed" }
        #expect(failed.count == 1 && (failed.first?["reason"] as? String ?? "").contains("signal 9 (SIGKILL)"))
        let label = failed.first?["subject"] as? String ?? ""
        let left = (try? FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("sub-\(label)").path)) ?? []
        #expect(left.isEmpty, "left behind: \(left)")
        let rerun = try PrepFixture.prep([PrepFixture.dicom], out: out)
        #expect(rerun.status == 0 && rerun.out.contains("1 sessions prepared, 2 up to date"), "\(rerun.out)")
    }

    @Test func shardsSplitTheSessionsAndMergeIntoOneDataset() throws {
        let out = PrepFixture.output("shards")
        // With N4 on, to run it end to end as well.
        let first = try PrepFixture.prep([PrepFixture.dicom], out: out, ["--shard-index", "0", "--shard-count", "2", "--n4"])
        #expect(first.status == 0 && first.out.contains("part 1 of 2 written"), "\(first.out)")
        let early = try TacoProcess.run(["prep", "merge", out.path])
        #expect(early.status == 1 && early.err.contains("parts 2 of 2 are missing"), "\(early.err)")
        let second = try PrepFixture.prep([PrepFixture.dicom], out: out, ["--shard-index", "1", "--shard-count", "2", "--n4"])
        #expect(second.status == 0)
        let merged = try TacoProcess.run(["prep", "merge", out.path])
        #expect(merged.status == 0, "\(merged.err)")
        let datalist = try PrepFixture.json(out.appendingPathComponent("datalist.json"))
        #expect((datalist["training"] as! [[String: Any]]).count == 3)
        let report = try PrepFixture.json(out.appendingPathComponent("prep-report.json"))
        #expect((report["series"] as! [[String: Any]]).count == 23 && report["used"] as? Int == 12)
        let description = try PrepFixture.json(out.appendingPathComponent("dataset_description.json"))
        let configuration = ((description["GeneratedBy"] as? [[String: Any]])?.first?["Configuration"] as? [String: String]) ?? [:]
        #expect(configuration["bias_correction"] == "N4" && configuration["target_spacing_mm"] == "3.0")
        // Each shard prepared only its own sessions: together, each session once.
        let sessionsA = first.out.split(separator: "\n").filter { $0.contains("prepared in") }.count
        let sessionsB = second.out.split(separator: "\n").filter { $0.contains("prepared in") }.count
        #expect(sessionsA + sessionsB == 3 && sessionsA >= 1 && sessionsB >= 1)
    }

    /// A run into a folder that holds parts of an earlier split merges its own part only, and a new split
    /// merges only when all of its own parts are there (never with an earlier split's).
    @Test func aRunSplitDifferentlySupersedesTheEarlierSplitsParts() throws {
        let out = PrepFixture.output("resplit")
        let parts = out.appendingPathComponent("prep-parts")
        func names() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: parts.path)) ?? []).sorted() }
        // Three of four parts of a split, the fourth never run.
        for index in 0..<3 {
            let r = try PrepFixture.prep([PrepFixture.dicom], out: out, ["--shard-index", String(index), "--shard-count", "4"])
            #expect(r.status == 0, "\(r.out)\n\(r.err)")
        }
        #expect(names() == ["part-1-of-4.json", "part-2-of-4.json", "part-3-of-4.json"])
        // Unsplit: its own part, merged at once, over sessions that are up to date.
        let plain = try PrepFixture.prep([PrepFixture.dicom], out: out)
        #expect(plain.status == 0 && plain.out.contains("3 up to date"), "\(plain.out)\n\(plain.err)")
        #expect(names() == ["part-1-of-1.json"])
        #expect((try PrepFixture.json(out.appendingPathComponent("datalist.json"))["training"] as! [[String: Any]]).count == 3)
        // Split into two: one part is not a dataset yet, and the unsplit run's part is not taken in its place.
        let half = try PrepFixture.prep([PrepFixture.dicom], out: out, ["--shard-index", "0", "--shard-count", "2"])
        #expect(half.status == 0 && names() == ["part-1-of-2.json"], "\(names())")
        let early = try TacoProcess.run(["prep", "merge", out.path])
        #expect(early.status == 1 && early.err.contains("parts 2 of 2 are missing") && early.err.contains("--shard-index 1 --shard-count 2"), "\(early.err)")
        let other = try PrepFixture.prep([PrepFixture.dicom], out: out, ["--shard-index", "1", "--shard-count", "2"])
        #expect(other.status == 0)
        let merged = try TacoProcess.run(["prep", "merge", out.path])
        #expect(merged.status == 0 && merged.out.contains("merged 2 part(s): 3 sessions"), "\(merged.out)\n\(merged.err)")
        #expect(names() == ["part-1-of-2.json", "part-2-of-2.json"])
    }

    @Test func usageErrorsExitWithTwo() throws {
        let registration = try TacoProcess.run(["prep", PrepFixture.dicom.path, "--out", "/tmp/x", "--registration", "similarity"])
        #expect(registration.status == 2 && registration.err.contains("'rigid' and 'affine'"), "\(registration.err)")
        let order = try TacoProcess.run(["prep", PrepFixture.dicom.path, "--out", "/tmp/x", "--reference-order", "T1w,T3w"])
        #expect(order.status == 2 && order.err.contains("unknown modality 'T3w'") && order.err.contains("FLAIR"), "\(order.err)")
        let modality = try TacoProcess.run(["embed", "run", "prepared", "--out", "/tmp/x", "--modality", "T3w"])
        #expect(modality.status == 2 && modality.err.contains("'T3w' is invalid") && modality.err.contains("FLAIR"), "\(modality.err)")
        #expect(try TacoProcess.run(["prep", "--out", "/tmp/x"]).status == 2)
        #expect(try TacoProcess.run(["prep", PrepFixture.dicom.path, "--out", "/tmp/x", "--shard-index", "2", "--shard-count", "2"]).status == 2)
        #expect(try TacoProcess.run(["prep", PrepFixture.dicom.path, "--out", "/tmp/x", "--registration", "elastic"]).status == 2)
        let inside = try TacoProcess.run(["prep", PrepFixture.dicom.path, "--out", PrepFixture.dicom.appendingPathComponent("out").path])
        #expect(inside.status == 2 && inside.err.contains("inside the input"))
    }
}

/// A `taco prep worker` child of `parent`, from /proc.
func workerProcess(parent: Int32) -> Int32? {
    for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard let pid = Int32(name),
              let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { continue }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 2, Int32(fields[1]) == parent,
              let command = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
              command.split(separator: 0).contains(where: { String(decoding: $0, as: UTF8.self) == "worker" }) else { continue }   // not scan-worker
        return pid
    }
    return nil
}

/// The decompressed bytes of a gzip file (via gzip -dc).
func gunzip(_ url: URL) throws -> Data {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/gzip")
    process.arguments = ["-dc", url.path]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return data
}
