import Foundation
import TacoCore

/// The loss curves of a run as a PNG (`RUN/loss.png`, redrawn during training): the total and each weighted
/// term against the step, log scale, raw values dim and a moving average bright; decades and steps labelled.
/// Colours: total white, reconstruction red, intra green, inter blue (the legend says so in the picture).
public enum LossCurvePicture {
    static let width = 800, height = 420, left = 56, right = 16, top = 28, bottom = 30

    public static func draw(_ metrics: [StepMetrics], totalSteps: Int, weights: TrainingConfiguration.LossConfiguration) -> PNGImage {
        var picture = PNGImage(width: width, height: height, channels: 3)
        for i in stride(from: 0, to: picture.pixels.count, by: 3) { picture.pixels[i] = 24; picture.pixels[i + 1] = 24; picture.pixels[i + 2] = 28 }
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
            for column in left..<(left + plotWidth) { set(&picture, column, row, [60, 60, 66]) }
            text(&picture, "1e\(Int(decade))", x: 4, y: row - 5, colour: [170, 170, 170])
        }
        for row in top..<(top + plotHeight) { set(&picture, left, row, [120, 120, 120]) }
        for fraction in [0, 0.25, 0.5, 0.75, 1] {
            let step = Int(Double(totalSteps) * fraction), column = x(step)
            for row in (top + plotHeight)..<(top + plotHeight + 4) { set(&picture, column, row, [120, 120, 120]) }
            let label = "\(step)"
            text(&picture, label, x: min(width - 8 * label.count, max(0, column - 4 * label.count)), y: top + plotHeight + 8, colour: [170, 170, 170])
        }
        text(&picture, "step", x: width - right - 32, y: height - 12, colour: [130, 130, 130])

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
                if let p = previousRaw { line(&picture, from: p, to: raw, colour: dim) }
                previousRaw = raw
                average = average.map { (1 - smoothing) * $0 + smoothing * v } ?? v
                let smooth = (column, y(average!))
                if let p = previous { line(&picture, from: p, to: smooth, colour: colour) }
                previous = smooth
            }
            let legendX = left + 12 + index * 90
            for dx in 0..<14 { for dy in 0..<3 { set(&picture, legendX + dx, 12 + dy, colour) } }
            text(&picture, name, x: legendX + 18, y: 8, colour: colour)
        }
        return picture
    }

    private static func set(_ picture: inout PNGImage, _ x: Int, _ y: Int, _ colour: [UInt8]) {
        guard x >= 0, x < picture.width, y >= 0, y < picture.height else { return }
        let i = (y * picture.width + x) * 3
        picture.pixels[i] = colour[0]
        picture.pixels[i + 1] = colour[1]
        picture.pixels[i + 2] = colour[2]
    }

    private static func line(_ picture: inout PNGImage, from a: (Int, Int), to b: (Int, Int), colour: [UInt8]) {
        let steps = max(abs(b.0 - a.0), abs(b.1 - a.1), 1)
        for s in 0...steps {
            let t = Double(s) / Double(steps)
            set(&picture, a.0 + Int((Double(b.0 - a.0) * t).rounded()), a.1 + Int((Double(b.1 - a.1) * t).rounded()), colour)
        }
    }

    /// 3 x 5 glyphs (rows top first, bit 2 = left column), drawn twice their size.
    private static let glyphs: [Character: [UInt8]] = [
        "0": [7, 5, 5, 5, 7], "1": [2, 6, 2, 2, 7], "2": [7, 1, 7, 4, 7], "3": [7, 1, 7, 1, 7], "4": [5, 5, 7, 1, 1],
        "5": [7, 4, 7, 1, 7], "6": [7, 4, 7, 5, 7], "7": [7, 1, 1, 1, 1], "8": [7, 5, 7, 5, 7], "9": [7, 5, 7, 1, 7],
        ".": [0, 0, 0, 0, 2], "-": [0, 0, 7, 0, 0], "e": [7, 4, 7, 4, 7], "t": [7, 2, 2, 2, 2], "o": [7, 5, 5, 5, 7],
        "a": [2, 5, 7, 5, 5], "l": [4, 4, 4, 4, 7], "r": [6, 5, 6, 5, 5], "c": [7, 4, 4, 4, 7], "n": [6, 5, 5, 5, 5],
        "i": [7, 2, 2, 2, 7], "s": [7, 4, 7, 1, 7], "p": [7, 5, 7, 4, 4],
    ]

    private static func text(_ picture: inout PNGImage, _ string: String, x: Int, y: Int, colour: [UInt8]) {
        for (index, character) in string.enumerated() {
            guard let rows = glyphs[character] else { continue }
            for (r, bits) in rows.enumerated() {
                for c in 0..<3 where bits & (4 >> c) != 0 {
                    for dy in 0..<2 { for dx in 0..<2 { set(&picture, x + index * 8 + 2 * c + dx, y + 2 * r + dy, colour) } }
                }
            }
        }
    }
}
