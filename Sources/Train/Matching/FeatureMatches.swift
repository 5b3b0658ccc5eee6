/// The fallback of docs/design.md §2 where atlas coordinates are missing: tokens i of A and u of B match when
/// each is the other's nearest neighbour under `d = 1 - cos` (one GEMM of the unit rows).
public enum FeatureMatches {
    /// Mutual nearest neighbours between the rows of `a` and `b`, in `a`'s order, weight 1.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public static func match<S: BLASScalar>(_ a: Matrix<S>, _ b: Matrix<S>) -> [TokenMatch] {
        guard a.rows > 0, b.rows > 0 else { return [] }
        let similarity = NormalisedRows(a).unit.timesTransposed(NormalisedRows(b).unit)
        let bestInB = NearestRows.largest(similarity, k: 1, excludingDiagonal: false).map { $0[0] }
        var bestInA = [Int](repeating: -1, count: b.rows), bestScore = [S](repeating: -.infinity, count: b.rows)
        for i in 0..<a.rows {
            for u in 0..<b.rows where similarity.values[i * b.rows + u] > bestScore[u] {
                bestScore[u] = similarity.values[i * b.rows + u]
                bestInA[u] = i
            }
        }
        return (0..<a.rows).compactMap { i in bestInA[bestInB[i]] == i ? TokenMatch(a: i, b: bestInB[i]) : nil }
    }
}
