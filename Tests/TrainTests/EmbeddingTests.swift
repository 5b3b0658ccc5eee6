import Foundation
import TacoCore
import Testing
@testable import Train

/// `taco embed`'s windows, the token grid's geometry and the probe's classifier and scores, against answers
/// worked out by hand.
@Suite struct EmbeddingTests {
    static func model(channels: [Int] = [2, 4], crop: Int = 16) throws -> TrainedModel {
        var c = TrainingConfiguration()
        c.crop = [crop, crop, crop]
        c.model = ModelConfiguration(channels: channels, groups: 2)
        return try TrainedModel.initial(c)
    }

    @Test func windowsCoverEveryVoxelOnceWithContextAtInnerEdges() throws {
        let embedder = TokenEmbedder(try Self.model(), tile: 64)
        #expect(embedder.margin == 16 && embedder.tile == 64)
        for padded in [2, 64, 66, 100, 130, 200] {
            let windows = embedder.windows(padded)
            #expect(windows.first!.kept.lowerBound == 0 && windows.last!.kept.upperBound == padded)
            for (a, b) in zip(windows, windows.dropFirst()) { #expect(a.kept.upperBound == b.kept.lowerBound) }
            for (w, window) in windows.enumerated() {
                #expect(window.start >= 0 && window.start + min(64, padded) <= padded)
                #expect(window.kept.lowerBound >= window.start && window.kept.upperBound <= window.start + min(64, padded))
                // Inner edges keep 16 voxels of context.
                if w > 0 { #expect(window.kept.lowerBound - window.start >= 16) }
                if w < windows.count - 1 { #expect(window.start + 64 - window.kept.upperBound >= 16) }
            }
        }
    }

    @Test func aVolumeInOneWindowGetsTheNetworksOwnTokens() throws {
        let trained = try Self.model()
        var rng = SeededGenerator(seed: 3)
        let size = SIMD3(10, 12, 6), voxels = (0..<(10 * 12 * 6)).map { _ in Float(rng.gaussian()) }
        let features = try TokenEmbedder(trained).embed(voxels, size: size)
        #expect(features.grid == SIMD3(5, 6, 3) && features.stride == 2 && features.values.columns == 4)
        // The same volume zero-padded to (10, 12, 6) -> multiples of 2 already: one pass of the network.
        let direct = try trained.model.forward(FeatureMap(channels: 1, batch: 1, size: size, values: voxels), parameters: trained.parameters)
            .output(of: trained.model.tokenNode).tokens(ofSample: 0)
        #expect(features.values == direct)
    }

    @Test func tokenToRASTakesATokenToItsBlocksCentre() throws {
        // Voxel (i, j, k) -> RAS: x = -2 i + 100, y = 3 j - 50, z = 1.5 k + 7 (a flipped axis, anisotropic voxels).
        let affine = AffineTransform3D(rowMajor4x4: [-2, 0, 0, 100, 0, 3, 0, -50, 0, 0, 1.5, 7, 0, 0, 0, 1])
        let features = TokenEmbedder.Features(grid: SIMD3(2, 2, 2), stride: 4, values: Matrix(zeros: 8, 3))
        let file = features.safeTensors(voxelToRAS: affine, metadata: [:])
        let matrix = try JSONSerialization.jsonObject(with: Data(file.metadata["token_to_ras"]!.utf8)) as! [Double]
        // Token (1, 0, 1) covers voxels 4..7 x 0..3 x 4..7: its centre is voxel (5.5, 1.5, 5.5).
        let t = SIMD4<Double>(1, 0, 1, 1)
        let ras = (0..<3).map { r in (0..<4).reduce(0.0) { $0 + matrix[4 * r + $1] * t[$1] } }
        let expected: [Double] = [89, -45.5, 15.25]      // -2 * 5.5 + 100, 3 * 1.5 - 50, 1.5 * 5.5 + 7
        #expect(ras == expected)
        #expect(file.tensor("tokens")?.shape == [2, 2, 2, 3] && file.metadata["token_stride"] == "4")
    }

    @Test func theProbeSeparatesSeparableClassesAndScoresByHand() {
        // Three classes along one feature, with a nuisance feature.
        var rng = SeededGenerator(seed: 8)
        var values: [Float] = [], labels: [Int] = []
        for i in 0..<300 {
            let label = i % 3
            values += [Float(label * 4) + Float(rng.gaussian()) * 0.5, Float(rng.gaussian())]
            labels.append(label)
        }
        let probe = LinearProbe(features: Matrix(rows: 300, columns: 2, values: values), labels: labels, classes: 3)
        #expect(SegmentationScores(predicted: probe.predict(Matrix(rows: 300, columns: 2, values: values)), truth: labels, classes: 3).accuracy > 0.97)
        // Dice by hand: class 0 predicted at tokens {0, 1}, true at {0, 2}: 2 * 1 / (2 + 2); class 1 predicted {2}, true {1}: 0;
        // class 2 predicted {3}, true {3}: 1. Accuracy: tokens 0 and 3 of 4.
        let scores = SegmentationScores(predicted: [0, 0, 1, 2], truth: [0, 1, 0, 2], classes: 3)
        #expect(scores.accuracy == 0.5)
        #expect(scores.dice[0] == 0.5 && scores.dice[1] == 0 && scores.dice[2] == 1)
        #expect(abs(scores.meanDice - 0.5) < 1e-12)
    }
}
