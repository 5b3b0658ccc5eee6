import Foundation
import Testing
import TacoCore
@testable import Train

/// taco evaluate's parts against hand-computed answers: the scores, the spread, the trained head (which must
/// separate what no linear probe can), the missing-modality inputs, the labels file, and a whole evaluation.
@Suite struct EvaluationTests {
    @Test func binaryScoresMatchHandComputedCases() {
        let perfect = BinaryScores(probabilities: [0.1, 0.2, 0.8, 0.9], truth: [0, 0, 1, 1])
        #expect(perfect.accuracy == 1 && perfect.auc == 1)
        // The ROC example of the literature: one positive (0.35) ranks below one negative (0.4): AUC 3/4.
        let example = BinaryScores(probabilities: [0.1, 0.4, 0.35, 0.8], truth: [0, 0, 1, 1])
        #expect(example.accuracy == 0.75 && example.auc == 0.75)
        // A constant predictor: every pair ties (AUC 1/2) and every subject is called positive.
        let constant = BinaryScores(probabilities: [0.5, 0.5, 0.5, 0.5, 0.5], truth: [0, 1, 1, 0, 1])
        #expect(constant.accuracy == 0.6 && constant.auc == 0.5)
        #expect(BinaryScores(probabilities: [0.3, 0.7], truth: [1, 1]).auc == nil)
    }

    @Test func segmentationScoresOfAConstantPredictor() {
        let scores = SegmentationScores(predicted: [0, 0, 0, 0], truth: [0, 0, 1, 2], classes: 3)
        #expect(scores.accuracy == 0.5)
        #expect(scores.dice[0] == 2.0 * 2 / 6 && scores.dice[1] == 0 && scores.dice[2] == 0)
        #expect(abs(scores.meanDice - 2.0 / 9) < 1e-12)
        #expect(SegmentationScores(predicted: [2, 1, 0], truth: [2, 1, 0], classes: 3).meanDice == 1)
    }

    @Test func spreadIsTheMeanAndSampleDeviation() {
        let s = Spread([1, 2, 3])
        #expect(s.mean == 2 && s.deviation == 1)
        #expect(Spread([0.7]).deviation == 0)
    }

    /// XOR of the signs of two features: no linear boundary separates it, one hidden layer does.
    @Test func theTrainedHeadSeparatesWhatALinearProbeCannot() {
        var rng = SeededGenerator(seed: 2)
        var values: [Float] = [], labels: [Int] = []
        for _ in 0..<400 {
            let a = rng.uniform(-1...1), b = rng.uniform(-1...1)
            values += [Float(a), Float(b)]
            labels.append((a > 0) != (b > 0) ? 1 : 0)
        }
        let x = Matrix(rows: 400, columns: 2, values: values)
        let head = FeatureHead(features: x, labels: labels, classes: 2, hidden: 16, iterations: 400, rate: 0.05)
        let probe = LinearProbe(features: x, labels: labels, classes: 2)
        let headAccuracy = SegmentationScores(predicted: head.predict(x), truth: labels, classes: 2).accuracy
        let probeAccuracy = SegmentationScores(predicted: probe.predict(x), truth: labels, classes: 2).accuracy
        #expect(headAccuracy > 0.9, "head \(headAccuracy)")
        #expect(probeAccuracy < 0.7, "probe \(probeAccuracy)")
        let p = head.probabilities(x)
        #expect((0..<p.rows).allSatisfy { abs(p[$0, 0] + p[$0, 1] - 1) < 1e-5 })
    }

    /// With a modality missing the head sees the other modality's embedding alone; with both, their mean.
    @Test func aMissingModalityIsReallyRemovedFromTheInput() throws {
        let shards = try SyntheticShards(count: 4, perShard: 2)
        defer { shards.remove() }
        let run = try EvaluationRun(shards: shards.folder, folds: 2)
        #expect(run.modalities == ["T1w", "FLAIR"] && run.inputs == ["both", "without T1w", "without FLAIR"])
        var configuration = TrainingConfiguration()
        configuration.model = ModelConfiguration(channels: [4, 8], groups: 2, tokenStage: 1)
        let tokens = try run.tokens(of: shards.subjects[0].key, embedder: TokenEmbedder(try TrainedModel.initial(configuration)))
        let t1w = tokens.byModality[0], flair = tokens.byModality[1]
        #expect(t1w.values != flair.values)
        #expect(tokens.features(1) == flair && tokens.features(2) == t1w)
        let both = tokens.features(0)
        #expect(both.values.indices.allSatisfy { abs(both.values[$0] - 0.5 * (t1w.values[$0] + flair.values[$0])) < 1e-6 })
        #expect(both != t1w && both != flair)
        #expect(tokens.pooled(1).rows == 1 && tokens.pooled(1).columns == 8)
    }

    /// A 3 mm sphere at the centre of one 8 mm token (stride 4 at 2 mm voxels) marks that token only; one far
    /// outside marks none.
    @Test func lesionTokensAreTheTokensTheSphereFills() throws {
        let shards = try SyntheticShards(count: 2, perShard: 2)
        defer { shards.remove() }
        var configuration = TrainingConfiguration()
        configuration.model = ModelConfiguration(channels: [4, 8, 8], groups: 2, tokenStage: 2)
        let embedder = TokenEmbedder(try TrainedModel.initial(configuration))
        let dataset = try shards.dataset()
        let key = shards.subjects[0].key
        let reader = try dataset.reader(for: key)
        let d = try reader.describe(key)
        let brain = try BrainTokens(reader: reader, key: key, embedder: embedder)
        let grid = embedder.grid(for: d.size)
        let chosen = brain.rows[brain.rows.count / 2]
        let i = chosen % grid.x, j = (chosen / grid.x) % grid.y, k = chosen / (grid.x * grid.y)
        let v = SIMD3<Double>(Double(4 * i) + 1.5, Double(4 * j) + 1.5, Double(4 * k) + 1.5), a = d.affine
        let centre = SIMD3(a[0] * v.x + a[3], a[5] * v.y + a[7], a[10] * v.z + a[11])       // the affine is diagonal
        let marked = EvaluationRun.lesionTokens(brain, sphere: .init(centre: centre, radius: 3), description: d, embedder: embedder)
        #expect(marked.count == brain.rows.count && marked.reduce(0, +) == 1 && marked[brain.rows.count / 2] == 1)
        let none = EvaluationRun.lesionTokens(brain, sphere: .init(centre: centre + 500, radius: 5), description: d, embedder: embedder)
        #expect(none.allSatisfy { $0 == 0 })
    }

    /// A rare class (5%) that the features separate: the balanced probe finds it, the unweighted one barely does.
    @Test func theBalancedProbeFindsARareClass() {
        var rng = SeededGenerator(seed: 4)
        var values: [Float] = [], labels: [Int] = []
        for n in 0..<400 {
            let rare = n % 20 == 0
            values += [Float((rare ? 1.5 : 0.0) + rng.gaussian()), Float(rng.gaussian())]
            labels.append(rare ? 1 : 0)
        }
        let x = Matrix(rows: 400, columns: 2, values: values)
        func recall(_ probe: LinearProbe) -> Double {
            let p = probe.predict(x)
            return Double(zip(p, labels).filter { $0 == 1 && $1 == 1 }.count) / 20
        }
        let balanced = recall(LinearProbe(features: x, labels: labels, classes: 2, balanced: true))
        let plain = recall(LinearProbe(features: x, labels: labels, classes: 2))
        #expect(balanced >= 0.6 && plain <= 0.2, "balanced \(balanced), plain \(plain)")
    }

    @Test func subjectLabelsAreReadAndBadOnesNamed() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("taco-labels-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let good = folder.appendingPathComponent("labels.csv")
        try "subject,site,lesion\nsub-00_ses-1,a,1\nsub-01_ses-1,b,0\nsub-02_ses-1,b,\n".write(to: good, atomically: true, encoding: .utf8)
        #expect(try SubjectLabels.read(good, column: "lesion") == ["sub-00_ses-1": 1, "sub-01_ses-1": 0])
        #expect { try SubjectLabels.read(good, column: "grade") } throws: { "\($0)".contains("labels.csv") && "\($0)".contains("'grade'") }
        let bad = folder.appendingPathComponent("bad.csv")
        try "subject,label\nsub-00_ses-1,2\n".write(to: bad, atomically: true, encoding: .utf8)
        #expect { try SubjectLabels.read(bad, column: "label") } throws: { "\($0)".contains("line 2") && "\($0)".contains("'2'") }
    }

    /// A whole evaluation with subject labels: every task and input has a figure per fold, the classification's
    /// out-of-fold AUC is there, and the report's JSON and picture are written and read back.
    @Test func anEvaluationScoresEveryTaskWithAndWithoutEachModality() throws {
        let shards = try SyntheticShards(count: 6, perShard: 3)
        defer { shards.remove() }
        let labels = Dictionary(uniqueKeysWithValues: shards.subjects.enumerated().map { ($1.key, $0 % 2) })
        let run = try EvaluationRun(shards: shards.folder, folds: 3, classLabels: labels)
        #expect(run.folds.count == 3 && run.folds.allSatisfy { $0.count == 2 })
        var configuration = TrainingConfiguration()
        configuration.model = ModelConfiguration(channels: [4, 8, 8], groups: 2, tokenStage: 2)     // 720 tokens a subject
        let result = try run.evaluate(try TrainedModel.initial(configuration), name: "random init")
        for task in ["tissue, linear probe", "tissue, trained head"] {
            for input in run.inputs {
                let f = try #require(result.figure(task, "mean Dice", input))
                #expect(f.spread.values.count == 3 && f.spread.values.allSatisfy { (0...1).contains($0) })
            }
        }
        #expect(run.inputs.allSatisfy { result.figure("classification", "accuracy", $0)?.spread.values.count == 3 })
        #expect(run.inputs.allSatisfy { result.figure("classification", "AUC (out of fold)", $0) != nil })
        #expect(result.seconds["embedding"] ?? 0 > 0)
        let report = EvaluationReport(run: run, shards: shards.folder, synthetic: true, results: [result])
        let decoded = try JSONDecoder().decode(EvaluationReport.self, from: try report.json())
        #expect(decoded == report && decoded.data.note.contains("synthetic") && decoded.data.labelledSubjects == 6)
        let picture = report.picture()
        #expect(picture.width >= 640 && Set(picture.pixels).count > 5)
        #expect { try EvaluationRun(shards: shards.folder, classLabels: ["sub-99_ses-1": 1]) } throws: { "\($0)".contains("sub-99_ses-1") }
        // A label may name a subject (all its sessions) instead of a key; unknown ones may be dropped instead.
        let bySubject = try EvaluationRun(shards: shards.folder, classLabels: ["sub-01": 1, "sub-02_ses-1": 0, "sub-99": 1], ignoringUnknownLabels: true)
        #expect(bySubject.classLabels == ["sub-01_ses-1": 1, "sub-02_ses-1": 0])

        // Lesions in half the subjects: the lesion-token task is scored for each input.
        var lesions: [String: EvaluationRun.LesionSphere] = [:]
        for (n, subject) in shards.subjects.enumerated() where n % 2 == 1 {
            let a = subject.affine, v = SIMD3<Double>(20, 18, 16)
            lesions[subject.key] = .init(centre: SIMD3(a[0] * v.x + a[3], a[5] * v.y + a[7], a[10] * v.z + a[11]), radius: 7)
        }
        let withLesions = try EvaluationRun(shards: shards.folder, folds: 3, classLabels: labels, lesions: lesions)
        let lesionResult = try withLesions.evaluate(try TrainedModel.initial(configuration), name: "random init")
        #expect(withLesions.inputs.allSatisfy { lesionResult.figure("lesion tokens, few-shot", "Dice", $0) != nil })
    }

    /// The encoders a report names: a run folder and a checkpoint inside another run's checkpoints/ by their runs,
    /// the ablation from the weights, one random init per architecture, none when left out.
    @Test func encodersAreNamedByTheirRunsWithOneRandomInitPerArchitecture() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("taco-encoders-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        var taco = TrainingConfiguration()
        taco.model = ModelConfiguration(channels: [4, 8], groups: 2, tokenStage: 1)
        var reconstruction = taco
        reconstruction.loss.intra = 0
        reconstruction.loss.inter = 0
        func save(_ configuration: TrainingConfiguration, step: Int, to url: URL) throws {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            let model = try EncoderDecoder(configuration.model)
            let parameters = model.initialParameters(seed: 3)
            try TrainingCheckpoint(parameters: parameters, optimizer: AdamW(for: parameters), step: step, stream: StreamState(),
                                   consecutiveSkipped: 0, skipped: 0, configuration: configuration).weights().write(to: url)
        }
        let first = folder.appendingPathComponent("first"), second = folder.appendingPathComponent("second")
        try save(taco, step: 100, to: RunLayout(folder: first).weights)
        try save(reconstruction, step: 50, to: RunLayout(folder: second).checkpoint(step: 50))
        var other = taco
        other.model = ModelConfiguration(channels: [4, 8, 8], groups: 2, tokenStage: 2)
        let third = folder.appendingPathComponent("third.safetensors")
        try save(other, step: 7, to: third)
        let all = try EvaluatedEncoder.encoders([first, RunLayout(folder: second).checkpoint(step: 50), third], randomInit: true)
        #expect(all.map(\.name) == ["first (TACO, step 100)", "second (reconstruction-only, step 50)", "third.safetensors (TACO, step 7)",
                                    "random init", "random init 2"])
        #expect(all.map(\.ablation) == [nil, "reconstruction-only", nil, nil, nil])
        #expect(all[3].trained.step == 0 && all[4].trained.configuration.model == other.model)
        #expect(try EvaluatedEncoder.encoders([first], randomInit: false).map(\.name) == ["first (TACO, step 100)"])
    }
}
