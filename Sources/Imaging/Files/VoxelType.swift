import CITKBridge

/// The type a file stores its voxels as.
public enum VoxelType: String, Sendable, CaseIterable {
    case uint8, int8, uint16, int16, uint32, int32, uint64, int64, float32, float64, unknown

    init(_ c: taco_voxel_type) {
        switch c {
        case TACO_VOXEL_UINT8: self = .uint8
        case TACO_VOXEL_INT8: self = .int8
        case TACO_VOXEL_UINT16: self = .uint16
        case TACO_VOXEL_INT16: self = .int16
        case TACO_VOXEL_UINT32: self = .uint32
        case TACO_VOXEL_INT32: self = .int32
        case TACO_VOXEL_UINT64: self = .uint64
        case TACO_VOXEL_INT64: self = .int64
        case TACO_VOXEL_FLOAT32: self = .float32
        case TACO_VOXEL_FLOAT64: self = .float64
        default: self = .unknown
        }
    }
}
