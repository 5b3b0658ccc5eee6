import Foundation
import Testing
import TacoCore
@testable import Train

/// libTacoTrain.so as a PyTorch trainer loads it: through ctypes from Python (python/tacokit/plugin.py), checked
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
        let result = try Self.runPython("plugin_check.py", [Self.library.path, shards.folder.path])
        #expect(result.status == 0 && result.out.contains("ok"), "\(result.out)\n\(result.err)")
    }

    /// tacokit.torch's losses equal the Swift losses through the plugin, values and autograd gradients, in float64
    /// and float32 (torch_check.py), with the edge cases and the reshape pitfall.
    @Test(.enabled(if: PluginTests.python != nil, "needs TACO_PYTHON with torch and numpy (make test sets it)"))
    func torchLossesEqualTheSwiftLossesThroughThePlugin() throws {
        #expect(FileManager.default.fileExists(atPath: Self.library.path), "\(Self.library.path): build the TacoTrain product first (make test does)")
        let result = try Self.runPython("torch_check.py", [Self.library.path])
        #expect(result.status == 0 && result.out.contains("ok"), "\(result.out)\n\(result.err)")
    }

    /// tacokit.torch.TacoDataset in torch's DataLoader: ranks x workers, worker counts, resume, views (dataset_check.py).
    @Test(.enabled(if: PluginTests.python != nil, "needs TACO_PYTHON with torch, numpy and h5py (make test sets it)"))
    func theTorchDatasetPartitionsResumesAndReadsWhatTheShardHolds() throws {
        let shards = try SyntheticShards(count: 11, perShard: 4)
        defer { shards.remove() }
        let result = try Self.runPython("dataset_check.py", [Self.library.path, shards.folder.path])
        #expect(result.status == 0 && result.out.contains("ok"), "\(result.out)\n\(result.err)")
    }

    /// docs/pytorch.md's example as written: steps of the model with TopologyLoss on the plugin's stream.
    @Test(.enabled(if: PluginTests.python != nil, "needs TACO_PYTHON with torch and numpy (make test sets it)"))
    func theTorchExampleTrainsOnTheStream() throws {
        let shards = try SyntheticShards(count: 4, perShard: 2)
        defer { shards.remove() }
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../python/examples/torch_step.py")
        let result = try Self.runPython(example.standardizedFileURL.path, [shards.folder.path, "2"])
        let steps = result.out.split(separator: "\n").filter { $0.hasPrefix("step ") }
        #expect(result.status == 0 && steps.count == 2 && !result.out.contains("nan"), "\(result.out)\n\(result.err)")
    }

    /// python/examples/pretrain.py under `torchrun --nproc_per_node 2` (pretrain_check.py: identical ranks, finite
    /// losses, stop and resume equal to an uninterrupted run, MONAI's SwinUNETR for a step); then its run as
    /// `taco probe` reads it: the weights give Swift's forward the torch model's tokens, the checkpoint restores
    /// step, optimiser and stream position, the probe scores held-out subjects, and a SwinUNETR run is refused.
    @Test(.enabled(if: PluginTests.python != nil, "needs TACO_PYTHON with torch, safetensors and monai (make test sets it)"))
    func pretrainUnderTorchrunKeepsTheRanksEqualResumesExactlyAndTacoReadsItsRun() throws {
        let shards = try SyntheticShards(count: 6, perShard: 3, size: SIMD3(64, 64, 64))
        defer { shards.remove() }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("taco-pretrain-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let result = try Self.runPython("pretrain_check.py", [Self.library.path, shards.folder.path, folder.path])
        try #require(result.status == 0 && result.out.contains("ok:"), "\(result.out)\n\(result.err)")

        let run = folder.appendingPathComponent("whole")
        let trained = try TrainedModel(contentsOf: run)
        #expect(trained.step == 4 && trained.configuration.model.channels == [8, 16, 32] && trained.configuration.crop == [32, 32, 32])
        func floats(_ name: String) throws -> [Float] {
            let data = try Data(contentsOf: run.appendingPathComponent(name))
            return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        }
        let input = FeatureMap(channels: 1, batch: 2, size: SIMD3(16, 16, 16), values: try floats("probe-input.f32"))
        let tokens = try trained.model.forward(input, parameters: trained.parameters).output(of: trained.model.tokenNode).values
        let expected = try floats("probe-tokens.f32")
        try #require(tokens.count == expected.count)
        let scale = expected.map { abs($0) }.max() ?? 1
        let worst = zip(tokens, expected).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= 1e-4 * scale, "Swift's forward of the torch-trained weights differs from torch's by \(worst) (scale \(scale))")

        let checkpoint = try TrainingCheckpoint(contentsOf: run.appendingPathComponent("checkpoints/step-0000004.safetensors"))
        #expect(checkpoint.step == 4 && checkpoint.optimizer.steps == 4 && checkpoint.skipped == 0 && checkpoint.parameters == trained.parameters)
        #expect(checkpoint.optimizer.secondMoments.allSatisfy { $0.contains { $0 > 0 } })

        let probe = try ProbeRun(shards: shards.folder, heldOut: 2).evaluate(trained, name: "pretrain.py")
        #expect(probe.heldOutTokens > 0 && probe.trainingTokens > 0)

        #expect {
            _ = try TrainedModel(contentsOf: folder.appendingPathComponent("swin"))
        } throws: { "\($0)".contains("swinunetr model") && "\($0)".contains("model.safetensors") }
    }

    /// The wheel of scripts/build_wheel.py in a fresh virtual environment, with the Swift toolchain's libraries out
    /// of reach: ldd resolves them to the wheel's copies, and the package streams and evaluates a loss (wheel_check.py).
    @Test(.enabled(if: PluginTests.python != nil, "needs TACO_PYTHON with pip and setuptools (make test sets it)"))
    func theWheelRunsWithoutTheSwiftToolchain() throws {
        let shards = try SyntheticShards(count: 2, perShard: 2)
        defer { shards.remove() }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("taco-wheel-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let result = try Self.runPython("wheel_check.py", [Self.library.path, shards.folder.path, folder.path])
        #expect(result.status == 0 && result.out.contains("ok:"), "\(result.out)\n\(result.err)")
    }

    /// The plugin runs inside a trainer's process and reads only shards: it must not pull ITK or GDCM in.
    /// `ldd` lists every shared library the loader would map for it, direct and indirect.
    @Test func theLibraryLinksNoITKOrGDCM() throws {
        #expect(FileManager.default.fileExists(atPath: Self.library.path), "\(Self.library.path): build the TacoTrain product first (make test does)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/ldd")
        process.arguments = [Self.library.path]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let listing = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let libraries = listing.split(separator: "\n").compactMap { $0.split(whereSeparator: \.isWhitespace).first.map(String.init) }
        #expect(process.terminationStatus == 0 && libraries.contains("libhdf5_serial.so.103") && libraries.contains("libopenblas.so.0"), "\(listing)")
        let foreign = libraries.filter { $0.hasPrefix("libITK") || $0.hasPrefix("libitk") || $0.hasPrefix("libgdcm") }
        #expect(foreign.isEmpty, "libTacoTrain.so needs \(foreign.joined(separator: ", "))")
    }

    /// Runs a script of this folder (or at an absolute path) with TACO_PYTHON. The test runner's thread has signals
    /// blocked and a child inherits that mask: DataLoader workers would then ignore the SIGTERM that ends them and
    /// the script would wait for them for ever, so the script runs after unblocking them, as from a shell.
    static func runPython(_ script: String, _ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python!)
        let path = script.hasPrefix("/") ? script : URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(script).path
        let unblocked = "import runpy, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); sys.argv = sys.argv[1:]; "
            + "sys.path.insert(0, __import__('os').path.dirname(sys.argv[0])); runpy.run_path(sys.argv[0], run_name='__main__')"
        process.arguments = ["-c", unblocked, path] + arguments
        // The library under test, not whichever build tacokit would find first (a stale release build, say).
        var environment = ProcessInfo.processInfo.environment
        if environment["TACO_TRAIN_LIBRARY"] == nil { environment["TACO_TRAIN_LIBRARY"] = library.path }
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }
}

/// The model file and forward pass against an independent numpy implementation (Tests/TrainTests/model_check.py)
/// that reads the safetensors file by the public format and uses PyTorch's tensor layouts.
@Suite struct ModelInteropTests {
    @Test(.enabled(if: PluginTests.python != nil, "needs TACO_PYTHON with numpy (make test sets it)"))
    func numpyRebuildsTheNetworkFromTheWeightsFileAndAgrees() throws {
        var configuration = TrainingConfiguration()
        configuration.model = ModelConfiguration(channels: [4, 8, 8], blocksPerStage: 1, groups: 2, tokenStage: 1)
        let model = try EncoderDecoder(configuration.model)
        var parameters = model.initialParameters(seed: 4)
        var rng = SeededGenerator(seed: 5)
        // Norm scales and shifts and the head's bias away from 1 and 0, so that their layout is checked too.
        for i in parameters.tensors.indices { for j in parameters.tensors[i].indices { parameters.tensors[i][j] += Float(0.1 * rng.gaussian()) } }
        let n = 2, size = SIMD3(8, 12, 16)
        let input = FeatureMap(channels: 1, batch: n, size: size, values: (0..<(n * size.x * size.y * size.z)).map { _ in Float(rng.gaussian()) })
        let activations = try model.forward(input, parameters: parameters)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("taco-interop-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let checkpoint = TrainingCheckpoint(parameters: parameters, optimizer: AdamW(for: parameters), step: 0, stream: StreamState(),
                                            consecutiveSkipped: 0, skipped: 0, configuration: configuration)
        let weights = folder.appendingPathComponent("model.safetensors")
        try checkpoint.weights().write(to: weights)
        func raw(_ values: [Float], _ name: String) throws -> String {
            let url = folder.appendingPathComponent(name)
            try values.withUnsafeBytes { try Data($0).write(to: url) }
            return url.path
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let result = try PluginTests.runPython("model_check.py", [weights.path, try raw(input.values, "input.f32"),
                                                                    try raw(activations.output(of: model.tokenNode).values, "tokens.f32"),
                                                                    try raw(activations.output(of: model.outputNode).values, "output.f32"),
                                                                    String(n), String(size.z), String(size.y), String(size.x),
                                                                    root.appendingPathComponent("python").path])
        #expect(result.status == 0 && result.out.contains("ok:"), "\(result.out)\n\(result.err)")
    }
}
