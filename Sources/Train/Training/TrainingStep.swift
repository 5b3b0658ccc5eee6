import TacoCore

/// One forward and backward pass of the encoder-decoder on a batch of crop pairs under the total loss of
/// docs/design.md §2: both views of every subject go through the network together (first views, then second
/// views), the token features feed the intra- and inter-instance terms, the decoder's output the
/// reconstruction term.
public struct TrainingStep: Sendable {
    public let model: EncoderDecoder
    public let loss: TopologyLoss

    public init(model: EncoderDecoder, loss: TopologyLoss) {
        self.model = model
        self.loss = loss
    }

    /// The loss terms and the parameters' gradients.
    public struct Outcome: Sendable {
        public var loss: TopologyLoss.Result
        public var gradients: ParameterSet<Float>
    }

    /// The network input of a batch: 2N single-channel crops, first views then second views.
    public static func input(_ samples: [CropPair]) -> FeatureMap<Float> {
        precondition(!samples.isEmpty, "an empty batch")
        let roi = samples[0].roi
        return FeatureMap(channels: 1, batch: 2 * samples.count, size: roi, values: samples.flatMap(\.first) + samples.flatMap(\.second))
    }

    /// Evaluates the loss on `samples` with `pairs`; `rng` draws the losses' negatives.
    public func evaluate(samples: [CropPair], pairs: [SubjectPair], parameters: ParameterSet<Float>, using rng: inout SeededGenerator) throws -> Outcome {
        let n = samples.count
        let input = Self.input(samples)
        let activations = try model.forward(input, parameters: parameters)
        let tokens = activations.output(of: model.tokenNode)
        guard tokens.voxels == samples[0].tokenCount else {
            throw ConfigurationError("the model gives \(tokens.voxels) tokens per crop, the stream \(samples[0].tokenCount): token strides differ")
        }
        let views = (0..<n).map { TopologyLoss.Views(first: tokens.tokens(ofSample: $0), second: tokens.tokens(ofSample: n + $0)) }
        let output = activations.output(of: model.outputNode)
        let result = try loss.evaluate(views: views, pairs: pairs, reconstruction: loss.reconstructionWeight > 0 ? (output.values, input.values) : nil, using: &rng)
        var tokenGradient = FeatureMap<Float>(zeros: tokens.channels, batch: tokens.batch, size: tokens.size)
        for s in 0..<n {
            tokenGradient.setTokens(result.gradients[s].first, ofSample: s)
            tokenGradient.setTokens(result.gradients[s].second, ofSample: n + s)
        }
        let outputGradient = result.reconstructionGradient.isEmpty ? nil
            : FeatureMap(channels: output.channels, batch: output.batch, size: output.size, values: result.reconstructionGradient)
        let gradients = model.backward(activations, tokenGradient: tokenGradient, outputGradient: outputGradient, parameters: parameters)
        return Outcome(loss: result, gradients: gradients)
    }
}
