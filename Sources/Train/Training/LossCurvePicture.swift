import Foundation
import TacoCore

/// The loss curves of a run as a PNG (`RUN/loss.png`, redrawn during training): the total and each weighted
/// term against the step, log scale, raw values dim and a moving average bright; decades and steps labelled.
/// Colours: total white, reconstruction red, intra green, inter blue (the legend says so in the picture).
public enum LossCurvePicture {
    static let width = 800, height = 420, left = 56, right = 16, top = 28, bottom = 30

    public static func draw(_ metrics: [StepMetrics], totalSteps: Int, weights: TrainingConfiguration.LossConfiguration) -> PNGImage {
        var canvas = PlotCanvas(width: width, height: height, background: [24, 24, 28])
        let series: [(String, [UInt8], (StepMetrics) -> Double)] = [
            ("total", [240, 240, 240], { $0.loss }),
            ("recon", [235, 90, 80], { $0.reconstruction * weights.reconstruction }),
            ("intra", [90, 200, 100], { $0.intra * weights.intra }),
            ("inter", [90, 140, 240], { $0.inter * weights.inter }),
        ]
        let kept = metrics.filter { $0.skipped == nil }
        let positive = kept.flatMap { m in series.map { $0.2(m) } }.filter { $0 > 0 && $0.isFinite }
        let low = floor(log10(positive.min() ?? 0.01)), high = max(low + 1, ceil(log10(positive.max() ?? 1)))
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        func x(_ step: Int) -> Int { left + Int(Double(plotWidth - 1) * Double(step) / Double(max(1, totalSteps))) }
        func y(_ value: Double) -> Int { top + Int(Double(plotHeight - 1) * (high - log10(value)) / (high - low)) }

        // Axes, decade lines and labels.
        for decade in stride(from: low, through: high, by: 1) {
            let row = y(pow(10, decade))
            for column in left..<(left + plotWidth) { canvas.set(column, row, [60, 60, 66]) }
            canvas.text("1e\(Int(decade))", x: 4, y: row - 5, colour: [170, 170, 170])
        }
        for row in top..<(top + plotHeight) { canvas.set(left, row, [120, 120, 120]) }
        for fraction in [0, 0.25, 0.5, 0.75, 1] {
            let step = Int(Double(totalSteps) * fraction), column = x(step)
            for row in (top + plotHeight)..<(top + plotHeight + 4) { canvas.set(column, row, [120, 120, 120]) }
            let label = "\(step)"
            canvas.text(label, x: min(width - 8 * label.count, max(0, column - 4 * label.count)), y: top + plotHeight + 8, colour: [170, 170, 170])
        }
        canvas.text("step", x: width - right - 32, y: height - 12, colour: [130, 130, 130])

        // The moving average spans about a tenth of the run (2% to 30% weight on the newest step).
        let smoothing = min(0.3, max(0.02, 10 / Double(max(1, totalSteps))))
        for (index, (name, colour, value)) in series.enumerated() {
            let dim = colour.map { UInt8(Int($0) / 3 + 8) }
            var average: Double?, previous: (Int, Int)?, previousRaw: (Int, Int)?
            for m in kept {
                let v = value(m)
                guard v > 0, v.isFinite else { continue }
                let column = x(m.step)
                let raw = (column, y(v))
                if let p = previousRaw { canvas.line(from: p, to: raw, colour: dim) }
                previousRaw = raw
                average = average.map { (1 - smoothing) * $0 + smoothing * v } ?? v
                let smooth = (column, y(average!))
                if let p = previous { canvas.line(from: p, to: smooth, colour: colour) }
                previous = smooth
            }
            let legendX = left + 12 + index * 90
            for dx in 0..<14 { for dy in 0..<3 { canvas.set(legendX + dx, 12 + dy, colour) } }
            canvas.text(name, x: legendX + 18, y: 8, colour: colour)
        }
        return canvas.picture
    }
}
