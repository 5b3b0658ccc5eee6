import Foundation
import Imaging
import TacoCore
import Testing
@testable import Correspond

/// The pieces of a correspond run with known answers: sizes, packing, the inverse map and warping.
@Suite struct CorrespondRunTests {
    @Test func shardSizesParseInBinaryAndDecimalUnits() {
        #expect(CorrespondOptions.parseSize("1GiB") == 1 << 30)
        #expect(CorrespondOptions.parseSize("500MB") == 500_000_000)
        #expect(CorrespondOptions.parseSize("64MiB") == 64 << 20)
        #expect(CorrespondOptions.parseSize("2G") == 2 << 30)
        #expect(CorrespondOptions.parseSize("1.5 GB") == 1_500_000_000)
        #expect(CorrespondOptions.parseSize("123456") == 123_456)
        #expect(CorrespondOptions.parseSize("lots") == nil && CorrespondOptions.parseSize("-1MB") == nil && CorrespondOptions.parseSize("0") == nil)
    }

    @Test func packingFillsShardsUpToTheTargetInOrder() {
        let packer = ShardPacker(layout: CorrespondLayout(root: URL(fileURLWithPath: "/tmp/x")), index: 0, count: 1, targetBytes: 100,
                                 atlas: "a", tokenStride: 4, createdBy: "test")
        let sizes = [40, 50, 20, 150, 30, 30, 30, 10]
        let sources = sizes.enumerated().map { ShardPacker.Source(key: "k\($0.offset)", shard: URL(fileURLWithPath: "/tmp/w"), bytes: $0.element) }
        let groups = packer.groups(sources).map { $0.map(\.bytes) }
        // 40+50 = 90 (adding 20 would make 110); 20 alone (150 would overflow); 150 alone (larger than the target); 30+30+30+10 = 100.
        #expect(groups == [[40, 50], [20], [150], [30, 30, 30, 10]])
        #expect(packer.groups([]).isEmpty)
        #expect(CorrespondLayout.shardName(number: 3, index: 0, count: 1) == "shard-00003.h5")
        #expect(CorrespondLayout.shardName(number: 12, index: 1, count: 4) == "shard-2of4-00012.h5")
    }

    /// A map with a known affine (a translation of (5, -3, 2) mm) and a constant displacement of (1, 0, 0) mm, whose
    /// inverse is (-1, 0, 0): a subject point p is atlas point p + (6, -3, 2).
    static func knownMap(grid: Geometry) -> AtlasMapping.Result {
        let u = VectorField(geometry: grid) { _ in Vector3(1, 0, 0) }, v = VectorField(geometry: grid) { _ in Vector3(-1, 0, 0) }
        return AtlasMapping.Result(tokenGridSize: [1, 1, 1], atlasCoords: [0, 0, 0], atlasLabels: [0], confidence: [0],
                                   affine: AffineTransform3D(translation: Vector3(5, -3, 2)), displacement: u, inverseDisplacement: v,
                                   metrics: [:], flags: [], seconds: [:])
    }

    @Test func theInverseMapUndoesTheForwardMap() {
        let grid = Geometry(size: [30, 30, 30], spacing: Vector3(2, 2, 2), origin: Vector3(-30, -30, -30))
        let map = Self.knownMap(grid: grid)
        let p = Vector3(3.5, -7, 10)
        #expect(length(map.atlasPoint(of: p) - (p + Vector3(6, -3, 2))) < 1e-9)
        #expect(length(map.subjectPoint(ofAtlas: map.atlasPoint(of: p)) - p) < 1e-9)
    }

    @Test func aMarkerWarpedToTheAtlasLandsAtItsAtlasPoint() throws {
        let subjectGrid = Geometry(size: [40, 40, 40], spacing: Vector3(1, 1, 1), origin: Vector3(-20, -20, -20))
        var subject = Volume(geometry: subjectGrid)
        subject.voxels[subjectGrid.offset(22, 17, 25)] = 100          // LPS (2, -3, 5)
        let map = Self.knownMap(grid: subjectGrid)
        let atlasGrid = Geometry(size: [50, 50, 50], spacing: Vector3(1, 1, 1), origin: Vector3(-25, -25, -25))
        let warped = try map.warpedToAtlas(subject, onto: atlasGrid)
        let expected = atlasGrid.continuousIndex(ofPoint: Vector3(2, -3, 5) + Vector3(6, -3, 2))   // (33, 19, 32)
        let peak = warped.indexOfMaximum
        #expect(peak == SIMD3<Int>(Int(expected.x.rounded()), Int(expected.y.rounded()), Int(expected.z.rounded())), "\(peak) vs \(expected)")
        #expect(abs(warped[peak.x, peak.y, peak.z] - 100) < 1e-3)
    }
}
