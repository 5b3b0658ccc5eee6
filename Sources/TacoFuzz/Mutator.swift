import Foundation
import TacoCore

/// Seeded mutations of a file's bytes (binary) or lines (text), the kinds that break parsers: flipped bits,
/// boundary values in 1, 2 and 4 bytes, cuts, inserted, deleted and repeated runs; for text also deleted,
/// repeated and swapped lines and numbers replaced by extremes. `headerBytes` draws most byte positions
/// from the start of the file, where formats keep their structure.
struct Mutator {
    var rng: SeededGenerator
    var headerBytes: Int

    init(seed: UInt64, headerBytes: Int = 4096) {
        rng = SeededGenerator(seed: seed)
        self.headerBytes = headerBytes
    }

    private mutating func position(in count: Int) -> Int {
        guard count > 0 else { return 0 }
        let limit = rng.unit() < 0.75 ? min(count, headerBytes) : count
        return rng.integer(0...(limit - 1))
    }

    /// One to four mutations of `data`.
    mutating func mutate(_ data: Data) -> Data {
        var bytes = [UInt8](data)
        for _ in 0..<rng.integer(1...4) { mutateOnce(&bytes) }
        return Data(bytes)
    }

    private mutating func mutateOnce(_ bytes: inout [UInt8]) {
        guard !bytes.isEmpty else { bytes = [UInt8](repeating: 0, count: rng.integer(1...64)); return }
        let boundaries: [UInt32] = [0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff]
        switch rng.integer(0...8) {
        case 0:     // flip a bit
            let p = position(in: bytes.count)
            bytes[p] ^= UInt8(1 << rng.integer(0...7))
        case 1:     // a byte to a boundary or random value
            bytes[position(in: bytes.count)] = rng.unit() < 0.5 ? UInt8(truncatingIfNeeded: boundaries[rng.integer(0...boundaries.count - 1)]) : UInt8(truncatingIfNeeded: rng.next())
        case 2, 3:  // 2 or 4 bytes (a length, a dimension, an offset) to a boundary value, either endianness
            let width = rng.unit() < 0.5 ? 2 : 4
            let p = position(in: max(1, bytes.count - width))
            let value = boundaries[rng.integer(0...boundaries.count - 1)]
            let big = rng.unit() < 0.3
            for k in 0..<width where p + k < bytes.count {
                let shift = big ? 8 * (width - 1 - k) : 8 * k
                bytes[p + k] = UInt8(truncatingIfNeeded: value >> UInt32(shift))
            }
        case 4:     // cut the file short
            bytes.removeSubrange(position(in: bytes.count)...)
        case 5:     // insert a run of random bytes
            let run = (0..<rng.integer(1...256)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            bytes.insert(contentsOf: run, at: position(in: bytes.count))
        case 6:     // delete a run
            let p = position(in: bytes.count)
            bytes.removeSubrange(p..<min(bytes.count, p + rng.integer(1...512)))
        case 7:     // repeat a run
            let p = position(in: bytes.count), end = min(bytes.count, p + rng.integer(1...512))
            bytes.insert(contentsOf: Array(bytes[p..<end]), at: end)
        default:    // overwrite a run with one value
            let p = position(in: bytes.count), value = UInt8(truncatingIfNeeded: rng.next())
            for k in p..<min(bytes.count, p + rng.integer(1...64)) { bytes[k] = value }
        }
    }

    /// One to three mutations of `text` by lines and tokens, or of its bytes.
    mutating func mutateText(_ text: String) -> Data {
        var lines = text.components(separatedBy: "\n")
        for _ in 0..<rng.integer(1...3) {
            guard !lines.isEmpty else { lines = ["{"]; continue }
            let i = rng.integer(0...(lines.count - 1))
            switch rng.integer(0...6) {
            case 0: lines.remove(at: i)
            case 1: lines.insert(lines[i], at: i)
            case 2: lines.swapAt(i, rng.integer(0...(lines.count - 1)))
            case 3:     // a number to an extreme
                let extremes = ["1e308", "-1", "0", "-0.0", ".nan", "NaN", "99999999999999999999", "-2147483649", "1e-320"]
                lines[i] = lines[i].replacingOccurrences(of: #"-?[0-9]+(\.[0-9]+)?"#, with: extremes[rng.integer(0...extremes.count - 1)], options: .regularExpression)
            case 4:     // deep nesting or an odd character
                let inserts = [String(repeating: "[", count: 2000), "\u{0}", "\u{FEFF}", "\"", ": :", "- - -", "&anchor *anchor", "!!binary", "\t"]
                lines[i].insert(contentsOf: inserts[rng.integer(0...inserts.count - 1)], at: lines[i].index(lines[i].startIndex, offsetBy: rng.integer(0...lines[i].count)))
            case 5: lines[i] = String(lines[i].shuffled(using: &rng))
            default: return mutate(Data(lines.joined(separator: "\n").utf8))
            }
        }
        return Data(lines.joined(separator: "\n").utf8)
    }
}
