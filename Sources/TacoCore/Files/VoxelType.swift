/// The type a file stores its voxels as.
public enum VoxelType: String, Sendable, CaseIterable {
    case uint8, int8, uint16, int16, uint32, int32, uint64, int64, float32, float64, unknown
}
