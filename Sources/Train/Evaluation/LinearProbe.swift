import Foundation

/// A multinomial logistic regression on frozen token features: features
/// standardised with the training set's mean and deviation, weights and biases fitted by full-batch Adam
/// on the mean cross-entropy plus a small L2 penalty; deterministic (zero start, no sampling).
public struct LinearProbe: Sendable {
    public let classes: Int
    public let mean: [Float]
    public let deviation: [Float]
    /// (channels + 1) x classes; the last row is the bias.
    public let weights: Matrix<Float>

    /// Fits the classifier on `features` (tokens x channels) with labels in 0..<classes. `balanced`: each class
    /// weighs the same in the loss whatever its count (each token weighted n / (classes present x its class's count)),
    /// for rare classes such as lesion tokens.
    public init(features: Matrix<Float>, labels: [Int], classes: Int, iterations: Int = 300, rate: Double = 0.05, l2: Double = 1e-4,
                balanced: Bool = false) {
        precondition(features.rows == labels.count && features.rows > 0, "one label per token")
        self.classes = classes
        let c = features.columns, n = features.rows
        (mean, deviation) = Self.statistics(features)
        let x = Self.standardised(features, mean: mean, deviation: deviation)
        var counts = [Int](repeating: 0, count: classes)
        for l in labels { counts[l] += 1 }
        let present = Float(counts.filter { $0 > 0 }.count)
        let rowWeight = labels.map { balanced ? Float(n) / (present * Float(counts[$0])) : 1 }
        var w = Matrix<Float>(zeros: c + 1, classes)
        var m = w.values, v = w.values
        for t in 1...iterations {
            let p = Self.probabilities(x.times(w))
            var residual = p
            for i in 0..<n {
                residual[i, labels[i]] -= 1
                if balanced { for k in 0..<classes { residual[i, k] *= rowWeight[i] } }
            }
            // d(mean weighted cross-entropy)/dW = X^T diag(weights) (P - Y) / n, plus l2 * W (not on the bias row).
            var g = Self.transposedTimes(x, residual)
            for k in g.values.indices { g.values[k] /= Float(n) }
            for k in 0..<(c * classes) { g.values[k] += Float(l2) * w.values[k] }
            let b1: Float = 0.9, b2: Float = 0.999
            let c1 = 1 - pow(b1, Float(t)), c2 = 1 - pow(b2, Float(t))
            for k in w.values.indices {
                m[k] = b1 * m[k] + (1 - b1) * g.values[k]
                v[k] = b2 * v[k] + (1 - b2) * g.values[k] * g.values[k]
                w.values[k] -= Float(rate) * (m[k] / c1) / ((v[k] / c2).squareRoot() + 1e-8)
            }
        }
        weights = w
    }

    /// Every row's class probabilities (rows x classes).
    public func probabilities(_ features: Matrix<Float>) -> Matrix<Float> {
        Self.probabilities(Self.standardised(features, mean: mean, deviation: deviation).times(weights))
    }

    /// The most probable class of every token.
    public func predict(_ features: Matrix<Float>) -> [Int] {
        let scores = Self.standardised(features, mean: mean, deviation: deviation).times(weights)
        return (0..<scores.rows).map { i in (0..<classes).max { scores[i, $0] < scores[i, $1] }! }
    }

    /// Each column's mean and standard deviation (at least 1e-6).
    static func statistics(_ features: Matrix<Float>) -> (mean: [Float], deviation: [Float]) {
        let c = features.columns, n = features.rows
        var mean = [Float](repeating: 0, count: c), deviation = [Float](repeating: 0, count: c)
        for j in 0..<c {
            var sum = 0.0, squares = 0.0
            for i in 0..<n { let v = Double(features[i, j]); sum += v; squares += v * v }
            let mu = sum / Double(n)
            mean[j] = Float(mu)
            deviation[j] = Float(max(1e-6, squares / Double(n) - mu * mu).squareRoot())
        }
        return (mean, deviation)
    }

    /// Features standardised, with a column of ones for the bias.
    static func standardised(_ f: Matrix<Float>, mean: [Float], deviation: [Float]) -> Matrix<Float> {
        var x = Matrix<Float>(zeros: f.rows, f.columns + 1)
        for i in 0..<f.rows {
            for j in 0..<f.columns { x[i, j] = (f[i, j] - mean[j]) / deviation[j] }
            x[i, f.columns] = 1
        }
        return x
    }

    static func probabilities(_ scores: Matrix<Float>) -> Matrix<Float> {
        var p = scores
        for i in 0..<p.rows {
            var top = -Float.infinity
            for k in 0..<p.columns { top = max(top, p[i, k]) }
            var sum: Float = 0
            for k in 0..<p.columns { p[i, k] = exp(p[i, k] - top); sum += p[i, k] }
            for k in 0..<p.columns { p[i, k] /= sum }
        }
        return p
    }

    /// a^T b by one GEMM.
    static func transposedTimes(_ a: Matrix<Float>, _ b: Matrix<Float>) -> Matrix<Float> {
        var out = Matrix<Float>(zeros: a.columns, b.columns)
        a.values.withUnsafeBufferPointer { pa in
            b.values.withUnsafeBufferPointer { pb in
                out.values.withUnsafeMutableBufferPointer { pc in
                    Float.gemm(transposeA: true, transposeB: false, m: a.columns, n: b.columns, k: a.rows, alpha: 1, a: pa.baseAddress!, lda: a.columns,
                               b: pb.baseAddress!, ldb: b.columns, beta: 0, c: pc.baseAddress!, ldc: b.columns)
                }
            }
        }
        return out
    }
}

/// Accuracy and per-class Dice of predicted against true labels.
public struct SegmentationScores: Sendable, Equatable, Codable {
    public var accuracy: Double
    /// Dice of each class, 2|P ∩ T| / (|P| + |T|) over tokens (nil for a class absent from both).
    public var dice: [Double?]
    public var meanDice: Double

    public init(predicted: [Int], truth: [Int], classes: Int) {
        precondition(predicted.count == truth.count, "one prediction per label")
        var correct = 0, both = [Int](repeating: 0, count: classes), p = both, t = both
        for (a, b) in zip(predicted, truth) {
            if a == b { correct += 1; both[a] += 1 }
            p[a] += 1
            t[b] += 1
        }
        accuracy = truth.isEmpty ? 0 : Double(correct) / Double(truth.count)
        dice = (0..<classes).map { (k: Int) -> Double? in
            let size = p[k] + t[k]
            return size == 0 ? nil : 2 * Double(both[k]) / Double(size)
        }
        let present = dice.compactMap { $0 }
        meanDice = present.isEmpty ? 0 : present.reduce(0, +) / Double(present.count)
    }
}
