import Foundation

/// A deterministic random number generator (SplitMix64), so that a seed always gives the same cohort,
/// on any machine and Swift version: every draw TacoKit makes from it is computed here, not by the
/// standard library's `random(in:using:)`, whose algorithm may change.
///
/// ```swift
/// var rng = SeededGenerator(seed: 7)
/// let angle = rng.uniform(-10...10)
/// var subject3 = rng.stream(3)     // an independent stream for subject 3
/// ```
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Uniform in `range`.
    public mutating func uniform(_ range: ClosedRange<Double>) -> Double {
        range.lowerBound + (range.upperBound - range.lowerBound) * unit()
    }

    /// Uniform integer in `range`.
    public mutating func integer(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.upperBound - range.lowerBound + 1))
    }

    /// Standard normal (Box-Muller).
    public mutating func gaussian() -> Double {
        let u = max(unit(), 1e-300), v = unit()
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }

    /// Two independent standard normals (both Box-Muller outputs).
    public mutating func gaussianPair() -> (Double, Double) {
        let r = (-2 * log(max(unit(), 1e-300))).squareRoot(), angle = 2 * .pi * unit()
        return (r * cos(angle), r * sin(angle))
    }

    /// An element of `items`.
    public mutating func pick<T>(_ items: [T]) -> T { items[integer(0...items.count - 1)] }

    /// An independent generator for sub-task `index` (the parent's state is not advanced).
    public func stream(_ index: Int) -> SeededGenerator {
        var mixer = SeededGenerator(seed: state ^ (UInt64(truncatingIfNeeded: index) &* 0xD6E8_FEB8_6659_FD93))
        return SeededGenerator(seed: mixer.next())
    }
}
