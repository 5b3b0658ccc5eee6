import Foundation

/// One line of `metrics.jsonl`: a step's loss terms, learning rate, gradient norm, time and throughput.
public struct StepMetrics: Sendable, Equatable, Codable {
    public var step: Int
    public var epoch: Int
    public var loss: Double
    public var reconstruction: Double
    public var intra: Double
    public var inter: Double
    public var learningRate: Double
    /// Global gradient norm before clipping.
    public var gradientNorm: Double
    public var stepSeconds: Double
    /// Crop pairs (subjects) per second over this step, waiting for the stream included.
    public var samplesPerSecond: Double
    /// Ordered subject pairs that gave an inter-instance term (a->b, b->a).
    public var pairsUsed: [Int]
    /// Why the step was skipped (non-finite loss or gradient), if it was.
    public var skipped: String?

    enum CodingKeys: String, CodingKey {
        case step, epoch, loss, reconstruction, intra, inter, skipped
        case learningRate = "learning_rate", gradientNorm = "gradient_norm", stepSeconds = "step_seconds"
        case samplesPerSecond = "samples_per_second", pairsUsed = "pairs_used"
    }
}

/// `metrics.jsonl`: appended and flushed every step, so that a crashed run keeps what it measured; on resume,
/// the lines after the checkpoint's step are dropped (they will be measured again).
public final class MetricsLog {
    public let url: URL
    private let handle: FileHandle
    private let encoder: JSONEncoder

    /// Opens the log, keeping only lines of steps up to `keepingThrough`.
    public init(url: URL, keepingThrough step: Int) throws {
        self.url = url
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = Self.nonFinite
        let kept = Self.read(url).filter { $0.step <= step }
        var text = Data()
        for m in kept { text.append(try encoder.encode(m)); text.append(0x0A) }
        try text.write(to: url, options: .atomic)
        handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
    }

    deinit { try? handle.close() }

    public func append(_ metrics: StepMetrics) throws {
        var line = try encoder.encode(metrics)
        line.append(0x0A)
        try handle.write(contentsOf: line)
    }

    /// The lines of a log (unreadable lines are left out).
    public static func read(_ url: URL) -> [StepMetrics] {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return [] }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return text.split(separator: "\n").compactMap { try? decoder.decode(StepMetrics.self, from: Data($0.utf8)) }
    }

    /// A skipped step's loss or norm is written as the string "nan" or "inf" (JSON has no such numbers).
    static let nonFinite = JSONEncoder.NonConformingFloatEncodingStrategy.convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
}
