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
        #expect(trained.scores.accuracy >= random.scores.accuracy + 0.03)
        #expect(trained.scores.meanDice >= random.scores.meanDice + 0.03)
    }
}
