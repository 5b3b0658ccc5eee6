import Foundation
import Imaging

/// The built `taco` binary, run as a user runs it: its output and exit status.
enum TacoProcess {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The `taco` binary beside the test bundle (SwiftPM builds both into one products folder).
    static var binary: URL {
        var folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = folder.appendingPathComponent("taco")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            folder.deleteLastPathComponent()
        }
        return root.appendingPathComponent(".build/debug/taco")
    }

    /// Runs `taco arguments...`, optionally calling `whileRunning` with the process once started.
    static func run(_ arguments: [String], whileRunning: ((Process) -> Void)? = nil) throws -> (status: Int32, out: String, err: String) {
        try runTool(binary.path, arguments, whileRunning: whileRunning)
    }

    /// Runs `taco arguments...` as the unprivileged user `uid` (through util-linux's setpriv), so that file
    /// permissions apply as they do for a user.
    static func runAs(user uid: Int, _ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        try runTool("/usr/bin/setpriv", ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", binary.path] + arguments)
    }

    /// Runs a program with `arguments` (in `folder`, with `environment`, when given), optionally calling
    /// `whileRunning` with the process once started.
    static func runTool(_ executable: String, _ arguments: [String], in folder: URL? = nil, environment: [String: String]? = nil,
                        whileRunning: ((Process) -> Void)? = nil) throws -> (status: Int32, out: String, err: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let folder { process.currentDirectoryURL = folder }
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let errors = PipeReader(err.fileHandleForReading)
        whileRunning?(process)
        let o = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: errors.wait(), as: UTF8.self))
    }
}
