import TacoCore

/// The inter-instance partial neighbourhood alignment of docs/design.md §2, direction p->q: A = subject p's
/// token features, B = subject q's, and the matches `M = {(i, u)}` between them (atlas pseudo-
/// correspondences, or feature-space ones as the fallback). For each match, the positives are the k
/// nearest tokens of i in A under `d` (i excluded) that are themselves matched, taken to their partners
/// `u_j` in B; as many negatives `n_j` are drawn with replacement from B's unmatched tokens (from B minus u and
/// the positives when every token of B is matched):
///
///     L_pq = weighted mean over (i, u) of mean over j of relu( d(B[u], B[u_j]) - d(B[u], B[n_j]) + margin )
///
/// The weights are the matches' (registration confidence; all 1 gives a plain mean). A match
/// without positives is skipped. Only B receives gradient.
public struct InterInstanceAlignment: Sendable, Equatable {
    /// k: the neighbours of i in A that may become positives.
    public var neighbours: Int
    /// margin_inter.
    public var margin: Double

    public init(neighbours: Int = 5, margin: Double = 0.4) {
        self.neighbours = neighbours
        self.margin = margin
    }

    /// `L_pq`, its gradient with respect to B, and how many matches had positives (0: the pair gives no signal).
    public struct Result<Scalar: BLASScalar>: Sendable {
        public var value: Scalar
        public var gradientB: Matrix<Scalar>
        public var usedMatches: Int
    }

    /// The positives of every match: partners in B of i's matched neighbours in A, nearest first (empty: skipped).
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public func positives<S: BLASScalar>(a: Matrix<S>, tokensInB: Int, matches: [TokenMatch]) throws -> [[Int]] {
        try check(matches, tokensInA: a.rows, tokensInB: tokensInB)
        var partner = [Int](repeating: -1, count: a.rows)
        for match in matches { partner[match.a] = match.b }
        let unit = NormalisedRows(a).unit
        let nearest = NearestRows.largest(unit.timesTransposed(unit), k: neighbours, excludingDiagonal: true)
        return matches.map { match in nearest[match.a].compactMap { partner[$0] >= 0 ? partner[$0] : nil } }
    }

    /// As many negatives as each match has positives, drawn with replacement from B's unmatched tokens
    /// (from B minus u and the positives when every token of B is matched).
    public func drawNegatives(tokensInB: Int, matches: [TokenMatch], positives: [[Int]], using rng: inout SeededGenerator) -> [[Int]] {
        var matched = [Bool](repeating: false, count: tokensInB)
        for match in matches { matched[match.b] = true }
        let unmatched = (0..<tokensInB).filter { !matched[$0] }
        return zip(matches, positives).map { match, positives in
            guard !positives.isEmpty else { return [] }
            let pool = unmatched.isEmpty ? (0..<tokensInB).filter { $0 != match.b && !positives.contains($0) } : unmatched
            guard !pool.isEmpty else { return [] }
            return positives.map { _ in pool[rng.integer(0...pool.count - 1)] }
        }
    }

    /// `L_pq` with negatives drawn from `rng`.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public func evaluate<S: BLASScalar>(a: Matrix<S>, b: Matrix<S>, matches: [TokenMatch], using rng: inout SeededGenerator) throws -> Result<S> {
        let p = try positives(a: a, tokensInB: b.rows, matches: matches)
        return try evaluate(a: a, b: b, matches: matches, negatives: drawNegatives(tokensInB: b.rows, matches: matches, positives: p, using: &rng))
    }

    /// `L_pq` with explicit negatives: for each match, at least as many as it has positives (extra ones are
    /// ignored, so a caller can pass k per match).
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public func evaluate<S: BLASScalar>(a: Matrix<S>, b: Matrix<S>, matches: [TokenMatch], negatives: [[Int]]) throws -> Result<S> {
        guard a.columns == b.columns else { throw LossInputError("A has \(a.columns) channels, B \(b.columns)") }
        guard negatives.count == matches.count else { throw LossInputError("negatives for \(negatives.count) matches, there are \(matches.count)") }
        let positives = try positives(a: a, tokensInB: b.rows, matches: matches)
        let t = b.rows
        let unit = NormalisedRows(b)
        let similarity = unit.unit.timesTransposed(unit.unit)
        var used: [(match: Int, count: Int)] = []
        var totalWeight = 0.0
        for (index, match) in matches.enumerated() where !positives[index].isEmpty && negatives[index].count >= positives[index].count {
            used.append((index, positives[index].count))
            totalWeight += match.weight
        }
        var weights = Matrix<S>(zeros: t, t)
        guard totalWeight > 0 else { return Result(value: 0, gradientB: Matrix(zeros: t, b.columns), usedMatches: 0) }
        var total: S = 0
        let m = S(margin)
        for (index, count) in used {
            let u = matches[index].b
            let share = S(matches[index].weight / totalWeight) / S(count)
            for j in 0..<count {
                let positive = positives[index][j], negative = negatives[index][j]
                guard negative >= 0, negative < t else { throw LossInputError("negative \(negative) of match \(index) is not a token of B") }
                let hinge = similarity.values[u * t + negative] - similarity.values[u * t + positive] + m
                guard hinge > 0 else { continue }
                total += share * hinge
                weights.values[u * t + negative] += share
                weights.values[u * t + positive] -= share
            }
        }
        return Result(value: total, gradientB: unit.backward(weights.symmetrisedTimes(unit.unit)), usedMatches: used.count)
    }

    private func check(_ matches: [TokenMatch], tokensInA: Int, tokensInB: Int) throws {
        var seenA = Set<Int>(), seenB = Set<Int>()
        for match in matches {
            guard (0..<tokensInA).contains(match.a), (0..<tokensInB).contains(match.b) else {
                throw LossInputError("match (\(match.a), \(match.b)) is outside \(tokensInA) x \(tokensInB) tokens")
            }
            guard seenA.insert(match.a).inserted, seenB.insert(match.b).inserted else {
                throw LossInputError("token \(match.a) of A or \(match.b) of B is matched twice: matches must be one-to-one")
            }
            guard match.weight >= 0, match.weight.isFinite else { throw LossInputError("match (\(match.a), \(match.b)) has weight \(match.weight)") }
        }
    }
}
