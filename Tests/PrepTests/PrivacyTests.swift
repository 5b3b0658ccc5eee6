import Foundation
import Testing
@testable import Imaging
@testable import Prep
@testable import Synth

@Suite struct PrivacyTests {
    /// A key folder whose key file holds `hex`.
    static func keyFolder(hex: String) throws -> URL {
        let folder = try temporaryFolder().appendingPathComponent("key")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try (hex + "\n").write(to: folder.appendingPathComponent("key"), atomically: true, encoding: .utf8)
        return folder
    }

    @Test func hmacMatchesAnIndependentImplementation() throws {
        // Expected values from Python's hmac module: hmac.new(bytes(range(32)), message, hashlib.sha256).hexdigest().
        let folder = try Self.keyFolder(hex: (0..<32).map { String(format: "%02x", $0) }.joined())
        defer { try? FileManager.default.removeItem(at: folder.deletingLastPathComponent()) }
        let key = try PseudonymKey.openOrCreate(folder)
        #expect(key.hmac("patient:MRN0012345") == "27433992a776c5098511cd5b88fee12b83ea7d0a1871df2f1cc277df4a9961a9")
        #expect(key.hmac("Hi There") == "278639ec02309d3afded1b273f1349ba63b9089c12476d716bee3ecc94673e9e")
        #expect(key.subjectLabel(forPatientID: "MRN0012345") == "27433992a776")
    }

    @Test func labelsAreStableForAKeyAndDifferBetweenKeys() throws {
        let base = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: base) }
        let a = try PseudonymKey.openOrCreate(base.appendingPathComponent("a"))
        let again = try PseudonymKey.openOrCreate(base.appendingPathComponent("a"))
        let b = try PseudonymKey.openOrCreate(base.appendingPathComponent("b"))
        let label = a.subjectLabel(forPatientID: "MRN0012345")
        #expect(label.count == 12 && label.allSatisfy(\.isHexDigit))
        #expect(again.subjectLabel(forPatientID: "MRN0012345") == label)
        #expect(b.subjectLabel(forPatientID: "MRN0012345") != label)
        #expect(a.subjectLabel(forPatientID: "MRN0012346") != label)
        #expect(a.sessionLabel(forStudy: "1.2.3", patientID: "MRN0012345").count == 8)
        #expect(a.sessionLabel(forStudy: "1.2.3", patientID: "MRN0012345") != a.sessionLabel(forStudy: "1.2.4", patientID: "MRN0012345"))
        // Private: folder 0700, key 0600.
        let folderMode = try FileManager.default.attributesOfItem(atPath: a.folder.path)[.posixPermissions] as? Int
        let keyMode = try FileManager.default.attributesOfItem(atPath: a.folder.appendingPathComponent("key").path)[.posixPermissions] as? Int
        #expect(folderMode == 0o700 && keyMode == 0o600)
    }

    @Test func theKeyFolderIsNeverInsideTheOutputAndBadKeysAreRefused() throws {
        let base = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: base) }
        let output = base.appendingPathComponent("prepared")
        #expect { try PseudonymKey.openOrCreate(output.appendingPathComponent("secret"), outputs: [output]) }
            throws: { "\($0)".contains("must not be inside the output folder") }
        #expect(!FileManager.default.fileExists(atPath: output.path))
        let bad = try Self.keyFolder(hex: "not-a-key")
        defer { try? FileManager.default.removeItem(at: bad.deletingLastPathComponent()) }
        #expect { try PseudonymKey.openOrCreate(bad) } throws: { "\($0)".contains("64 hexadecimal digits") }
    }

    @Test func thePrivateTableRecordsEachPairOnce() throws {
        let base = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: base) }
        let key = try PseudonymKey.openOrCreate(base.appendingPathComponent("k"))
        let label = key.subjectLabel(forPatientID: "MRN7")
        try key.record(patientID: "MRN7", label: label)
        try key.record(patientID: "MRN7", label: label)
        try key.record(patientID: "MRN8", label: key.subjectLabel(forPatientID: "MRN8"))
        let table = try String(contentsOf: key.folder.appendingPathComponent("pseudonyms.tsv"), encoding: .utf8)
        #expect(table.split(separator: "\n").count == 3 && table.contains("MRN7\t\(label)"))
    }

    @Test func runsStartingTogetherOnAFreshKeyFolderShareOneKeyAndLoseNoTableLine() throws {
        let base = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: base) }
        let folder = base.appendingPathComponent("fresh")
        let labels = ConcurrentLabels()
        DispatchQueue.concurrentPerform(iterations: 16) { i in
            guard let key = try? PseudonymKey.openOrCreate(folder) else { return }
            labels.add(key.subjectLabel(forPatientID: "MRN1"))
            try? key.record(patientID: "MRN\(100 + i)", label: key.subjectLabel(forPatientID: "MRN\(100 + i)"))
        }
        #expect(labels.all.count == 16 && Set(labels.all).count == 1, "every run must read the same key: \(Set(labels.all))")
        let lines = try String(contentsOf: folder.appendingPathComponent("pseudonyms.tsv"), encoding: .utf8).split(separator: "\n")
        #expect(lines.first == "patient_id\tsubject" && lines.filter { $0.hasPrefix("patient_id") }.count == 1)
        #expect(Set(lines.dropFirst().map { $0.split(separator: "\t")[0] }) == Set((100..<116).map { Substring("MRN\($0)") }))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() == ["key", "pseudonyms.tsv"], "no temporary key file left")
    }

    @Test func sidecarsKeepTechnicalFieldsOnlyAndNoPlantedIdentifier() throws {
        let truth = Dump.truth
        for series in Dump.found.series {
            let subject = truth.subjects.first { $0.phi["PatientID"] == series[.patientID] }!
            let forbidden = Array(subject.phi.values)
            let sidecar = TechnicalSidecar.make(from: series.headers[0], forbidden: forbidden)
            let text = String(decoding: try JSONSerialization.data(withJSONObject: sidecar, options: [.sortedKeys]), as: UTF8.self)
            for secret in forbidden { #expect(!text.contains(secret), "\(secret) in a sidecar") }
            #expect(!text.contains("2.25."))   // no UID
            #expect(Set(sidecar.keys).isSubset(of: Set(TechnicalSidecar.fields.map(\.0))))
            if series[.sopClassUID] == "1.2.840.10008.5.1.4.1.1.4" {
                #expect(sidecar["Modality"] as? String == "MR" && (sidecar["RepetitionTime"] as? Double ?? 0) > 0)
            }
        }
        // A description carrying the patient's name is dropped, the rest kept.
        let header = DICOMHeader(url: URL(fileURLWithPath: "/x"), failure: nil, values: [
            .seriesDescription: "T1 for SMITH^JOHN", .repetitionTime: "2300", .echoTime: "2.98", .patientName: "SMITH^JOHN",
        ])
        let sidecar = TechnicalSidecar.make(from: header, forbidden: ["SMITH^JOHN"])
        #expect(sidecar["SeriesDescription"] == nil && sidecar["RepetitionTime"] as? Double == 2.3 && sidecar["EchoTime"] as? Double == 0.00298)
    }
}

private final class ConcurrentLabels: @unchecked Sendable {
    private let lock = NSLock()
    private var labels: [String] = []
    func add(_ label: String) { lock.withLock { labels.append(label) } }
    var all: [String] { lock.withLock { labels } }
}
