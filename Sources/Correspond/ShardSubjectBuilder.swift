import Imaging
import TacoCore
import Shards

/// Puts a prepared session and its atlas map together as a shard subject (docs/shard-format.md).
public enum ShardSubjectBuilder {
    public static func subject(_ session: PreparedSession, map: AtlasMapping.Result) -> ShardSubject {
        let g = session.mask.geometry
        var image: [Float] = []
        image.reserveCapacity(session.modalities.count * g.voxelCount)
        for modality in session.modalities { image += session.volumes[modality]!.voxels }
        return ShardSubject(key: session.key, modalities: session.modalities, size: g.size, image: image,
                            mask: session.mask.voxels.map { $0 > 0 ? 1 : 0 }, affine: g.indexToRAS.rowMajor4x4,
                            spacing: [g.spacing.x, g.spacing.y, g.spacing.z], tokenGridSize: map.tokenGridSize,
                            atlasCoords: map.atlasCoords, atlasLabels: map.atlasLabels, confidence: map.confidence,
                            metrics: map.metrics, flags: map.flags)
    }
}
