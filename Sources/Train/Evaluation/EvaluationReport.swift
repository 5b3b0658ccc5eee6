import Foundation
import TacoCore

/// What `taco evaluate` writes: `evaluation.json` (every figure with its spread over folds, the data it was
/// measured on, the cost) and `evaluation.png` (bars per task and run, with and without each modality).
public struct EvaluationReport: Sendable, Codable, Equatable {
    /// The data the figures come from.
    public struct Data: Sendable, Codable, Equatable {
        public var shards: String
        public var subjects: Int
        public var folds: Int
        public var modalities: [String]
        public var excluded: [String]
        public var labelledSubjects: Int
        public var synthetic: Bool
        /// What a reader must keep in mind about these figures.
        public var note: String

        enum CodingKeys: String, CodingKey {
            case shards, subjects, folds, modalities, excluded, synthetic, note
            case labelledSubjects = "labelled_subjects"
        }
    }

    public var data: Data
    public var inputs: [String]
    public var results: [EvaluationRun.Result]

    public init(run: EvaluationRun, shards: URL, synthetic: Bool, results: [EvaluationRun.Result]) {
        let subjects = run.keys.count
        var note = "Each figure is the mean over \(run.folds.count) folds of held-out subjects (\(subjects) subjects in all), with the standard deviation "
            + "over folds; with this few subjects a difference smaller than the deviations is not a finding."
        if synthetic {
            note += " The data are synthetic (taco synth): every subject is the same atlas anatomy under a smooth warp, with a simulated lesion in some, "
                + "so they lack the inter-subject variability of real brains (docs/synth.md); figures here test the pipeline, not the method's value on patients."
        }
        data = Data(shards: shards.path, subjects: subjects, folds: run.folds.count, modalities: run.modalities, excluded: run.excluded,
                    labelledSubjects: run.classLabels.count, synthetic: synthetic, note: note)
        inputs = run.inputs
        self.results = results
    }

    public func json() throws -> Foundation.Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return try encoder.encode(self)
    }

    /// Bars: one group per task and metric, in it one cluster per encoder, one bar per input (both modalities
    /// bright, each missing modality dimmer), whiskers one standard deviation; scores on a 0-1 axis.
    public func picture() -> PNGImage {
        let groups = results.first.map { r in
            r.figures.reduce(into: [(String, String)]()) { out, f in if !out.contains(where: { $0 == (f.task, f.metric) }) { out.append((f.task, f.metric)) } }
        } ?? []
        let palette: [PlotCanvas.Colour] = [[240, 160, 60], [90, 170, 240], [150, 150, 150], [110, 210, 120], [220, 100, 200]]
        let barWidth = 10, clusterGap = 8, groupGap = 36, left = 44, top = 56, plot = 220, bottom = 84
        let cluster = inputs.count * barWidth
        let groupWidth = results.count * cluster + (results.count - 1) * clusterGap
        let notes = [(data.synthetic ? "synthetic data, " : "") + "\(data.subjects) subjects, \(data.folds) folds; probe, head: tissue; lesion: lesion tokens; class: subjects",
                     "bright: both modalities; dim: " + inputs.dropFirst().joined(separator: ", ") + "; whiskers: sd over folds"]
        let width = max(640, left + groups.count * (groupWidth + groupGap) + 20, left + 24 + (notes.map(PlotCanvas.textWidth).max() ?? 0))
        let height = top + plot + bottom
        var canvas = PlotCanvas(width: width, height: height, background: [24, 24, 28])
        func y(_ v: Double) -> Int { top + plot - Int((Double(plot) * min(1, max(0, v))).rounded()) }
        for tick in [0.0, 0.25, 0.5, 0.75, 1.0] {
            for x in left..<(width - 10) { canvas.set(x, y(tick), [55, 55, 60]) }
            canvas.text(String(format: "%.2f", tick), x: 2, y: y(tick) - 5, colour: [170, 170, 170])
        }
        for (g, group) in groups.enumerated() {
            let x0 = left + 12 + g * (groupWidth + groupGap)
            for (r, result) in results.enumerated() {
                for (i, input) in inputs.enumerated() {
                    guard let figure = result.figure(group.0, group.1, input) else { continue }
                    let shade = i == 0 ? 1.0 : 0.45
                    let colour = palette[r % palette.count].map { UInt8(Double($0) * shade) }
                    let x = x0 + r * (cluster + clusterGap) + i * barWidth
                    canvas.fill(x, y(0), x + barWidth - 2, y(figure.spread.mean), colour: colour)
                    let low = y(figure.spread.mean - figure.spread.deviation), high = y(figure.spread.mean + figure.spread.deviation)
                    canvas.line(from: (x + barWidth / 2 - 1, low), to: (x + barWidth / 2 - 1, high), colour: [235, 235, 235])
                }
            }
            // Short names: a group is only as wide as its bars.
            let short = ["tissue, linear probe": "probe", "tissue, trained head": "head", "lesion tokens, few-shot": "lesion", "classification": "class"]
            let metric = ["mean Dice": "dice", "AUC (out of fold)": "auc", "accuracy": "acc", "Dice": "dice"]
            canvas.text(short[group.0] ?? group.0, x: x0, y: top + plot + 8, colour: [200, 200, 200])
            canvas.text(metric[group.1] ?? group.1, x: x0, y: top + plot + 22, colour: [150, 150, 150])
        }
        var legendX = left + 12, legendRow = 8
        for (r, result) in results.enumerated() {
            let name = String(result.model.prefix(40)), span = 18 + PlotCanvas.textWidth(name) + 24
            if legendX + span > width { legendX = left + 12; legendRow += 14 }
            canvas.fill(legendX, legendRow + 2, legendX + 12, legendRow + 8, colour: palette[r % palette.count])
            canvas.text(name, x: legendX + 18, y: legendRow, colour: palette[r % palette.count])
            legendX += span
        }
        canvas.text(notes[0], x: left + 12, y: height - 32, colour: [150, 150, 150])
        canvas.text(notes[1], x: left + 12, y: height - 16, colour: [150, 150, 150])
        return canvas.picture
    }
}
