import Foundation
import TacoCore

/// ``DICOMHeaderScan`` in child processes, so that a file on which GDCM crashes (its assertions abort the
/// process on some malformed headers) costs that file only, not the run that scans thousands.
///
/// Files go to a child (`worker`, e.g. `taco prep scan-worker`) in chunks; a chunk whose child dies is split
/// in halves and rescanned until the file that kills it is alone, which then comes back unreadable with the
/// signal named. Header values travel on the child's standard output only (they hold patient data).
///
/// ```swift
/// let scan = IsolatedHeaderScan(worker: ["/usr/local/bin/taco", "prep", "scan-worker"])
/// let headers = try scan.scan(files, tags: [.seriesInstanceUID])
/// ```
public struct IsolatedHeaderScan: Sendable {
    /// The child's command; it reads a request on standard input and answers with ``serve(_:)``.
    public let worker: [String]
    /// Files per child.
    public var chunk: Int

    /// The child's answer line starts with this.
    public static let outcomePrefix = "TACO-SCAN-OUTCOME "

    public init(worker: [String], chunk: Int = 4096) {
        self.worker = worker
        self.chunk = max(1, chunk)
    }

    struct Request: Codable {
        var files: [String]
        /// (group, element) of each tag.
        var tags: [[UInt16]]
    }

    struct Reply: Codable {
        var failures: [String?]
        /// Per file, per tag: the value or nil.
        var values: [[String?]]
    }

    /// Headers of `files` in their order, as ``DICOMHeaderScan/scan(_:tags:)`` gives them. Throws only when
    /// no child can be started or a child answers what cannot be read (not for any file's contents).
    public func scan(_ files: [URL], tags: [DICOMTag]) throws -> [DICOMHeader] {
        var headers: [DICOMHeader] = []
        headers.reserveCapacity(files.count)
        for start in stride(from: 0, to: files.count, by: chunk) {
            headers += try scanIsolated(Array(files[start..<min(files.count, start + chunk)]), tags: tags)
        }
        return headers
    }

    private func scanIsolated(_ files: [URL], tags: [DICOMTag]) throws -> [DICOMHeader] {
        guard !files.isEmpty else { return [] }
        let request = Request(files: files.map(\.path), tags: tags.map { [$0.group, $0.element] })
        let ending = WorkerProcess(command: worker, outcomePrefix: Self.outcomePrefix).run(input: try JSONEncoder().encode(request))
        switch ending {
        case .outcome(let line):
            let reply = try JSONDecoder().decode(Reply.self, from: line)
            guard reply.failures.count == files.count, reply.values.count == files.count else {
                throw HeaderScanError(description: "the header-scan worker answered for \(reply.failures.count) of \(files.count) files")
            }
            return files.indices.map { i in
                var values: [DICOMTag: String] = [:]
                for (j, tag) in tags.enumerated() where j < reply.values[i].count { if let v = reply.values[i][j] { values[tag] = v } }
                return DICOMHeader(url: files[i], failure: reply.failures[i], values: values)
            }
        case .notStarted(let reason):
            throw HeaderScanError(description: "the header scan could not start its worker: \(reason)")
        case .signal, .noOutcome:
            guard files.count > 1 else {
                return [DICOMHeader(url: files[0], failure: "the DICOM reader crashed on this file (" + ending.failureReason(while: "reading its header") + ")", values: [:])]
            }
            let half = files.count / 2
            return try scanIsolated(Array(files[..<half]), tags: tags) + scanIsolated(Array(files[half...]), tags: tags)
        }
    }

    /// The child's side: scans the request's files in this process and returns the answer line's payload.
    public static func serve(_ request: Data) throws -> Data {
        let request = try JSONDecoder().decode(Request.self, from: request)
        let tags = request.tags.map { DICOMTag($0[0], $0[1]) }
        let headers = try DICOMHeaderScan.scan(request.files.map { URL(fileURLWithPath: $0) }, tags: tags)
        return try JSONEncoder().encode(Reply(failures: headers.map(\.failure), values: headers.map { h in tags.map { h[$0] } }))
    }
}

/// Why an isolated header scan could not be done at all.
public struct HeaderScanError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// Where DICOM headers are scanned: in this process (fast to start; for tests and trusted files) or in
/// child processes (``IsolatedHeaderScan``; for whatever a user's export holds).
public enum DICOMHeaderScanner: Sendable {
    case inProcess
    case isolated(IsolatedHeaderScan)

    public func scan(_ files: [URL], tags: [DICOMTag]) throws -> [DICOMHeader] {
        switch self {
        case .inProcess: return try DICOMHeaderScan.scan(files, tags: tags)
        case .isolated(let scan): return try scan.scan(files, tags: tags)
        }
    }
}
