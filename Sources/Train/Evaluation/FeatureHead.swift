import Foundation
import TacoCore

/// A light trained head on frozen features: one hidden layer of `hidden` ReLU units and a softmax, on features
/// standardised with the training set's statistics, fitted by full-batch Adam on the mean cross-entropy
/// (plus a small L2 penalty on the weights). Deterministic: the first layer starts from a seeded draw, the
/// second from zero.
public struct FeatureHead: Sendable {
    public let classes: Int
    let mean: [Float]
    let deviation: [Float]
    /// (channels + 1) x hidden and (hidden + 1) x classes; the last rows are the biases.
    let first: Matrix<Float>
    let second: Matrix<Float>

    /// Fitted on at most `maximumRows` rows, evenly spaced through `features` (a light head needs no more, and a
    /// cohort's brain tokens run to tens of thousands).
    public init(features all: Matrix<Float>, labels allLabels: [Int], classes: Int, hidden: Int = 64, iterations: Int = 200, rate: Double = 0.01,
                l2: Double = 1e-4, seed: UInt64 = 0, maximumRows: Int = 4096) {
        precondition(all.rows == allLabels.count && all.rows > 0, "one label per row")
        self.classes = classes
        let kept = all.rows <= maximumRows ? Array(0..<all.rows) : (0..<maximumRows).map { $0 * all.rows / maximumRows }
        var features = Matrix<Float>(zeros: kept.count, all.columns)
        for (r, i) in kept.enumerated() { for j in 0..<all.columns { features[r, j] = all[i, j] } }
        let labels = kept.map { allLabels[$0] }
        let n = features.rows, c = features.columns
        (mean, deviation) = LinearProbe.statistics(features)
        let x = LinearProbe.standardised(features, mean: mean, deviation: deviation)
        var rng = SeededGenerator(seed: seed)
        var w1 = Matrix<Float>(zeros: c + 1, hidden), w2 = Matrix<Float>(zeros: hidden + 1, classes)
        let scale = (2 / Double(c)).squareRoot()
        for k in 0..<(c * hidden) { w1.values[k] = Float(scale * rng.gaussian()) }
        var adam1 = AdamState(count: w1.values.count), adam2 = AdamState(count: w2.values.count)
        for t in 1...iterations {
            let h = Self.hiddenLayer(x, w1)
            var residual = LinearProbe.probabilities(h.times(w2))
            for i in 0..<n { residual[i, labels[i]] -= 1 }
            for k in residual.values.indices { residual.values[k] /= Float(n) }
            var g2 = LinearProbe.transposedTimes(h, residual)
            // Back through the second layer (its bias row left out) and the ReLU.
            var back = residual.timesTransposed(Matrix(rows: hidden, columns: classes, values: Array(w2.values.prefix(hidden * classes))))
            for i in 0..<n { for j in 0..<hidden where h[i, j] <= 0 { back[i, j] = 0 } }
            var g1 = LinearProbe.transposedTimes(x, back)
            for k in 0..<(c * hidden) { g1.values[k] += Float(l2) * w1.values[k] }
            for k in 0..<(hidden * classes) { g2.values[k] += Float(l2) * w2.values[k] }
            adam1.step(&w1.values, gradient: g1.values, rate: Float(rate), t: t)
            adam2.step(&w2.values, gradient: g2.values, rate: Float(rate), t: t)
        }
        first = w1
        second = w2
    }

    /// Every row's class probabilities (rows x classes).
    public func probabilities(_ features: Matrix<Float>) -> Matrix<Float> {
        LinearProbe.probabilities(Self.hiddenLayer(LinearProbe.standardised(features, mean: mean, deviation: deviation), first).times(second))
    }

    /// The most probable class of every row.
    public func predict(_ features: Matrix<Float>) -> [Int] {
        let p = probabilities(features)
        return (0..<p.rows).map { i in (0..<classes).max { p[i, $0] < p[i, $1] }! }
    }

    /// ReLU(x W1) with a column of ones appended for the second layer's bias.
    static func hiddenLayer(_ x: Matrix<Float>, _ w1: Matrix<Float>) -> Matrix<Float> {
        let pre = x.times(w1)
        var h = Matrix<Float>(zeros: pre.rows, pre.columns + 1)
        for i in 0..<pre.rows {
            for j in 0..<pre.columns { h[i, j] = max(0, pre[i, j]) }
            h[i, pre.columns] = 1
        }
        return h
    }
}

/// Adam's moments for one tensor (β 0.9, 0.999, ε 1e-8).
struct AdamState {
    var m: [Float]
    var v: [Float]

    init(count: Int) {
        m = [Float](repeating: 0, count: count)
        v = m
    }

    mutating func step(_ values: inout [Float], gradient: [Float], rate: Float, t: Int) {
        let b1: Float = 0.9, b2: Float = 0.999
        let c1 = 1 - pow(b1, Float(t)), c2 = 1 - pow(b2, Float(t))
        for k in values.indices {
            m[k] = b1 * m[k] + (1 - b1) * gradient[k]
            v[k] = b2 * v[k] + (1 - b2) * gradient[k] * gradient[k]
            values[k] -= rate * (m[k] / c1) / ((v[k] / c2).squareRoot() + 1e-8)
        }
    }
}
