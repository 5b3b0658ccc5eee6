internal import CHDF5
import Dispatch
import Foundation
import TacoCore

/// Chunks of a dataset as stored in the file (``HDF5File/storedChunks(of:start:count:)``), with the filter
/// pipeline that wrote them.
public struct StoredChunks: Sendable {
    /// The filters TacoKit's shards use (all stock HDF5), in pipeline order (applied in that order on write).
    public enum Filter: Sendable, Equatable {
        case deflate
        case shuffle(elementSize: Int)
        case fletcher32
    }

    public struct Chunk: Sendable {
        /// Dataset index of the chunk's first element.
        public let origin: [Int]
        /// The stored bytes (empty: never written, all fill value 0).
        public let bytes: [UInt8]
        /// Bit i set: filter i was not applied to this chunk (an optional filter that did not help).
        public let skippedFilters: UInt32
    }

    public let dataset: String
    public let chunkShape: [Int]
    public let elementSize: Int
    /// Whether the stored elements are floating point (HDF5's type class).
    public let isFloatingPoint: Bool
    public let filters: [Filter]
    public let chunks: [Chunk]
}

/// Decodes stored chunks outside HDF5 (its serial library admits one call at a time), on all cores:
/// inflate with zlib, undo the byte shuffle, verify HDF5's own Fletcher32, exactly as HDF5's filters do,
/// and copy the box's part of each chunk out as float32.
public enum ChunkDecoder {
    /// IEEE binary16 to float32 for every 16-bit pattern (256 KiB): one load per value instead of a
    /// software conversion call.
    static let halfToFloat: [Float] = (0...UInt16.max).map { Float(Float16(bitPattern: $0)) }

    /// The box `start` + `count` (same rank as the dataset, C order) of a float16 dataset as float32.
    public static func float16Box(_ stored: StoredChunks, start: [Int], count: [Int], path: String) throws -> [Float] {
        guard stored.elementSize == 2, stored.isFloatingPoint else {
            throw HDF5Error(path: path, operation: "read \(stored.dataset)",
                            reason: "stored as \(stored.elementSize)-byte \(stored.isFloatingPoint ? "floats" : "integers"), not float16")
        }
        guard start.count == stored.chunkShape.count, count.count == start.count else {
            throw HDF5Error(path: path, operation: "read \(stored.dataset)",
                            reason: "a box of rank \(start.count) asked of a dataset of rank \(stored.chunkShape.count)")
        }
        let rank = start.count
        let total = count.reduce(1, *)
        var out = [Float](repeating: 0, count: total)
        let failures = Locked([String]())
        let table = halfToFloat
        out.withUnsafeMutableBufferPointer { output in
            let target = SharedMutablePointer(output.baseAddress!)
            table.withUnsafeBufferPointer { tableBuffer in
                let lookup = SharedPointer(tableBuffer.baseAddress!)
                DispatchQueue.concurrentPerform(iterations: stored.chunks.count) { index in
                    let chunk = stored.chunks[index]
                    guard !chunk.bytes.isEmpty else { return }       // never written: fill value 0, already there
                    do {
                        let raw = try decode(chunk, of: stored)
                        raw.withUnsafeBytes { bytes in
                            let halves = bytes.bindMemory(to: UInt16.self)
                            copyOverlap(chunk: chunk.origin, shape: stored.chunkShape, start: start, count: count, rank: rank) { from, to, run in
                                for k in 0..<run { target.pointer[to + k] = lookup.pointer[Int(UInt16(littleEndian: halves[from + k]))] }
                            }
                        }
                    } catch {
                        failures.withLock { $0.append("\(stored.dataset) chunk at \(chunk.origin): \(error)") }
                    }
                }
            }
        }
        if let first = failures.value.first {
            throw HDF5Error(path: path, operation: "read \(stored.dataset)", reason: first, isDamagedData: true)
        }
        return out
    }

    /// A chunk's bytes with the pipeline undone (last filter first).
    static func decode(_ chunk: StoredChunks.Chunk, of stored: StoredChunks) throws -> [UInt8] {
        let chunkBytes = stored.chunkShape.reduce(stored.elementSize, *)
        var data = chunk.bytes
        for (index, filter) in stored.filters.enumerated().reversed() where chunk.skippedFilters & (1 << UInt32(index)) == 0 {
            switch filter {
            case .deflate:
                // The size before deflate: the chunk, plus the checksum if Fletcher32 came earlier in the pipeline.
                let checksummed = stored.filters.prefix(index).enumerated().contains { $0.element == .fletcher32 && chunk.skippedFilters & (1 << UInt32($0.offset)) == 0 }
                var size = uLongf(chunkBytes + (checksummed ? 4 : 0))
                var inflated = [UInt8](repeating: 0, count: Int(size))
                let status = inflated.withUnsafeMutableBufferPointer { out in
                    data.withUnsafeBufferPointer { uncompress(out.baseAddress, &size, $0.baseAddress, uLong($0.count)) }
                }
                guard status == Z_OK else { throw DecodeError(reason: "inflate failed (zlib status \(status))") }
                inflated.removeLast(inflated.count - Int(size))
                data = inflated
            case .shuffle(let elementSize):
                guard elementSize > 1 else { continue }
                let elements = data.count / elementSize
                var unshuffled = data
                data.withUnsafeBufferPointer { source in
                    unshuffled.withUnsafeMutableBufferPointer { target in
                        for byte in 0..<elementSize {
                            let plane = byte * elements
                            for e in 0..<elements { target[e * elementSize + byte] = source[plane + e] }
                        }
                    }
                }
                data = unshuffled
            case .fletcher32:
                guard data.count >= 4 else { throw DecodeError(reason: "shorter than its checksum") }
                let n = data.count - 4
                let stored = UInt32(data[n]) | UInt32(data[n + 1]) << 8 | UInt32(data[n + 2]) << 16 | UInt32(data[n + 3]) << 24
                let computed = data.withUnsafeBytes { H5_checksum_fletcher32($0.baseAddress, n) }
                // HDF5 also accepts the byte-swapped form that old versions wrote.
                let reversed = (computed & 0xFF) << 24 | (computed & 0xFF00) << 8 | (computed >> 8) & 0xFF00 | computed >> 24
                guard stored == computed || stored == reversed else { throw DecodeError(reason: "Fletcher32 checksum failed") }
                data.removeLast(4)
            }
        }
        guard data.count == chunkBytes else { throw DecodeError(reason: "decoded to \(data.count) bytes, a chunk has \(chunkBytes)") }
        return data
    }

    /// Calls `copy(fromElement, toElement, run)` for each contiguous run (along the last axis) where a chunk
    /// at `chunk` (origin) of `shape` overlaps the box `start` + `count`.
    static func copyOverlap(chunk: [Int], shape: [Int], start: [Int], count: [Int], rank: Int, _ copy: (Int, Int, Int) -> Void) {
        var low = [Int](repeating: 0, count: rank), high = low
        for d in 0..<rank {
            low[d] = max(chunk[d], start[d])
            high[d] = min(chunk[d] + shape[d], start[d] + count[d])
            if high[d] <= low[d] { return }
        }
        let run = high[rank - 1] - low[rank - 1]
        var index = low
        while true {
            var from = 0, to = 0
            for d in 0..<rank {
                from = from * shape[d] + (index[d] - chunk[d])
                to = to * count[d] + (index[d] - start[d])
            }
            copy(from, to, run)
            var d = rank - 2
            while d >= 0 {
                index[d] += 1
                if index[d] < high[d] { break }
                index[d] = low[d]
                d -= 1
            }
            if d < 0 { return }
        }
    }

    struct DecodeError: Error, CustomStringConvertible {
        let reason: String
        var description: String { reason }
    }

}
