import TacoCore

/// A spatial augmentation made of flips and 90-degree rotations: a signed permutation of the crop's axes
/// (the 48 of them for a cube). Output axis j reads input axis `axes[j]`, reversed when `flipped[j]`.
/// Applied identically to both modalities of a crop and to its tokens, so token t still matches token t.
public struct CropOrientation: Sendable, Equatable, Codable {
    /// For each output axis (x, y, z), the input axis it reads.
    public var axes: [Int]
    /// For each output axis, whether it runs backwards.
    public var flipped: [Bool]

    public static let identity = CropOrientation(axes: [0, 1, 2], flipped: [false, false, false])

    public init(axes: [Int], flipped: [Bool]) {
        precondition(axes.sorted() == [0, 1, 2] && flipped.count == 3, "not a signed permutation of three axes")
        self.axes = axes
        self.flipped = flipped
    }

    /// A random orientation that keeps a box of `size` (x, y, z) its shape: axes are exchanged only
    /// where their lengths agree (every permutation for a cube).
    public static func random(for size: SIMD3<Int>, flips: Bool, rotations: Bool, using rng: inout SeededGenerator) -> CropOrientation {
        var axes = [0, 1, 2]
        if rotations {
            let permutations = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]].filter { p in (0..<3).allSatisfy { size[p[$0]] == size[$0] } }
            axes = permutations[rng.integer(0...permutations.count - 1)]
        }
        let flipped = (0..<3).map { _ in flips && rng.next() & 1 == 1 }
        return CropOrientation(axes: axes, flipped: flipped)
    }

    /// The input index (x, y, z) that output index `o` reads, in a box of `size` (input and output alike).
    public func source(of o: SIMD3<Int>, size: SIMD3<Int>) -> SIMD3<Int> {
        var input = SIMD3<Int>.zero
        for j in 0..<3 { input[axes[j]] = flipped[j] ? size[axes[j]] - 1 - o[j] : o[j] }
        return input
    }

    /// A (z, y, x) volume of `size` with `channels` interleaved values per voxel, reoriented. The source
    /// offset of output voxel (x, y, z) is a sum of one precomputed term per axis, so the copy is one add
    /// per voxel.
    public func apply<T>(_ values: [T], size: SIMD3<Int>, channels: Int = 1) -> [T] {
        if self == .identity { return values }
        let inputStride = [channels, channels * size.x, channels * size.x * size.y]
        let terms = (0..<3).map { j in
            (0..<size[j]).map { o in inputStride[axes[j]] * (flipped[j] ? size[axes[j]] - 1 - o : o) }
        }
        var out = values
        values.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                var target = 0
                for z in 0..<size.z {
                    let tz = terms[2][z]
                    for y in 0..<size.y {
                        let tzy = tz + terms[1][y]
                        for x in 0..<size.x {
                            let from = tzy + terms[0][x]
                            for c in 0..<channels { output[target + c] = input[from + c] }
                            target += channels
                        }
                    }
                }
            }
        }
        return out
    }
}
