/// The shape of the encoder-decoder; stored in every checkpoint.
public struct ModelConfiguration: Sendable, Equatable, Codable {
    /// Channels of each encoder stage; stage s runs at stride 2^s.
    public var channels: [Int]
    /// Residual blocks per stage.
    public var blocksPerStage: Int
    /// Group normalisation groups (at most the channels of a stage; channels == groups is instance normalisation).
    public var groups: Int
    /// The stage whose features are the tokens (the last by default: stride 8 for four stages).
    public var tokenStage: Int
    /// Negative slope of the LeakyReLU activations.
    public var slope: Double
    /// Input channels (one modality per view).
    public var inputChannels: Int

    public init(channels: [Int] = [16, 32, 64, 128], blocksPerStage: Int = 1, groups: Int = 8, tokenStage: Int? = nil,
                slope: Double = 0.01, inputChannels: Int = 1) {
        self.channels = channels
        self.blocksPerStage = blocksPerStage
        self.groups = groups
        self.tokenStage = tokenStage ?? channels.count - 1
        self.slope = slope
        self.inputChannels = inputChannels
    }

    /// Voxels per token along each axis.
    public var tokenStride: Int { 1 << tokenStage }

    /// Input sizes must be a multiple of this along every axis (the deepest stage's stride).
    public var sizeMultiple: Int { 1 << (channels.count - 1) }

    /// Token feature channels.
    public var tokenChannels: Int { channels[tokenStage] }

    /// Groups used by a layer of `channels` channels.
    func groups(for channels: Int) -> Int { min(groups, channels) }

    public func validate() throws {
        guard !channels.isEmpty, channels.allSatisfy({ $0 > 0 }) else { throw ConfigurationError("model.channels: at least one stage, every count positive") }
        guard blocksPerStage >= 0 else { throw ConfigurationError("model.blocks_per_stage: at least 0") }
        guard groups > 0, channels.allSatisfy({ $0 % min(groups, $0) == 0 }) else {
            throw ConfigurationError("model.groups: \(groups) does not divide every stage's channels \(channels)")
        }
        guard channels.indices.contains(tokenStage) else { throw ConfigurationError("model.token_stage: \(tokenStage) is not a stage (0...\(channels.count - 1))") }
        guard slope >= 0, slope < 1 else { throw ConfigurationError("model.slope: in [0, 1)") }
        guard inputChannels > 0 else { throw ConfigurationError("model.input_channels: at least 1") }
    }

    enum CodingKeys: String, CodingKey {
        case channels, groups, slope
        case blocksPerStage = "blocks_per_stage"
        case tokenStage = "token_stage"
        case inputChannels = "input_channels"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = ModelConfiguration()
        channels = try c.decodeIfPresent([Int].self, forKey: .channels) ?? defaults.channels
        blocksPerStage = try c.decodeIfPresent(Int.self, forKey: .blocksPerStage) ?? defaults.blocksPerStage
        groups = try c.decodeIfPresent(Int.self, forKey: .groups) ?? defaults.groups
        tokenStage = try c.decodeIfPresent(Int.self, forKey: .tokenStage) ?? channels.count - 1
        slope = try c.decodeIfPresent(Double.self, forKey: .slope) ?? defaults.slope
        inputChannels = try c.decodeIfPresent(Int.self, forKey: .inputChannels) ?? defaults.inputChannels
    }
}

/// A configuration value that cannot be used; the message names the key.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
