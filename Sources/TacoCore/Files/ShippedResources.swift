import Foundation

/// Where the files TacoKit ships beside its code are found: the bundled atlases (`atlases/`) and the
/// classification rules (`rules/classification.yaml`), wherever the `taco` binary was built, installed or
/// copied to.
///
/// Looked for, in order:
/// 1. `$TACO_ATLASES` (a folder of atlases) and `$TACO_RULES` (a rules file), when set;
/// 2. `share/taco/` beside the running executable's folder (`make install` puts them in `PREFIX/share/taco`);
/// 3. the source tree the binary was built from, recorded at build time (any `--scratch-path`, a binary
///    copied elsewhere on the same machine).
public enum ShippedResources {
    /// The source tree this module was compiled from (this file is `Sources/TacoCore/Files/ShippedResources.swift`).
    static let sourceTree = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The running executable, links resolved (`/proc/self/exe`; argv[0] where that is unavailable).
    static var executable: URL {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return URL(fileURLWithPath: path) }
        return URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath()
    }

    /// Folders that may hold the shipped `atlases/` and `rules/`, in the order they are tried.
    public static var shareFolders: [URL] {
        let installed = executable.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("share/taco")
        return [installed, sourceTree]
    }

    /// Folders in which a bundled atlas is looked for by name, in order.
    public static var atlasFolders: [URL] {
        let environment = ProcessInfo.processInfo.environment["TACO_ATLASES"].map { [URL(fileURLWithPath: $0)] } ?? []
        return environment + shareFolders.map { $0.appendingPathComponent("atlases") }
    }

    /// Files that may be the shipped classification rules, in order.
    public static var rulesCandidates: [URL] {
        let environment = ProcessInfo.processInfo.environment["TACO_RULES"].map { [URL(fileURLWithPath: $0)] } ?? []
        return environment + shareFolders.map { $0.appendingPathComponent("rules/classification.yaml") }
    }

    /// The shipped classification rules; fails naming every place looked at.
    public static func rules() throws -> URL {
        let candidates = rulesCandidates
        guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0.path) }) else {
            throw ShippedResourceError(description: "the shipped classification rules (rules/classification.yaml) were not found; looked at "
                                       + candidates.map(\.path).joined(separator: ", ") + ". Pass --rules FILE or set TACO_RULES.")
        }
        return found
    }
}

/// A shipped file that could not be found.
public struct ShippedResourceError: Error, Sendable, CustomStringConvertible {
    public let description: String
}
