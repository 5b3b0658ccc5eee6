import Foundation
import Testing

/// libTacoTrain.so as a PyTorch trainer loads it: through ctypes from Python (python/taco_plugin.py), checked
/// by plugin_check.py against numpy loops of the losses and h5py's own reading of the crops.
@Suite struct PluginTests {
    static let python: String? = ProcessInfo.processInfo.environment["TACO_PYTHON"]

    /// The library beside the test bundle (`make test` builds the TacoTrain product into the same folder).
    static var library: URL {
        let executable = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
        for folder in [executable.deletingLastPathComponent(), executable.deletingLastPathComponent().deletingLastPathComponent()] {
            let candidate = folder.appendingPathComponent("libTacoTrain.so")
            if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
        }
        return executable.deletingLastPathComponent().appendingPathComponent("libTacoTrain.so")
    }

    @Test(.enabled(if: PluginTests.python != nil, "needs TACO_PYTHON with numpy and h5py (make test sets it)"))
    func pythonStreamsBatchesAndEvaluatesTheLossesThroughTheCInterface() throws {
        #expect(FileManager.default.fileExists(atPath: Self.library.path), "\(Self.library.path): build the TacoTrain product first (make test does)")
        let shards = try SyntheticShards(count: 5, perShard: 3)
        defer { shards.remove() }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("plugin_check.py")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.python!)
        process.arguments = [script.path, Self.library.path, shards.folder.path]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0 && String(decoding: o, as: UTF8.self).contains("ok"),
                "\(String(decoding: o, as: UTF8.self))\n\(String(decoding: e, as: UTF8.self))")
    }
}
