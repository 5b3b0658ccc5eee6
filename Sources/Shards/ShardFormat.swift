/// The "taco-shard" format, version 2 (docs/shard-format.md): names, types and storage in one place.
public enum ShardFormat {
    public static let name = "taco-shard"
    /// 2: the HDF5 1.10 file format (checksummed metadata) and fixed-length string attributes; 1: variable-
    /// length strings in the 1.8 format, still read.
    public static let version: Int64 = 2
    public static let readableVersions: ClosedRange<Int64> = 1...2
    /// Image chunks: one modality, a 32^3 block (float16: 64 KiB): 96^3 crops read as fast as with 16^3 chunks
    /// in a smaller file, and 25% faster than with 64^3 (docs/benchmarks.md, "Shards").
    public static let imageChunk = [1, 32, 32, 32]
    /// Other volumes: 32^3 blocks; token-grid maps are small and stored in one chunk per 32^3 tokens.
    public static let volumeChunk = [32, 32, 32]
    /// gzip level after shuffling: stock HDF5 and h5py read it without plugins.
    public static let gzipLevel = 4

    /// How the `image` datasets are stored: `gzip` (shuffle + gzip, the default: files at about a fifth of the
    /// raw size) or `none` (chunks stored as they are, still Fletcher32-checksummed: files 4-5x larger, crops read
    /// many times faster; docs/benchmarks.md). Either way stock HDF5 and h5py read them.
    public enum ImageCompression: String, Sendable, Codable, CaseIterable {
        case gzip
        case none
    }

    /// The storage of every dataset but `image`: chunked, shuffled + gzip, Fletcher32 checksums.
    static func storage(_ chunk: [Int]) -> HDF5File.Storage {
        HDF5File.Storage(chunk: chunk, gzipLevel: gzipLevel, checksum: true)
    }

    /// The storage of `image` datasets.
    static func imageStorage(_ compression: ImageCompression) -> HDF5File.Storage {
        HDF5File.Storage(chunk: imageChunk, gzipLevel: compression == .gzip ? gzipLevel : nil, checksum: true)
    }

    static func group(_ key: String) -> String { "/subjects/" + key }
}
