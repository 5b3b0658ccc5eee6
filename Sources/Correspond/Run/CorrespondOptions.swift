import Foundation
import Shards

/// The settings of a `taco correspond` run. Everything except `shardSizeBytes` changes what a subject's
/// map holds, so it enters ``configuration`` and each subject's fingerprint.
public struct CorrespondOptions: Sendable, Codable, Equatable {
    /// A bundled atlas name or an atlas folder.
    public var atlas = "mni152-2009a-sym"
    public var tokenStride = 4
    public var affineResolution = 2.0
    /// The deformable grid, mm (nil: the method's default, greedy 1 mm, syn-itk 2 mm).
    public var deformableResolution: Double? = nil
    /// The deformable registration: TacoKit's greedy one (default) or ITK's SyN.
    public var deformableMethod = AtlasMapping.DeformableMethod.greedy
    /// Iterations per level, coarse first (nil: the method's default).
    public var deformableIterations: [Int]? = nil
    /// The total field's smoothing variance of SyN (voxels^2).
    public var deformableSmoothing = 3.0
    /// SyN's metric (the greedy registration always uses cross-correlation).
    public var deformableMetric = DeformableMetric.cc
    /// How images are stored in the shards: `gzip` (default) or `none` (larger files, faster crops).
    public var imageCompression = ShardFormat.ImageCompression.gzip
    /// Target size of a shard file: subjects are added to a shard until the next would take it past this.
    public var shardSizeBytes = 1 << 30

    public init() {}

    /// The deformable stage's similarity metric.
    public enum DeformableMetric: String, Sendable, Codable, CaseIterable {
        /// Neighbourhood cross-correlation, radius 2.
        case cc
        /// Mattes mutual information, 32 bins.
        case mi
    }

    /// The registration these options describe.
    public var mapping: AtlasMapping {
        var m = AtlasMapping()
        m.tokenStride = tokenStride
        m.affineResolution = affineResolution
        m.deformableResolution = deformableResolution
        m.deformableMethod = deformableMethod
        m.deformableIterations = deformableIterations
        m.deformableSmoothing = deformableSmoothing
        switch deformableMetric {
        case .mi: m.deformableMetric = .mutualInformation(bins: 32)
        case .cc: m.deformableMetric = .crossCorrelation(radius: 2)
        }
        return m
    }

    /// Fails with the option and the reason for a value that cannot work.
    public func validate() throws {
        func fail(_ message: String) -> CorrespondFailure { CorrespondFailure(message) }
        guard tokenStride >= 1 else { throw fail("--token-stride must be at least 1") }
        guard affineResolution > 0, (deformableResolution ?? 1) > 0 else { throw fail("registration resolutions must be positive") }
        if let iterations = deformableIterations {
            guard (1...6).contains(iterations.count), iterations.allSatisfy({ $0 >= 0 }) else {
                throw fail("--deformable-iterations needs 1 to 6 counts, coarse level first, e.g. 100,60,30,10")
            }
        }
        if deformableMethod == .greedy, deformableMetric != .cc {
            throw fail("--deformable-metric \(deformableMetric.rawValue) needs --deformable syn-itk (the greedy registration uses cross-correlation)")
        }
        guard deformableSmoothing >= 0 else { throw fail("--deformable-smoothing must not be negative") }
        guard shardSizeBytes > 0 else { throw fail("--shard-size must be positive") }
    }

    /// What the maps depend on (with the atlas's name as resolved and the TacoKit version), recorded in
    /// every part and in dataset.json.
    public func configuration(atlasName: String, version: String) -> [String: String] {
        [
            "atlas": atlasName,
            "token_stride": String(tokenStride),
            "affine_resolution_mm": String(affineResolution),
            "deformable_resolution_mm": String(deformableResolution ?? deformableMethod.defaultResolution),
            "deformable_method": deformableMethod.rawValue,
            "deformable_iterations": (deformableIterations ?? deformableMethod.defaultIterations).map(String.init).joined(separator: ","),
            "deformable_smoothing": String(deformableSmoothing),
            "deformable_metric": deformableMetric.rawValue,
            "image_compression": imageCompression.rawValue,
            "taco_version": version,
        ]
    }

    /// Parses a size such as `1GiB`, `500MB`, `64MiB`, `2G` or a number of bytes.
    public static func parseSize(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [("GiB", 1_073_741_824), ("MiB", 1_048_576), ("KiB", 1024), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3),
                                         ("G", 1_073_741_824), ("M", 1_048_576), ("K", 1024), ("B", 1)]
        for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
            guard let value = Double(trimmed.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), value > 0 else { return nil }
            return Int(value * factor)
        }
        return Int(trimmed).flatMap { $0 > 0 ? $0 : nil }
    }
}

/// A failure of a correspond run (plan, pack, merge) with the file and the reason.
public struct CorrespondFailure: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
