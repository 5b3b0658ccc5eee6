import ArgumentParser

/// `taco`: TacoKit's command-line tool.
@main
struct Taco: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "taco",
        abstract: "Topology-aware pre-training data from 3D multi-modal medical images.",
        discussion: "See docs/user-guide.md. Geometry is LPS inside, RAS in NIfTI files.",
        version: TacoVersion.current,
        subcommands: [SynthCommand.self, Inspect.self]
    )
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
