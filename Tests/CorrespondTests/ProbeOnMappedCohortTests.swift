import Foundation
import Testing
@testable import Train

/// A short pre-training run on shards of the registered synthetic cohort (MappedCohort: two subjects,
/// 2 mm voxels), then the linear probe of the atlas tissue labels: fitted on one subject's frozen
/// features, scored on the other's. Training must beat the same network at its random initialisation.
@Suite(.serialized) struct ProbeOnMappedCohortTests {
    @Test func preTrainingBeatsRandomInitialisationOnTheHeldOutSubject() throws {
        let shards = try StreamOnMappedCohortTests.shards()
        var configuration = TrainingConfiguration()
        configuration.steps = 40
        configuration.crop = [32, 32, 32]
        configuration.warmupSteps = 5
        configuration.checkpointEvery = 40
        configuration.learningRate = 3e-3
        configuration.model = ModelConfiguration(channels: [8, 16, 32], groups: 4, tokenStage: 2)
        let run = shards.appendingPathComponent("run")
        try Trainer(shards: shards, run: run, configuration: configuration, resume: false).run()
        let probe = try ProbeRun(shards: shards, heldOut: 1)
        #expect(probe.heldOutKeys == ["sub-1_ses-1"] && probe.modality == "T1w")
        let trained = try probe.evaluate(try TrainedModel(contentsOf: run), name: "trained")
        let random = try probe.evaluate(try TrainedModel.initial(configuration), name: "random")
        print("probe: trained accuracy \(trained.scores.accuracy) mean Dice \(trained.scores.meanDice); random \(random.scores.accuracy) / \(random.scores.meanDice); \(trained.heldOutTokens) tokens")
        #expect(trained.heldOutTokens > 100)
        // Accuracy is dominated by the largest class (measured +0.017 here on the greedy registration's labels, +0.025
        // on SyN's); mean Dice, which weighs the three classes alike, carries the margin (+0.175 and +0.18).
        #expect(trained.scores.accuracy >= random.scores.accuracy + 0.01)
        #expect(trained.scores.meanDice >= random.scores.meanDice + 0.1)

        // taco evaluate's comparison: the same budget with reconstruction only, and both against random init,
        // leave-one-subject-out on its two modalities (T1w and T2w).
        var baseline = configuration
        baseline.loss = TrainingConfiguration.Ablation.reconstructionOnly.applied(to: configuration.loss)
        let baselineRun = shards.appendingPathComponent("run-reconstruction-only")
        try Trainer(shards: shards, run: baselineRun, configuration: baseline, resume: false).run()
        let evaluation = try EvaluationRun(shards: shards, folds: 2)
        let taco = try evaluation.evaluate(try TrainedModel(contentsOf: run), name: "TACO")
        let reconstruction = try TrainedModel(contentsOf: baselineRun)
        #expect(reconstruction.configuration.ablation == .reconstructionOnly && reconstruction.configuration.loss.reconstruction == 1)
        let ablated = try evaluation.evaluate(reconstruction, name: "reconstruction only", ablation: reconstruction.configuration.ablation?.rawValue)
        let initial = try evaluation.evaluate(try TrainedModel.initial(configuration), name: "random init")
        let report = EvaluationReport(run: evaluation, shards: shards, synthetic: true, results: [taco, ablated, initial])
        #expect(report.results.map(\.model) == ["TACO", "reconstruction only", "random init"] && report.results[1].ablation == "reconstruction-only")
        for input in evaluation.inputs {
            let figures = report.results.map { $0.figure("tissue, linear probe", "mean Dice", input)!.spread.mean }
            print("evaluate, tissue linear probe mean Dice, \(input): TACO \(figures[0]), reconstruction only \(figures[1]), random \(figures[2])")
        }
        let dice = { (r: EvaluationRun.Result) in r.figure("tissue, linear probe", "mean Dice", "both")!.spread.mean }
        #expect(dice(taco) >= dice(initial) + 0.03)
        // The default weights (1/0.1/0.1) against reconstruction only at this budget: level (measured +0.002; the
        // paper's 1/10/10 were 0.018 below). Their gain, +0.015 to +0.028 on each of three seeds, shows at the demo's
        // budget (docs/method-study.md); here the test holds them to not losing to reconstruction alone.
        #expect(dice(taco) >= dice(ablated) - 0.01, "TACO \(dice(taco)), reconstruction only \(dice(ablated))")
    }
}
