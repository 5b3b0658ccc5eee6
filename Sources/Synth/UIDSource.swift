import Imaging
import TacoCore

/// Deterministic DICOM UIDs under the "2.25" root (UUID-derived, ISO/IEC 9834-8), drawn from a seeded
/// stream so that a seed always gives byte-identical files.
struct UIDSource: Sendable {
    private var rng: SeededGenerator

    init(rng: SeededGenerator) { self.rng = rng }

    /// "2.25." followed by a 96-bit decimal number (at most 34 characters, leaving room for ".N" suffixes).
    mutating func next() -> String {
        var value = (UInt64(rng.next() >> 32), rng.next())  // 96 bits as (high 32, low 64)
        var digits: [Character] = []
        repeat {
            // Divide the 96-bit number by 10.
            let high = value.0, low = value.1
            let hq = high / 10, hr = high % 10
            let (lq, lr) = (hr << 32 | low >> 32).quotientAndRemainder(dividingBy: 10)
            let (lq2, lr2) = (lr << 32 | (low & 0xFFFF_FFFF)).quotientAndRemainder(dividingBy: 10)
            value = (hq, lq << 32 | lq2)
            digits.append(Character(String(lr2)))
        } while value.0 != 0 || value.1 != 0
        return "2.25." + String(digits.reversed())
    }
}
