import ArgumentParser
import Foundation
import TacoCore

/// `taco`: TacoKit's command-line tool.
@main
struct Taco: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "taco",
        abstract: "Topology-aware pre-training data from 3D multi-modal medical images.",
        discussion: "See docs/user-guide.md. Geometry is LPS inside, RAS in NIfTI files. Exit status 2: a usage error.",
        version: TacoVersion.current,
        subcommands: [SynthCommand.self, Inspect.self, PrepCommand.self, CorrespondCommand.self, TrainCommand.self, EmbedCommand.self, ProbeCommand.self, EvaluateCommand.self]
    )

    /// As ArgumentParser's, except that usage errors exit with 2 (the convention of Unix tools) instead of 64.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}

/// The version every output records.
enum TacoVersion {
    static let current = "0.1.0"
}

/// A command that failed: the message names the file and the reason; exit code 1.
struct CommandFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

extension BatchInterrupted {
    /// Says on standard error what was kept, and ends the command as the signal would have (128 + signal).
    func exitCode(_ command: String) -> ExitCode {
        FileHandle.standardError.write(Data("\(command): \(self)\n".utf8))
        return ExitCode(128 + signal)
    }
}
