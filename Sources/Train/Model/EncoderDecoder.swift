import TacoCore

/// The 3D convolutional encoder-decoder of `taco train`.
///
/// Encoder: a stem (3^3 convolution, group norm, LeakyReLU) at full resolution, then one stage per entry of
/// `channels`; stage s > 0 starts with a stride-2 3^3 convolution, and every stage has `blocksPerStage`
/// residual blocks (conv-norm-act-conv-norm, plus the block's input, act). The token features are the
/// output of stage `tokenStage`. Decoder (reconstruction only): from the deepest stage, a stride-2
/// transposed convolution + norm + act per stage back to full resolution, and a 1^3 convolution to the
/// input's channels. Python's twin: python/taco_model.py (same parameter names and shapes).
///
/// The network is a list of nodes (an operation and the nodes it reads); ``forward(_:parameters:)`` keeps
/// every node's output for ``backward(_:tokenGradient:outputGradient:parameters:)``.
public struct EncoderDecoder: Sendable {
    public let configuration: ModelConfiguration

    /// One step of the network.
    public enum Operation: Sendable, Equatable {
        case convolution(Convolution3D)
        case transposedConvolution(TransposedConvolution3D)
        case normalisation(GroupNormalization)
        case activation(LeakyReLU)
        case add
    }

    /// An operation and the nodes whose outputs it reads (-1: the network's input).
    public struct Node: Sendable, Equatable {
        public let operation: Operation
        public let inputs: [Int]
    }

    public private(set) var nodes: [Node] = []
    /// The node whose output is the token features, and the decoder's last node.
    public private(set) var tokenNode = 0
    public private(set) var outputNode = 0
    /// Names and shapes of the parameters (values all 0: use ``initialParameters(seed:)``).
    public private(set) var layout = ParameterSet<Float>()

    public init(_ configuration: ModelConfiguration) throws {
        try configuration.validate()
        self.configuration = configuration
        let slope = LeakyReLU(slope: configuration.slope)
        var last = -1
        func append(_ operation: Operation, _ inputs: [Int]) -> Int {
            nodes.append(Node(operation: operation, inputs: inputs))
            return nodes.count - 1
        }
        func convolution(_ name: String, _ from: Int, _ to: Int, kernel: Int, stride: Int = 1, bias: Bool = false) {
            let w = layout.add("\(name).weight", shape: [to, from, kernel, kernel, kernel], values: [Float](repeating: 0, count: to * from * kernel * kernel * kernel))
            let b = bias ? layout.add("\(name).bias", shape: [to], values: [Float](repeating: 0, count: to)) : nil
            last = append(.convolution(Convolution3D(inputChannels: from, outputChannels: to, kernel: kernel, stride: stride,
                                                     padding: kernel / 2, weight: w, bias: b)), [last])
        }
        func normalise(_ name: String, _ channels: Int, activate: Bool = true) {
            let scale = layout.add("\(name).weight", shape: [channels], values: [Float](repeating: 0, count: channels))
            let shift = layout.add("\(name).bias", shape: [channels], values: [Float](repeating: 0, count: channels))
            last = append(.normalisation(GroupNormalization(channels: channels, groups: configuration.groups(for: channels), scale: scale, shift: shift)), [last])
            if activate { last = append(.activation(slope), [last]) }
        }
        let c = configuration.channels
        convolution("encoder.stem.conv", configuration.inputChannels, c[0], kernel: 3)
        normalise("encoder.stem.norm", c[0])
        var stageOutputs: [Int] = []
        for s in c.indices {
            if s > 0 {
                convolution("encoder.stages.\(s).down.conv", c[s - 1], c[s], kernel: 3, stride: 2)
                normalise("encoder.stages.\(s).down.norm", c[s])
            }
            for b in 0..<configuration.blocksPerStage {
                let blockInput = last, prefix = "encoder.stages.\(s).blocks.\(b)"
                convolution("\(prefix).conv1", c[s], c[s], kernel: 3)
                normalise("\(prefix).norm1", c[s])
                convolution("\(prefix).conv2", c[s], c[s], kernel: 3)
                normalise("\(prefix).norm2", c[s], activate: false)
                last = append(.add, [last, blockInput])
                last = append(.activation(slope), [last])
            }
            stageOutputs.append(last)
        }
        tokenNode = stageOutputs[configuration.tokenStage]
        for (j, s) in c.indices.dropFirst().reversed().enumerated() {
            let w = layout.add("decoder.ups.\(j).conv.weight", shape: [c[s], c[s - 1], 2, 2, 2], values: [Float](repeating: 0, count: c[s] * c[s - 1] * 8))
            last = append(.transposedConvolution(TransposedConvolution3D(inputChannels: c[s], outputChannels: c[s - 1], weight: w)), [last])
            normalise("decoder.ups.\(j).norm", c[s - 1])
        }
        convolution("decoder.head", c[0], configuration.inputChannels, kernel: 1, bias: true)
        outputNode = last
    }

    /// Parameters drawn from a seeded generator: convolutions He-normal for LeakyReLU (fan-in), the head
    /// with variance 1/fan-in, normalisation scale 1 and shift 0.
    public func initialParameters(seed: UInt64) -> ParameterSet<Float> {
        var parameters = layout
        var rng = SeededGenerator(seed: seed)
        let gain = 2 / (1 + configuration.slope * configuration.slope)
        for i in parameters.names.indices {
            let name = parameters.names[i], shape = parameters.shapes[i]
            if name.hasSuffix(".bias") || name.contains("norm") {
                let one = name.contains("norm") && name.hasSuffix(".weight")
                parameters.tensors[i] = [Float](repeating: one ? 1 : 0, count: parameters.tensors[i].count)
                continue
            }
            // Convolution (out, in, k, k, k): fan-in in * k^3; transposed (in, out, 2, 2, 2): each output sums `in` inputs.
            let transposed = name.hasPrefix("decoder.ups")
            let fanIn = transposed ? shape[0] : shape[1...].reduce(1, *)
            let std = ((name.hasPrefix("decoder.head") ? 1 : gain) / Double(fanIn)).squareRoot()
            parameters.tensors[i] = (0..<parameters.tensors[i].count).map { _ in Float(rng.gaussian() * std) }
        }
        return parameters
    }

    /// Every node's output for `input` (channels must be the configuration's input channels; each axis a
    /// multiple of ``ModelConfiguration/sizeMultiple``), up to `lastNode`. Without `keepingAll` (inference),
    /// an output is released once the nodes that read it have run; only `lastNode`'s is kept.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func forward<Scalar: BLASScalar>(_ input: FeatureMap<Scalar>, parameters: ParameterSet<Scalar>, through lastNode: Int? = nil,
                                            keepingAll: Bool = true) throws -> Activations<Scalar> {
        let m = configuration.sizeMultiple
        guard input.channels == configuration.inputChannels else { throw ConfigurationError("the model takes \(configuration.inputChannels) input channel(s), not \(input.channels)") }
        guard input.size.x % m == 0, input.size.y % m == 0, input.size.z % m == 0, input.size.min() >= m else {
            throw ConfigurationError("an input of \(input.size.x) x \(input.size.y) x \(input.size.z) voxels: each axis must be a positive multiple of \(m)")
        }
        var outputs: [FeatureMap<Scalar>?] = []
        let end = lastNode ?? nodes.count - 1
        var lastReader = [Int](repeating: end, count: nodes.count)
        if !keepingAll {
            for (index, node) in nodes[0...end].enumerated() { for i in node.inputs where i >= 0 { lastReader[i] = index } }
        }
        for (index, node) in nodes[0...end].enumerated() {
            let x = node.inputs[0] < 0 ? input : outputs[node.inputs[0]]!
            let y: FeatureMap<Scalar>
            switch node.operation {
            case .convolution(let layer): y = layer.forward(x, parameters: parameters)
            case .transposedConvolution(let layer): y = layer.forward(x, parameters: parameters)
            case .normalisation(let layer): y = layer.forward(x, parameters: parameters)
            case .activation(let layer): y = layer.forward(x)
            case .add:
                var sum = x
                let other = outputs[node.inputs[1]]!
                for i in sum.values.indices { sum.values[i] += other.values[i] }
                y = sum
            }
            outputs.append(y)
            if !keepingAll { for i in node.inputs where i >= 0 && lastReader[i] == index && i != end { outputs[i] = nil } }
        }
        return Activations(input: input, outputs: outputs)
    }

    /// Every node's output of one forward pass.
    public struct Activations<Scalar: BLASScalar>: Sendable {
        public let input: FeatureMap<Scalar>
        var outputs: [FeatureMap<Scalar>?]
        public func output(of node: Int) -> FeatureMap<Scalar> { outputs[node]! }
    }

    /// The parameters' gradients, given dL/d(tokens) and dL/d(reconstruction) (either may be nil).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func backward<Scalar: BLASScalar>(_ activations: Activations<Scalar>, tokenGradient: FeatureMap<Scalar>?, outputGradient: FeatureMap<Scalar>?,
                                             parameters: ParameterSet<Scalar>) -> ParameterSet<Scalar> {
        var outputs = activations.outputs
        var gradients = parameters.zeros()
        var flowing = [FeatureMap<Scalar>?](repeating: nil, count: outputs.count)
        func accumulate(_ g: FeatureMap<Scalar>, into node: Int) {
            guard node >= 0 else { return }
            if var existing = flowing[node] {
                flowing[node] = nil
                for i in existing.values.indices { existing.values[i] += g.values[i] }
                flowing[node] = existing
            } else {
                flowing[node] = g
            }
        }
        if let tokenGradient { accumulate(tokenGradient, into: tokenNode) }
        if let outputGradient, outputs.count > outputNode { accumulate(outputGradient, into: outputNode) }
        for index in outputs.indices.reversed() {
            guard let dy = flowing[index] else { outputs[index] = nil; continue }
            flowing[index] = nil
            let node = nodes[index]
            let x = node.inputs[0] < 0 ? activations.input : outputs[node.inputs[0]]!
            switch node.operation {
            case .convolution(let layer):
                if let dx = layer.backward(input: x, outputGradient: dy, parameters: parameters, gradients: &gradients, inputGradient: node.inputs[0] >= 0) {
                    accumulate(dx, into: node.inputs[0])
                }
            case .transposedConvolution(let layer):
                accumulate(layer.backward(input: x, outputGradient: dy, parameters: parameters, gradients: &gradients), into: node.inputs[0])
            case .normalisation(let layer):
                accumulate(layer.backward(input: x, outputGradient: dy, parameters: parameters, gradients: &gradients), into: node.inputs[0])
            case .activation(let layer):
                accumulate(layer.backward(input: x, outputGradient: dy), into: node.inputs[0])
            case .add:
                accumulate(dy, into: node.inputs[0])
                accumulate(dy, into: node.inputs[1])
            }
            outputs[index] = nil
        }
        return gradients
    }

    /// Multiply-adds of the convolution layers for one forward pass over `batch` inputs of `size`.
    public func convolutionMultiplyAdds(input size: SIMD3<Int>, batch: Int) -> Double {
        var sizes: [SIMD3<Int>] = []
        var total = 0.0
        for node in nodes {
            let x = node.inputs[0] < 0 ? size : sizes[node.inputs[0]]
            switch node.operation {
            case .convolution(let layer):
                total += layer.multiplyAdds(input: x, batch: batch)
                sizes.append(layer.outputSize(x))
            case .transposedConvolution(let layer):
                total += layer.multiplyAdds(input: x, batch: batch)
                sizes.append(x &* 2)
            default:
                sizes.append(x)
            }
        }
        return total
    }
}
