import ArgumentParser
import Foundation
import Imaging
import TacoCore

/// The options `taco prep` and `taco correspond` share: workers at once, redoing, this job's part of a
/// split run, and how progress is shown.
struct BatchOptions: ParsableArguments {
    @Option(name: .long, help: "Sessions (prep) or subjects (correspond) processed at once, each in its own worker process.")
    var jobs: Int = max(1, ProcessInfo.processInfo.activeProcessorCount / 2)

    @Flag(name: .long, help: "Redo what is up to date.")
    var force = false

    @Option(name: .long, help: "This job's part, 0-based (with --shard-count).")
    var shardIndex: Int = 0

    @Option(name: .long, help: "Number of parts the work is split into (then run the command's `merge`).")
    var shardCount: Int = 1

    @Option(name: .long, help: "auto (a bar on a terminal, else plain lines), bar, plain or json.")
    var progress: ProgressStyle = .auto

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
        guard shardCount >= 1, (0..<shardCount).contains(shardIndex) else {
            throw ValidationError("--shard-index must lie in 0..<--shard-count (got \(shardIndex) of \(shardCount))")
        }
    }

    /// ITK threads for each worker: the cores shared among the jobs.
    var threadsPerWorker: Int { max(1, ProcessInfo.processInfo.activeProcessorCount / jobs) }

    /// The batch these options describe, its workers running `taco <worker...>`.
    func settings(worker arguments: String...) -> BatchSettings {
        BatchSettings(index: shardIndex, count: shardCount, jobs: jobs, force: force,
                      worker: Self.executable(arguments: arguments), threadsPerWorker: threadsPerWorker)
    }

    /// This taco binary with `arguments`: the command of a worker process.
    static func executable(arguments: String...) -> [String] { executable(arguments: arguments) }

    static func executable(arguments: [String]) -> [String] {
        [URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path] + arguments
    }
}

extension Modality: ExpressibleByArgument {}
