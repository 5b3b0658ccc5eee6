/// Pseudo-correspondences between two subjects' tokens (docs/design.md §2): token i of A and token u of B
/// match when each is the other's nearest neighbour in atlas space and they lie within `radius` mm.
///
/// A uniform grid of `radius`-sized cells makes it linear in the number of tokens: a nearest neighbour
/// within the radius lies in the 27 cells around a point. (The nearest point within the radius is the
/// nearest point overall whenever that one is within the radius, so this is exactly "mutual nearest
/// neighbours, then distance <= radius".)
public enum AtlasMatches {
    /// The matched pairs (index in `a`, index in `b`), in `a`'s order. Points with a non-finite
    /// coordinate (no atlas coordinate) match nothing.
    public static func match(_ a: [SIMD3<Double>], _ b: [SIMD3<Double>], radius: Double) -> [(Int, Int)] {
        precondition(radius > 0)
        let nearestInB = nearest(from: a, to: b, radius: radius)
        let nearestInA = nearest(from: b, to: a, radius: radius)
        return a.indices.compactMap { i in
            guard let u = nearestInB[i], nearestInA[u] == i else { return nil }
            return (i, u)
        }
    }

    /// Matches weighted by confidence: `weight = confidenceA[i] * confidenceB[u]`; tokens whose
    /// confidence is 0 are left out.
    public static func match(_ a: [SIMD3<Double>], confidence confidenceA: [Double], _ b: [SIMD3<Double>], confidence confidenceB: [Double],
                             radius: Double) -> [TokenMatch] {
        precondition(a.count == confidenceA.count && b.count == confidenceB.count)
        return match(a, b, radius: radius).compactMap { i, u in
            let weight = confidenceA[i] * confidenceB[u]
            return weight > 0 ? TokenMatch(a: i, b: u, weight: weight) : nil
        }
    }

    /// For each point of `from`, the index of the nearest point of `to` within `radius`, if any.
    static func nearest(from: [SIMD3<Double>], to: [SIMD3<Double>], radius: Double) -> [Int?] {
        func cell(_ p: SIMD3<Double>) -> SIMD3<Int> { SIMD3<Int>((p / radius).rounded(.down)) }
        func finite(_ p: SIMD3<Double>) -> Bool { p.x.isFinite && p.y.isFinite && p.z.isFinite }
        var cells: [SIMD3<Int>: [Int]] = [:]
        for (j, p) in to.enumerated() where finite(p) { cells[cell(p), default: []].append(j) }
        return from.map { p in
            guard finite(p) else { return nil }
            let c = cell(p)
            var best: Int?, bestDistance = radius * radius
            for dz in -1...1 { for dy in -1...1 { for dx in -1...1 {
                for j in cells[c &+ SIMD3(dx, dy, dz)] ?? [] {
                    let d = to[j] - p
                    let squared = (d * d).sum()
                    if squared < bestDistance || (squared == bestDistance && best.map { j < $0 } ?? true) {
                        bestDistance = squared
                        best = j
                    }
                }
            } } }
            return best
        }
    }
}
