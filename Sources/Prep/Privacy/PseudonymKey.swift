import Crypto
import Foundation

/// The secret behind the pseudonyms, kept in a private folder that is never inside an output.
///
/// The folder holds `key` (32 random bytes, hex) and `pseudonyms.tsv` (patient id -> pseudonym, the
/// only place where the two meet). It is created with mode 0700, the files with 0600.
///
/// ```swift
/// let key = try PseudonymKey.openOrCreate(URL(fileURLWithPath: "/secure/taco-key"), outputs: [prepared])
/// key.subjectLabel(forPatientID: "MRN0012345")     // "3f9a1c0b7e2d": the same for the same key, always
/// ```
public struct PseudonymKey: Sendable {
    public let folder: URL
    /// The 32 key bytes (SymmetricKey itself is not Sendable).
    private let secret: [UInt8]

    /// A key folder that cannot be used, with the path and the reason.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let path: String
        public let reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// Opens the key `folder/key`, creating folder and key if absent. Refuses a folder inside any of `outputs`.
    public static func openOrCreate(_ folder: URL, outputs: [URL] = []) throws -> PseudonymKey {
        try openOrCreate(keyFile: folder.appendingPathComponent("key"), outputs: outputs)
    }

    /// Opens an existing key (`taco prep --key-file`) without creating anything.
    public static func existing(keyFile: URL) throws -> PseudonymKey {
        guard FileManager.default.fileExists(atPath: keyFile.path) else { throw Failure(path: keyFile.path, reason: "no key file here") }
        return try openOrCreate(keyFile: keyFile)
    }

    /// Opens the key in `keyFile` (`taco prep --key-file`), creating it (and its folder, mode 0700) if
    /// absent; the pseudonym table lives beside it. Refuses a key inside any of `outputs`.
    public static func openOrCreate(keyFile: URL, outputs: [URL] = []) throws -> PseudonymKey {
        let fm = FileManager.default
        let folder = keyFile.deletingLastPathComponent()
        let resolved = folder.standardizedFileURL.resolvingSymlinksInPath()
        for output in outputs {
            let out = output.standardizedFileURL.resolvingSymlinksInPath().path
            if resolved.path == out || resolved.path.hasPrefix(out + "/") {
                throw Failure(path: folder.path, reason: "the key folder must not be inside the output folder \(output.path)")
            }
        }
        try fm.createDirectory(at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        if !fm.fileExists(atPath: keyFile.path) {
            // Written under a temporary name and linked into place: link(2) never replaces an existing file, so
            // when several runs start at once on a fresh folder (a job array), the first key wins and every run
            // reads that one.
            var generator = SystemRandomNumberGenerator()
            let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let hex = bytes.map { String(format: "%02x", $0) }.joined() + "\n"
            let temporary = folder.appendingPathComponent(".key-\(UUID().uuidString.prefix(8))")
            guard fm.createFile(atPath: temporary.path, contents: Data(hex.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw Failure(path: keyFile.path, reason: "could not create the key file (folder not writable?)")
            }
            defer { try? fm.removeItem(at: temporary) }
            if link(temporary.path, keyFile.path) != 0 && errno != EEXIST {
                throw Failure(path: keyFile.path, reason: "could not create the key file: \(String(cString: strerror(errno)))")
            }
        }
        let text = try String(contentsOf: keyFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.count == 64, let bytes = Self.bytes(hex: text) else {
            throw Failure(path: keyFile.path, reason: "not a key (64 hexadecimal digits expected)")
        }
        return PseudonymKey(folder: folder, secret: bytes)
    }

    /// HMAC-SHA256 of `message` under the key, hexadecimal.
    public func hmac(_ message: String) -> String {
        HMAC<SHA256>.authenticationCode(for: Data(message.utf8), using: SymmetricKey(data: secret)).map { String(format: "%02x", $0) }.joined()
    }

    /// A BIDS subject label for a patient id: the first 12 hex digits of HMAC-SHA256(key, id).
    public func subjectLabel(forPatientID id: String) -> String { String(hmac("patient:" + id).prefix(12)) }

    /// A BIDS session label for a study (by its StudyInstanceUID), within a patient: 8 hex digits.
    public func sessionLabel(forStudy uid: String, patientID: String) -> String {
        String(hmac("study:" + patientID + "|" + uid).prefix(8))
    }

    /// Records `id -> label` in the private table (once per pair), so that a data manager can go back.
    public func record(patientID id: String, label: String) throws {
        let table = folder.appendingPathComponent("pseudonyms.tsv")
        let line = id.replacingOccurrences(of: "\t", with: " ") + "\t" + label
        if let existing = try? String(contentsOf: table, encoding: .utf8), existing.split(separator: "\n").contains(Substring(line)) { return }
        try appendToPrivateTable("pseudonyms.tsv", header: "patient_id\tsubject", text: line + "\n")
    }

    /// Appends `text` to the private table `name` in the key folder (mode 0600), creating it with the
    /// `header` line. Created exclusively and appended with O_APPEND, so that runs sharing the key folder
    /// at the same time neither truncate nor interleave each other's lines.
    public func appendToPrivateTable(_ name: String, header: String, text: String) throws {
        let table = folder.appendingPathComponent(name)
        func append(_ text: String, flags: Int32) -> Bool {
            let fd = open(table.path, O_WRONLY | O_APPEND | flags, 0o600)
            guard fd >= 0 else { return false }
            defer { close(fd) }
            let bytes = Array(text.utf8)
            return write(fd, bytes, bytes.count) == bytes.count
        }
        _ = append(header + "\n", flags: O_CREAT | O_EXCL)
        guard append(text, flags: 0) else {
            throw Failure(path: table.path, reason: "could not append to this private table: \(String(cString: strerror(errno)))")
        }
    }

    private init(folder: URL, secret: [UInt8]) {
        self.folder = folder
        self.secret = secret
    }

    private static func bytes(hex: String) -> [UInt8]? {
        var out: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            guard let b = UInt8(hex[i..<j], radix: 16) else { return nil }
            out.append(b)
            i = j
        }
        return out
    }
}
