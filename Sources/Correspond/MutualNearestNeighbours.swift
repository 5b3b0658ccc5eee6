import Imaging

/// Pseudo-correspondences between two subjects' tokens (DESIGN.md §1): token i of A and token u of B
/// match when each is the other's nearest neighbour in atlas space and they lie within `radius` mm.
///
/// A uniform grid of `radius`-sized cells makes it linear in the number of tokens: a nearest neighbour
/// within the radius lies in the 27 cells around a point.
public enum MutualNearestNeighbours {
    /// The matched pairs (index in `a`, index in `b`), in `a`'s order.
    public static func match(_ a: [Vector3], _ b: [Vector3], radius: Double) -> [(Int, Int)] {
        precondition(radius > 0)
        let nearestInB = nearest(from: a, to: b, radius: radius)
        let nearestInA = nearest(from: b, to: a, radius: radius)
        return a.indices.compactMap { i in
            guard let u = nearestInB[i], nearestInA[u] == i else { return nil }
            return (i, u)
        }
    }

    /// For each point of `from`, the index of the nearest point of `to` within `radius`, if any.
    static func nearest(from: [Vector3], to: [Vector3], radius: Double) -> [Int?] {
        func cell(_ p: Vector3) -> SIMD3<Int> { SIMD3<Int>(Int((p.x / radius).rounded(.down)), Int((p.y / radius).rounded(.down)),
                                                           Int((p.z / radius).rounded(.down))) }
        var cells: [SIMD3<Int>: [Int]] = [:]
        for (j, p) in to.enumerated() { cells[cell(p), default: []].append(j) }
        return from.map { p in
            let c = cell(p)
            var best: Int?, bestDistance = radius * radius
            for dz in -1...1 { for dy in -1...1 { for dx in -1...1 {
                for j in cells[c &+ SIMD3(dx, dy, dz)] ?? [] {
                    let d = to[j] - p
                    let squared = (d * d).sum()
                    if squared <= bestDistance { bestDistance = squared; best = j }
                }
            } } }
            return best
        }
    }
}
