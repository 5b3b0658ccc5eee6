/// The k best entries of each row of a pairwise matrix (largest similarity or smallest distance), found in
/// one pass over the row with a k-long sorted list: O(T k) per row, no sort of the whole row.
/// Ties go to the lower index, so that results are reproducible.
public enum NearestRows {
    /// For each row i of `values` (rows x columns), the indices of its `k` largest entries, best first,
    /// leaving out column i when `excludingDiagonal`. Rows with fewer candidates give fewer indices.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public static func largest<S: BLASScalar>(_ values: Matrix<S>, k: Int, excludingDiagonal: Bool) -> [[Int]] {
        select(values, k: k, excludingDiagonal: excludingDiagonal) { $0 > $1 }
    }

    /// As ``largest(_:k:excludingDiagonal:)``, for the smallest entries.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public static func smallest<S: BLASScalar>(_ values: Matrix<S>, k: Int, excludingDiagonal: Bool) -> [[Int]] {
        select(values, k: k, excludingDiagonal: excludingDiagonal) { $0 < $1 }
    }

    private static func select<S: BLASScalar>(_ values: Matrix<S>, k: Int, excludingDiagonal: Bool, better: (S, S) -> Bool) -> [[Int]] {
        guard k > 0 else { return Array(repeating: [], count: values.rows) }
        return values.values.withUnsafeBufferPointer { v in
            (0..<values.rows).map { row in
                var chosen: [Int] = [], scores: [S] = []
                chosen.reserveCapacity(k + 1)
                scores.reserveCapacity(k + 1)
                let base = row * values.columns
                for column in 0..<values.columns where !(excludingDiagonal && column == row) {
                    let score = v[base + column]
                    if chosen.count == k, !better(score, scores[k - 1]) { continue }
                    var slot = chosen.count
                    while slot > 0, better(score, scores[slot - 1]) { slot -= 1 }
                    chosen.insert(column, at: slot)
                    scores.insert(score, at: slot)
                    if chosen.count > k { chosen.removeLast(); scores.removeLast() }
                }
                return chosen
            }
        }
    }
}
