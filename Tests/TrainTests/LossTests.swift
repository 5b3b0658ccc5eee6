import Foundation
import TacoCore
import Testing
@testable import Train

/// The losses of docs/design.md §2 against central finite differences (float64) and against plain loops
/// written here from the definitions, on random features with the same negatives.
@Suite struct LossTests {
    static func random<S: BLASScalar>(_ rows: Int, _ columns: Int, seed: UInt64, as: S.Type = S.self) -> Matrix<S> {
        var rng = SeededGenerator(seed: seed)
        return Matrix(rows: rows, columns: columns, values: (0..<rows * columns).map { _ in S(rng.gaussian()) })
    }

    /// `|numeric - analytic| / |analytic|` over all entries, numeric by central differences of `f`.
    static func relativeError(_ x: Matrix<Double>, analytic: Matrix<Double>, step: Double = 1e-6, _ f: (Matrix<Double>) throws -> Double) rethrows -> Double {
        var difference = 0.0, norm = 0.0
        for index in x.values.indices {
            var plus = x, minus = x
            plus.values[index] += step
            minus.values[index] -= step
            let numeric = (try f(plus) - f(minus)) / (2 * step)
            difference += (numeric - analytic.values[index]) * (numeric - analytic.values[index])
            norm += analytic.values[index] * analytic.values[index]
        }
        return (difference / max(norm, 1e-300)).squareRoot()
    }

    // MARK: plain loops from the definitions

    static func cosineDistance(_ z: Matrix<Double>, _ i: Int, _ j: Int) -> Double {
        var dot = 0.0, ni = 0.0, nj = 0.0
        for c in 0..<z.columns { dot += z[i, c] * z[j, c]; ni += z[i, c] * z[i, c]; nj += z[j, c] * z[j, c] }
        return 1 - dot / (max(ni.squareRoot(), 1e-12) * max(nj.squareRoot(), 1e-12))
    }

    static func plainIntraDirection(_ za: Matrix<Double>, _ zb: Matrix<Double>, k: Int, margin: Double, negatives: [[Int]]) -> Double {
        var sum = 0.0
        for i in 0..<za.rows {
            let others = (0..<za.rows).filter { $0 != i }
            func euclidean(_ j: Int) -> Double { (0..<za.columns).reduce(0.0) { $0 + (za[i, $1] - za[j, $1]) * (za[i, $1] - za[j, $1]) } }
            let neighbours = others.sorted { (euclidean($0), $0) < (euclidean($1), $1) }.prefix(k)
            for (m, p) in neighbours.enumerated() {
                sum += max(0, cosineDistance(zb, i, p) - cosineDistance(zb, i, negatives[i][m]) + margin)
            }
        }
        return sum / Double(za.rows * k)
    }

    static func plainInter(_ a: Matrix<Double>, _ b: Matrix<Double>, matches: [TokenMatch], k: Int, margin: Double, negatives: [[Int]]) -> Double {
        var partner: [Int: Int] = [:]
        for m in matches { partner[m.a] = m.b }
        var weighted = 0.0, weights = 0.0
        for (index, m) in matches.enumerated() {
            let neighbours = (0..<a.rows).filter { $0 != m.a }.sorted { (cosineDistance(a, m.a, $0), $0) < (cosineDistance(a, m.a, $1), $1) }.prefix(k)
            let positives = neighbours.compactMap { partner[$0] }
            if positives.isEmpty { continue }
            var sum = 0.0
            for (j, p) in positives.enumerated() {
                sum += max(0, cosineDistance(b, m.b, p) - cosineDistance(b, m.b, negatives[index][j]) + margin)
            }
            weighted += m.weight * sum / Double(positives.count)
            weights += m.weight
        }
        return weights > 0 ? weighted / weights : 0
    }

    // MARK: intra-instance

    /// Neg(i) of both directions, drawn a->b first from one seeded generator.
    static func intraNegatives(_ loss: IntraInstanceTriplet, _ a: Matrix<Double>, _ b: Matrix<Double>, seed: UInt64) throws -> ([[Int]], [[Int]]) {
        var rng = SeededGenerator(seed: seed)
        return (try loss.drawNegatives(tokens: a.rows, neighbours: loss.neighbourIndices(of: a), using: &rng),
                try loss.drawNegatives(tokens: b.rows, neighbours: loss.neighbourIndices(of: b), using: &rng))
    }

    @Test func intraValueEqualsPlainLoops() throws {
        let loss = IntraInstanceTriplet()
        let a = Self.random(40, 12, seed: 1, as: Double.self), b = Self.random(40, 12, seed: 2, as: Double.self)
        let (negAB, negBA) = try Self.intraNegatives(loss, a, b, seed: 9)
        let result = try loss.evaluate(a, b, negativesAB: negAB, negativesBA: negBA)
        let plain = Self.plainIntraDirection(a, b, k: 5, margin: 0.05, negatives: negAB) + Self.plainIntraDirection(b, a, k: 5, margin: 0.05, negatives: negBA)
        #expect(abs(result.value - plain) <= 1e-12 * max(1, plain), "\(result.value) vs \(plain)")
        #expect(plain > 0.01)
        // Negatives: k distinct tokens, never i nor one of its neighbours.
        let neighbours = loss.neighbourIndices(of: a)
        for i in 0..<40 { #expect(Set(negAB[i]).count == 5 && !negAB[i].contains(i) && Set(negAB[i]).isDisjoint(with: neighbours[i])) }
    }

    @Test func intraGradientEqualsFiniteDifferences() throws {
        let loss = IntraInstanceTriplet(neighbours: 3, margin: 0.3)
        let a = Self.random(24, 8, seed: 3, as: Double.self), b = Self.random(24, 8, seed: 4, as: Double.self)
        let (negAB, negBA) = try Self.intraNegatives(loss, a, b, seed: 5)
        let result = try loss.evaluate(a, b, negativesAB: negAB, negativesBA: negBA)
        // The neighbour sets are fixed by the unperturbed features (selection is not differentiated).
        let na = loss.neighbourIndices(of: a), nb = loss.neighbourIndices(of: b)
        let errorB = try Self.relativeError(b, analytic: result.gradientB) { try loss.direction(anchor: a, other: $0, neighbours: na, negatives: negAB).value }
        let errorA = try Self.relativeError(a, analytic: result.gradientA) { try loss.direction(anchor: b, other: $0, neighbours: nb, negatives: negBA).value }
        #expect(errorA <= 1e-3 && errorB <= 1e-3, "relative errors \(errorA), \(errorB)")
        #expect(result.gradientA.values.contains { $0 != 0 } && result.gradientB.values.contains { $0 != 0 })
        // The whole value (selection included) moves as the gradient says for a small step.
        let total = try Self.relativeError(b, analytic: result.gradientB) { try loss.evaluate(a, $0, negativesAB: negAB, negativesBA: negBA).value }
        #expect(total <= 1e-3, "\(total)")
    }

    @Test func intraInFloatAgreesWithDouble() throws {
        let loss = IntraInstanceTriplet()
        let a = Self.random(64, 16, seed: 6, as: Double.self), b = Self.random(64, 16, seed: 7, as: Double.self)
        let (negAB, negBA) = try Self.intraNegatives(loss, a, b, seed: 1)
        let double = try loss.evaluate(a, b, negativesAB: negAB, negativesBA: negBA)
        let float = try loss.evaluate(Matrix(rows: 64, columns: 16, values: a.values.map(Float.init)), Matrix(rows: 64, columns: 16, values: b.values.map(Float.init)),
                                      negativesAB: negAB, negativesBA: negBA)
        #expect(abs(Double(float.value) - double.value) <= 1e-5)
        let difference = zip(float.gradientB.values, double.gradientB.values).map { Double($0) - $1 }
        let differenceNorm: Double = difference.map { $0 * $0 }.reduce(0, +).squareRoot()
        let gradientNorm: Double = double.gradientB.values.map { $0 * $0 }.reduce(0, +).squareRoot()
        #expect(differenceNorm <= 1e-2 * gradientNorm)
    }

    @Test func intraRejectsBadInput() throws {
        let loss = IntraInstanceTriplet()
        let a = Self.random(8, 4, seed: 1, as: Double.self)
        var rng = SeededGenerator(seed: 1)
        #expect(throws: LossInputError.self) { try loss.evaluate(a, Self.random(9, 4, seed: 2), using: &rng) }
        // 8 tokens cannot give 5 neighbours and 5 other negatives.
        #expect(throws: LossInputError.self) { try loss.evaluate(a, Self.random(8, 4, seed: 2), using: &rng) }
        let big = Self.random(20, 4, seed: 3, as: Double.self)
        let neighbours = loss.neighbourIndices(of: big)
        var negatives = try loss.drawNegatives(tokens: 20, neighbours: neighbours, using: &rng)
        negatives[3][0] = neighbours[3][0]
        #expect(throws: LossInputError.self) { try loss.direction(anchor: big, other: big, neighbours: neighbours, negatives: negatives) }
    }

    /// A token's own direction: duplicate tokens (distance 0) and a zero row (normalised by epsilon) stay finite.
    @Test func intraEdgeCasesStayFinite() throws {
        var a = Self.random(16, 4, seed: 11, as: Double.self)
        for c in 0..<4 { a[1, c] = a[0, c]; a[2, c] = 0 }
        var rng = SeededGenerator(seed: 1)
        let result = try IntraInstanceTriplet(neighbours: 3).evaluate(a, a, using: &rng)
        #expect(result.value.isFinite && result.gradientA.values.allSatisfy(\.isFinite) && result.gradientB.values.allSatisfy(\.isFinite))
    }

    // MARK: inter-instance

    static func someMatches(_ ta: Int, _ tb: Int, count: Int, seed: UInt64) -> [TokenMatch] {
        var rng = SeededGenerator(seed: seed)
        var a = Array(0..<ta), b = Array(0..<tb)
        a.shuffle(using: &rng)
        b.shuffle(using: &rng)
        return (0..<count).map { TokenMatch(a: a[$0], b: b[$0], weight: 0.25 + rng.unit()) }
    }

    @Test func interValueEqualsPlainLoops() throws {
        let loss = InterInstanceAlignment()
        let a = Self.random(50, 10, seed: 21, as: Double.self), b = Self.random(45, 10, seed: 22, as: Double.self)
        let matches = Self.someMatches(50, 45, count: 15, seed: 23)
        var rng = SeededGenerator(seed: 4)
        let positives = try loss.positives(a: a, tokensInB: 45, matches: matches)
        let negatives = loss.drawNegatives(tokensInB: 45, matches: matches, positives: positives, using: &rng)
        let result = try loss.evaluate(a: a, b: b, matches: matches, negatives: negatives)
        let plain = Self.plainInter(a, b, matches: matches, k: 5, margin: 0.4, negatives: negatives)
        #expect(abs(result.value - plain) <= 1e-12 * max(1, plain), "\(result.value) vs \(plain)")
        #expect(plain > 0.05 && result.usedMatches > 5 && result.usedMatches < 15, "\(result.usedMatches) of 15 matches used")
        // Negatives come from B's unmatched tokens.
        let matchedB = Set(matches.map(\.b))
        #expect(negatives.joined().allSatisfy { !matchedB.contains($0) })
    }

    @Test func interGradientEqualsFiniteDifferences() throws {
        let loss = InterInstanceAlignment(neighbours: 4, margin: 0.5)
        let a = Self.random(30, 6, seed: 31, as: Double.self), b = Self.random(30, 6, seed: 32, as: Double.self)
        let matches = Self.someMatches(30, 30, count: 20, seed: 33)
        var rng = SeededGenerator(seed: 4)
        let positives = try loss.positives(a: a, tokensInB: 30, matches: matches)
        let negatives = loss.drawNegatives(tokensInB: 30, matches: matches, positives: positives, using: &rng)
        let result = try loss.evaluate(a: a, b: b, matches: matches, negatives: negatives)
        let error = try Self.relativeError(b, analytic: result.gradientB) { try loss.evaluate(a: a, b: $0, matches: matches, negatives: negatives).value }
        #expect(error <= 1e-3, "relative error \(error)")
        #expect(result.gradientB.values.contains { $0 != 0 })
    }

    /// Every token of B matched: negatives come from B minus u and the positives.
    @Test func interWithEveryTokenMatched() throws {
        let loss = InterInstanceAlignment(neighbours: 3)
        let a = Self.random(12, 5, seed: 41, as: Double.self), b = Self.random(12, 5, seed: 42, as: Double.self)
        let matches = (0..<12).map { TokenMatch(a: $0, b: (5 * $0) % 12) }
        var rng = SeededGenerator(seed: 2)
        let positives = try loss.positives(a: a, tokensInB: 12, matches: matches)
        let negatives = loss.drawNegatives(tokensInB: 12, matches: matches, positives: positives, using: &rng)
        for (index, match) in matches.enumerated() {
            #expect(positives[index].count == 3)
            #expect(negatives[index].allSatisfy { $0 != match.b && !positives[index].contains($0) })
        }
        let result = try loss.evaluate(a: a, b: b, matches: matches, negatives: negatives)
        #expect(abs(result.value - Self.plainInter(a, b, matches: matches, k: 3, margin: 0.4, negatives: negatives)) < 1e-12)
    }

    @Test func interWithoutMatchesIsZeroAndSaysSo() throws {
        let loss = InterInstanceAlignment()
        var rng = SeededGenerator(seed: 1)
        let result = try loss.evaluate(a: Self.random(10, 4, seed: 1, as: Double.self), b: Self.random(10, 4, seed: 2), matches: [], using: &rng)
        #expect(result.value == 0 && result.usedMatches == 0 && result.gradientB.values.allSatisfy { $0 == 0 })
        #expect(throws: LossInputError.self) {
            try loss.evaluate(a: Self.random(10, 4, seed: 1, as: Double.self), b: Self.random(10, 4, seed: 2), matches: [TokenMatch(a: 0, b: 1), TokenMatch(a: 2, b: 1)], using: &rng)
        }
    }

    // MARK: matching

    @Test func atlasMatchesAgainstBruteForce() {
        var rng = SeededGenerator(seed: 3)
        let a = (0..<300).map { _ in SIMD3(rng.uniform(0...50), rng.uniform(0...50), rng.uniform(0...50)) }
        let b = (0..<250).map { _ in SIMD3(rng.uniform(0...50), rng.uniform(0...50), rng.uniform(0...50)) }
        func nearest(_ p: SIMD3<Double>, _ set: [SIMD3<Double>]) -> Int { set.indices.min { length(set[$0] - p) < length(set[$1] - p) }! }
        var expected: [(Int, Int)] = []
        for i in a.indices {
            let u = nearest(a[i], b)
            if nearest(b[u], a) == i && length(a[i] - b[u]) <= 4 { expected.append((i, u)) }
        }
        let found = AtlasMatches.match(a, b, radius: 4)
        #expect(found.map(\.0) == expected.map(\.0) && found.map(\.1) == expected.map(\.1))
        #expect(!expected.isEmpty)
        // A point without atlas coordinates matches nothing; weights are confidence products.
        var withMissing = a
        withMissing[expected[0].0] = SIMD3(.nan, 0, 0)
        let weighted = AtlasMatches.match(withMissing, confidence: a.map { _ in 0.5 }, b, confidence: b.map { _ in 0.8 }, radius: 4)
        #expect(!weighted.contains { $0.a == expected[0].0 } && weighted.allSatisfy { abs($0.weight - 0.4) < 1e-12 })
    }

    @Test func featureMatchesAreMutualNearestUnderCosine() {
        let a = Self.random(40, 6, seed: 51, as: Double.self)
        // B = a shuffled copy of A's first 30 rows, each scaled (cosine ignores length): those 30 are mutual neighbours.
        var rng = SeededGenerator(seed: 52)
        var order = Array(0..<30)
        order.shuffle(using: &rng)
        var b = Matrix<Double>(zeros: 30, 6)
        for (row, source) in order.enumerated() { for c in 0..<6 { b[row, c] = 3 * a[source, c] } }
        let matches = FeatureMatches.match(a, b)
        #expect(matches.count == 30)
        #expect(matches.allSatisfy { order[$0.b] == $0.a })
    }

    // MARK: total and reconstruction

    @Test func totalIsTheWeightedSumAndItsGradientMatchesFiniteDifferences() throws {
        // Weights unlike each other and the defaults, so that a swapped or ignored weight shows.
        let loss = TopologyLoss(intra: IntraInstanceTriplet(neighbours: 3), inter: InterInstanceAlignment(neighbours: 3),
                                reconstructionWeight: 1, intraWeight: 3, interWeight: 7)
        var views: [TopologyLoss.Views] = []
        for s in 0..<3 {
            let first: Matrix<Float> = Self.random(27, 8, seed: UInt64(60 + 2 * s)), second: Matrix<Float> = Self.random(27, 8, seed: UInt64(61 + 2 * s))
            views.append(TopologyLoss.Views(first: first, second: second))
        }
        let pairs = [SubjectPair(p: 0, q: 1, matches: Self.someMatches(27, 27, count: 20, seed: 70)),
                     SubjectPair(p: 2, q: 0, matches: nil)]
        let output: [Float] = (0..<50).map { Float($0) / 50 }, input: [Float] = (0..<50).map { Float($0 % 7) / 7 }
        var rng = SeededGenerator(seed: 5)
        let result = try loss.evaluate(views: views, pairs: pairs, reconstruction: (output, input), using: &rng)
        let weightedSum: Float = result.reconstruction + 3 * result.intra + 7 * result.inter
        #expect(abs(result.total - weightedSum) < 1e-5)
        #expect(result.intra > 0 && result.inter > 0 && result.pairsUsed.0 == 2)
        let mse = zip(output, input).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / 50
        #expect(abs(result.reconstruction - mse) < 1e-6)
        // Directional derivative along subject 1's second view: the same draws replayed from the same seed.
        var direction = views[1].second
        var dirRng = SeededGenerator(seed: 77)
        for i in direction.values.indices { direction.values[i] = Float(dirRng.gaussian()) }
        let step: Float = 1e-3
        func total(_ t: Float) throws -> Float {
            var v = views
            for i in v[1].second.values.indices { v[1].second.values[i] += t * direction.values[i] }
            var replay = SeededGenerator(seed: 5)
            return try loss.evaluate(views: v, pairs: pairs, reconstruction: (output, input), using: &replay).total
        }
        let numeric = (try total(step) - total(-step)) / (2 * step)
        let analytic = zip(result.gradients[1].second.values, direction.values).map(*).reduce(0, +)
        #expect(abs(numeric - analytic) <= 1e-2 * abs(analytic), "\(numeric) vs \(analytic)")
    }

    @Test func pairsAreDistinctOrderedAndCapped() {
        var rng = SeededGenerator(seed: 1)
        let pairs = SubjectPair.draw(subjects: 4, maxPairs: 6, using: &rng)
        #expect(pairs.count == 6 && pairs.allSatisfy { $0.p != $0.q })
        #expect(Set(pairs.map { [$0.p, $0.q] }).count == 6)
        #expect(SubjectPair.draw(subjects: 2, maxPairs: 6, using: &rng).count == 2)
        #expect(SubjectPair.draw(subjects: 1, maxPairs: 6, using: &rng).isEmpty)
    }
}
