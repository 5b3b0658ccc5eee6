import Foundation

/// Scores of a two-class prediction (subject classification): accuracy of the thresholded probabilities and the
/// area under the ROC curve, the probability that a random positive scores above a random negative (ties count
/// half: the Mann-Whitney statistic).
public struct BinaryScores: Sendable, Equatable, Codable {
    public var accuracy: Double
    /// nil when the truth holds only one class.
    public var auc: Double?
    public var count: Int

    /// `probabilities` of class 1 against `truth` (0 or 1); a probability of at least `threshold` predicts 1.
    public init(probabilities: [Double], truth: [Int], threshold: Double = 0.5) {
        precondition(probabilities.count == truth.count, "one probability per label")
        count = truth.count
        accuracy = truth.isEmpty ? 0 : Double(zip(probabilities, truth).filter { ($0 >= threshold ? 1 : 0) == $1 }.count) / Double(truth.count)
        let positives = zip(probabilities, truth).filter { $1 == 1 }.map(\.0), negatives = zip(probabilities, truth).filter { $1 == 0 }.map(\.0)
        guard !positives.isEmpty, !negatives.isEmpty else { auc = nil; return }
        var wins = 0.0
        for p in positives { for n in negatives { wins += p > n ? 1 : (p == n ? 0.5 : 0) } }
        auc = wins / Double(positives.count * negatives.count)
    }
}

/// A figure over folds or seeds: its values, their mean and sample standard deviation (0 for one value).
public struct Spread: Sendable, Equatable, Codable {
    public var values: [Double]
    public var mean: Double
    public var deviation: Double

    public init(_ values: [Double]) {
        self.values = values
        mean = values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
        let m = mean
        deviation = values.count < 2 ? 0 : (values.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(values.count - 1)).squareRoot()
    }
}
