import Foundation
import Imaging

/// Where a correspond run keeps its files inside the output folder (docs/correspond.md):
///
/// ```
/// SHARDS/dataset.json                       the manifest (taco correspond merge)
/// SHARDS/shard-00001.h5                     shards of a one-part run; shard-<i>of<n>-00001.h5 for part i of n
/// SHARDS/parts/part-<i>-of-<n>.json         what part i of n wrote and which subjects failed
/// SHARDS/qc/<key>_atlas.png                 the atlas outline over the subject in atlas space (three mid-slices)
/// SHARDS/qc/<key>_space-atlas_desc-reference.nii.gz   the reference in atlas space, 2 mm (for the cohort mean)
/// SHARDS/qc/cohort-mean.png                 the mean warped reference beside the atlas template
/// SHARDS/.work/<key>.h5, <key>.json         one mapped subject awaiting packing (removed once packed)
/// ```
public struct CorrespondLayout: Sendable, Equatable {
    public let root: URL

    public init(root: URL) { self.root = root }

    public var manifest: URL { root.appendingPathComponent("dataset.json") }
    public var parts: URL { root.appendingPathComponent("parts") }
    public var qc: URL { root.appendingPathComponent("qc") }
    public var work: URL { root.appendingPathComponent(".work") }

    /// The part files of split runs (``BatchParts``).
    public var partFiles: BatchParts { BatchParts(folder: parts) }
    public func part(index: Int, count: Int) -> URL { partFiles.url(index: index, count: count) }
    public func workShard(_ key: String) -> URL { work.appendingPathComponent(key + ".h5") }
    public func workOutcome(_ key: String) -> URL { work.appendingPathComponent(key + ".json") }
    public func subjectPicture(_ key: String) -> URL { qc.appendingPathComponent(key + "_atlas.png") }
    public func warpedReference(_ key: String) -> URL { qc.appendingPathComponent(key + "_space-atlas_desc-reference.nii.gz") }
    public var cohortPicture: URL { qc.appendingPathComponent("cohort-mean.png") }

    /// Whether `name` is the name of a shard (``shardName(number:index:count:)``).
    public static func isShardName(_ name: String) -> Bool {
        name.hasPrefix("shard-") && name.hasSuffix(".h5") && name.dropFirst(6).dropLast(3).allSatisfy { $0.isNumber || $0 == "-" || $0 == "o" || $0 == "f" }
    }

    /// The name of shard `number` (1-based) of part `index` of `count`.
    public static func shardName(number: Int, index: Int, count: Int) -> String {
        count == 1 ? String(format: "shard-%05d.h5", number) : String(format: "shard-%dof%d-%05d.h5", index + 1, count, number)
    }
}
