import Foundation

/// Everything needed to continue a run exactly: the weights (under the PyTorch
/// names of python/taco_model.py), AdamW's moments (`optimizer.exp_avg.<name>`, `optimizer.exp_avg_sq.<name>`),
/// and in the metadata the step, the stream's position, the non-finite counter and the configuration.
public struct TrainingCheckpoint: Sendable, Equatable {
    public static let format = "taco-checkpoint/1"

    public var parameters: ParameterSet<Float>
    public var optimizer: AdamW
    /// Steps completed.
    public var step: Int
    /// The stream's next batch.
    public var stream: StreamState
    /// Consecutive skipped (non-finite) steps so far, and all skipped steps.
    public var consecutiveSkipped: Int
    public var skipped: Int
    public var configuration: TrainingConfiguration

    public init(parameters: ParameterSet<Float>, optimizer: AdamW, step: Int, stream: StreamState, consecutiveSkipped: Int, skipped: Int,
                configuration: TrainingConfiguration) {
        self.parameters = parameters
        self.optimizer = optimizer
        self.step = step
        self.stream = stream
        self.consecutiveSkipped = consecutiveSkipped
        self.skipped = skipped
        self.configuration = configuration
    }

    /// The checkpoint as a safetensors file.
    public func safeTensors() -> SafeTensors {
        var tensors: [SafeTensors.Tensor] = []
        for i in parameters.names.indices {
            tensors.append(.init(name: parameters.names[i], shape: parameters.shapes[i], values: parameters.tensors[i]))
        }
        for i in parameters.names.indices {
            tensors.append(.init(name: "optimizer.exp_avg.\(parameters.names[i])", shape: parameters.shapes[i], values: optimizer.firstMoments[i]))
            tensors.append(.init(name: "optimizer.exp_avg_sq.\(parameters.names[i])", shape: parameters.shapes[i], values: optimizer.secondMoments[i]))
        }
        return SafeTensors(tensors: tensors, metadata: [
            "format": Self.format, "step": String(step), "optimizer_steps": String(optimizer.steps),
            "stream_epoch": String(stream.epoch), "stream_batch": String(stream.batch),
            "consecutive_skipped": String(consecutiveSkipped), "skipped": String(skipped),
            "configuration": configuration.json(),
        ])
    }

    /// Only the weights, with the configuration (what `taco embed`, `taco probe` and PyTorch need).
    public func weights() -> SafeTensors {
        var file = safeTensors()
        file.tensors.removeAll { $0.name.hasPrefix("optimizer.") }
        file.metadata = ["format": "taco-weights/1", "step": String(step), "configuration": configuration.json()]
        return file
    }

    /// Reads a checkpoint written by ``safeTensors()``; problems name the file.
    public init(contentsOf url: URL) throws {
        let file = try SafeTensors(contentsOf: url)
        func meta(_ key: String) throws -> String {
            guard let value = file.metadata[key] else { throw SafeTensorsError(url, "is not a TacoKit checkpoint (no '\(key)' in its metadata)") }
            return value
        }
        guard try meta("format") == Self.format else { throw SafeTensorsError(url, "is not a TacoKit checkpoint (format \(file.metadata["format"] ?? ""))") }
        func integer(_ key: String) throws -> Int {
            guard let value = Int(try meta(key)) else { throw SafeTensorsError(url, "metadata '\(key)' is not a number") }
            return value
        }
        configuration = try Self.configuration(in: file, url: url)
        parameters = try Self.parameters(in: file, configuration: configuration, url: url)
        var first: [[Float]] = [], second: [[Float]] = []
        for name in parameters.names {
            guard let m = file.tensor("optimizer.exp_avg.\(name)"), let v = file.tensor("optimizer.exp_avg_sq.\(name)") else {
                throw SafeTensorsError(url, "has no optimiser state for \(name)")
            }
            first.append(m.values)
            second.append(v.values)
        }
        optimizer = AdamW(restoring: first, secondMoments: second, steps: try integer("optimizer_steps"), weightDecay: configuration.weightDecay)
        step = try integer("step")
        stream = StreamState(epoch: try integer("stream_epoch"), batch: try integer("stream_batch"))
        consecutiveSkipped = try integer("consecutive_skipped")
        skipped = try integer("skipped")
    }

    /// The configuration stored in a checkpoint or weights file.
    static func configuration(in file: SafeTensors, url: URL) throws -> TrainingConfiguration {
        guard let json = file.metadata["configuration"],
              let configuration = try? JSONDecoder().decode(TrainingConfiguration.self, from: Data(json.utf8)) else {
            throw SafeTensorsError(url, "has no TacoKit configuration in its metadata")
        }
        // pretrain.py names another architecture (MONAI's SwinUNETR) in model.architecture; TacoKit's own has none.
        let tree = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        if let architecture = (tree?["model"] as? [String: Any])?["architecture"] as? String, architecture != "taco" {
            throw SafeTensorsError(url, "holds a \(architecture) model (pretrain.py --model \(architecture)); taco embed and taco probe read "
                + "TacoKit's encoder-decoder only: embed it in PyTorch")
        }
        return configuration
    }

    /// The model's parameters from a checkpoint or weights file, checked against the model's names and shapes.
    static func parameters(in file: SafeTensors, configuration: TrainingConfiguration, url: URL) throws -> ParameterSet<Float> {
        let model: EncoderDecoder
        do { model = try EncoderDecoder(configuration.model) } catch { throw SafeTensorsError(url, "describes an unusable model: \(error)") }
        var parameters = model.layout
        for i in parameters.names.indices {
            guard let t = file.tensor(parameters.names[i]) else {
                if let dtype = file.otherTypes[parameters.names[i]] { throw SafeTensorsError(url, "tensor \(parameters.names[i]): dtype \(dtype) (TacoKit reads F32)") }
                throw SafeTensorsError(url, "has no tensor \(parameters.names[i])")
            }
            guard t.shape == parameters.shapes[i] else {
                throw SafeTensorsError(url, "tensor \(t.name) has shape \(t.shape), the model needs \(parameters.shapes[i])")
            }
            parameters.tensors[i] = t.values
        }
        return parameters
    }
}

/// A trained (or initial) model read from a checkpoint or a weights file: what `taco embed` and `taco probe` use.
public struct TrainedModel: Sendable {
    public let model: EncoderDecoder
    public let parameters: ParameterSet<Float>
    public let configuration: TrainingConfiguration
    /// Steps it was trained for.
    public let step: Int

    public init(model: EncoderDecoder, parameters: ParameterSet<Float>, configuration: TrainingConfiguration, step: Int) {
        self.model = model
        self.parameters = parameters
        self.configuration = configuration
        self.step = step
    }

    /// Reads `RUN/model.safetensors`, a checkpoint, or a run folder (its model.safetensors, else its latest checkpoint).
    public init(contentsOf url: URL) throws {
        var isFolder: ObjCBool = false
        var file = url
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder), isFolder.boolValue {
            let layout = RunLayout(folder: url)
            if FileManager.default.fileExists(atPath: layout.weights.path) {
                file = layout.weights
            } else if let latest = try layout.latestCheckpoint() {
                file = latest
            } else {
                throw SafeTensorsError(url, "is a folder without model.safetensors or checkpoints/")
            }
        }
        let tensors = try SafeTensors(contentsOf: file)
        configuration = try TrainingCheckpoint.configuration(in: tensors, url: file)
        parameters = try TrainingCheckpoint.parameters(in: tensors, configuration: configuration, url: file)
        model = try EncoderDecoder(configuration.model)
        step = Int(tensors.metadata["step"] ?? "") ?? 0
    }

    /// The untrained model a run with `configuration` starts from.
    public static func initial(_ configuration: TrainingConfiguration) throws -> TrainedModel {
        let model = try EncoderDecoder(configuration.model)
        return TrainedModel(model: model, parameters: model.initialParameters(seed: configuration.seed), configuration: configuration, step: 0)
    }
}
