/// The anatomical orientation of voxel axes, in the RAS convention of nibabel's `aff2axcodes`:
/// each letter is the direction an axis *points to* (R/L, A/P, S/I).
///
/// ```swift
/// OrientationCode(direction: .identity).code              // "LPS": ITK's identity points to L, P, S
/// OrientationCode(direction: Matrix3(diagonal: [-1, -1, 1])).code  // "RAS"
/// ```
public struct OrientationCode: Equatable, Sendable {
    /// For each voxel axis: the world axis (0 = x/LR, 1 = y/AP, 2 = z/SI) it runs along most.
    public let worldAxis: SIMD3<Int>
    /// For each voxel axis: +1 if it points towards L, P or S (the LPS positive directions), -1 otherwise.
    public let signInLPS: SIMD3<Int>

    /// Assigns world axes greedily by largest absolute cosine, so two voxel axes never share one.
    public init(direction: Matrix3) {
        var axes = SIMD3<Int>(repeating: -1)
        var signs = SIMD3<Int>(repeating: 1)
        var taken = Set<Int>()
        // Pick (voxel axis, world axis) pairs in order of decreasing |cosine|.
        var pairs: [(Int, Int, Double)] = []
        for c in 0..<3 { for r in 0..<3 { pairs.append((c, r, direction[r, c])) } }
        pairs.sort { abs($0.2) > abs($1.2) }
        for (c, r, value) in pairs where axes[c] < 0 && !taken.contains(r) {
            axes[c] = r
            signs[c] = value < 0 ? -1 : 1
            taken.insert(r)
        }
        worldAxis = axes
        signInLPS = signs
    }

    /// Three letters, e.g. "RAS".
    public var code: String {
        let positive: [Character] = ["L", "P", "S"], negative: [Character] = ["R", "A", "I"]
        return String((0..<3).map { signInLPS[$0] > 0 ? positive[worldAxis[$0]] : negative[worldAxis[$0]] })
    }
}
