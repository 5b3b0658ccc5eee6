import TacoCore

/// The intra-instance cross-modal triplet loss of docs/design.md §2: two voxel-aligned modalities a and b of one
/// subject's crop, token i of one matching token i of the other. In direction a->b, the k nearest tokens of
/// i in `Z_a` (Euclidean) must stay nearer to i in `Z_b` (under `d = 1 - cos`) than k random others, by a margin:
///
///     L_ab = mean over i, m of relu( d(Zb[i], Zb[N_m(i)]) - d(Zb[i], Zb[Neg_m(i)]) + margin )
///
/// Only `Z_b` receives gradient in `L_ab`. Pairwise values come from one GEMM each; the gradient is one
/// more pair of GEMMs (`(W + W^T) Zb`), never a loop over a T x T matrix.
///
/// ```swift
/// let loss = IntraInstanceTriplet()
/// var rng = SeededGenerator(seed: 1)
/// let result = try loss.evaluate(za, zb, using: &rng)   // value = L_ab + L_ba, gradients for both
/// ```
public struct IntraInstanceTriplet: Sendable, Equatable {
    /// k: neighbours (and negatives) per token.
    public var neighbours: Int
    /// margin_intra.
    public var margin: Double

    public init(neighbours: Int = 5, margin: Double = 0.05) {
        self.neighbours = neighbours
        self.margin = margin
    }

    /// The value `L_ab + L_ba` and its gradients with respect to both views' token features.
    public struct Result<Scalar: BLASScalar>: Sendable {
        public var value: Scalar
        public var gradientA: Matrix<Scalar>
        public var gradientB: Matrix<Scalar>
    }

    /// N(i) of every token of `anchor`: its k nearest tokens by Euclidean distance, i excluded, nearest first.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public func neighbourIndices<S: BLASScalar>(of anchor: Matrix<S>) -> [[Int]] {
        // |a_i - a_j|^2 ranks as |a_j|^2 - 2 a_i.a_j for a fixed i: one GEMM of [a_i, 1] with [-2 a_j, |a_j|^2].
        let t = anchor.rows, c = anchor.columns
        var left = Matrix<S>(zeros: t, c + 1), right = Matrix<S>(zeros: t, c + 1)
        for i in 0..<t {
            var squared: S = 0
            for j in 0..<c {
                let x = anchor.values[i * c + j]
                left.values[i * (c + 1) + j] = x
                right.values[i * (c + 1) + j] = -2 * x
                squared += x * x
            }
            left.values[i * (c + 1) + c] = 1
            right.values[i * (c + 1) + c] = squared
        }
        return NearestRows.smallest(left.timesTransposed(right), k: neighbours, excludingDiagonal: true)
    }

    /// Neg(i) of every token: k tokens drawn uniformly without replacement from all but i and N(i).
    public func drawNegatives(tokens: Int, neighbours n: [[Int]], using rng: inout SeededGenerator) throws -> [[Int]] {
        guard tokens >= 2 * neighbours + 1 else {
            throw LossInputError("the intra-instance loss needs at least 2k+1 = \(2 * neighbours + 1) tokens, the crop has \(tokens)")
        }
        return (0..<tokens).map { i in
            var chosen: [Int] = []
            while chosen.count < neighbours {
                let candidate = rng.integer(0...tokens - 1)
                if candidate != i, !n[i].contains(candidate), !chosen.contains(candidate) { chosen.append(candidate) }
            }
            return chosen
        }
    }

    /// `L_ab + L_ba` with negatives drawn from `rng` (a->b first, then b->a).
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public func evaluate<S: BLASScalar>(_ a: Matrix<S>, _ b: Matrix<S>, using rng: inout SeededGenerator) throws -> Result<S> {
        try checkShapes(a, b)
        let na = neighbourIndices(of: a), nb = neighbourIndices(of: b)
        let negativesAB = try drawNegatives(tokens: a.rows, neighbours: na, using: &rng)
        let negativesBA = try drawNegatives(tokens: a.rows, neighbours: nb, using: &rng)
        return try evaluate(a, b, neighbours: (na, nb), negatives: (negativesAB, negativesBA))
    }

    /// `L_ab + L_ba` with explicit negatives (tokens x k each), so that a result can be reproduced exactly.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public func evaluate<S: BLASScalar>(_ a: Matrix<S>, _ b: Matrix<S>, negativesAB: [[Int]], negativesBA: [[Int]]) throws -> Result<S> {
        try checkShapes(a, b)
        return try evaluate(a, b, neighbours: (neighbourIndices(of: a), neighbourIndices(of: b)), negatives: (negativesAB, negativesBA))
    }

    private func evaluate<S: BLASScalar>(_ a: Matrix<S>, _ b: Matrix<S>, neighbours: ([[Int]], [[Int]]),
                                         negatives: ([[Int]], [[Int]])) throws -> Result<S> {
        let ab = try direction(anchor: a, other: b, neighbours: neighbours.0, negatives: negatives.0)
        let ba = try direction(anchor: b, other: a, neighbours: neighbours.1, negatives: negatives.1)
        return Result(value: ab.value + ba.value, gradientA: ba.gradient, gradientB: ab.gradient)
    }

    /// One direction: `L_ab` (neighbours from `anchor`, distances in `other`) and its gradient with respect to `other`.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public func direction<S: BLASScalar>(anchor: Matrix<S>, other: Matrix<S>, neighbours n: [[Int]],
                                         negatives: [[Int]]) throws -> (value: S, gradient: Matrix<S>) {
        let t = other.rows, k = neighbours
        try checkNegatives(negatives, neighbours: n, tokens: t)
        let unit = NormalisedRows(other)
        let similarity = unit.unit.timesTransposed(unit.unit)
        var weights = Matrix<S>(zeros: t, t)
        var total: S = 0
        let share = 1 / S(t * k), m = S(margin)
        for i in 0..<t {
            for slot in 0..<k {
                let positive = n[i][slot], negative = negatives[i][slot]
                // d(i,p) - d(i,n) + margin = s(i,n) - s(i,p) + margin
                let hinge = similarity.values[i * t + negative] - similarity.values[i * t + positive] + m
                guard hinge > 0 else { continue }
                total += hinge
                weights.values[i * t + negative] += share
                weights.values[i * t + positive] -= share
            }
        }
        return (total * share, unit.backward(weights.symmetrisedTimes(unit.unit)))
    }

    private func checkShapes<S: BLASScalar>(_ a: Matrix<S>, _ b: Matrix<S>) throws {
        guard a.rows == b.rows, a.columns == b.columns else {
            throw LossInputError("the two views' token features differ in shape: \(a.rows) x \(a.columns) and \(b.rows) x \(b.columns)")
        }
        guard a.rows > neighbours else { throw LossInputError("k = \(neighbours) neighbours need more than \(neighbours) tokens, got \(a.rows)") }
    }

    private func checkNegatives(_ negatives: [[Int]], neighbours n: [[Int]], tokens t: Int) throws {
        guard negatives.count == t, n.count == t else { throw LossInputError("negatives for \(negatives.count) tokens, the crop has \(t)") }
        for i in 0..<t {
            guard negatives[i].count == neighbours else {
                throw LossInputError("token \(i) has \(negatives[i].count) negatives, k = \(neighbours)")
            }
            for j in negatives[i] where j < 0 || j >= t || j == i || n[i].contains(j) {
                throw LossInputError("negative \(j) of token \(i) is out of range, the token itself or one of its neighbours")
            }
        }
    }
}
