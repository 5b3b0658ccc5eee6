internal import CITKBridge
import TacoCore

// The C bridge's plain structs and enums as TacoCore's value types, both ways.

extension Geometry {
    init(_ c: taco_geometry) {
        self.init(size: SIMD3(Int(c.size.0), Int(c.size.1), Int(c.size.2)),
                  spacing: Vector3(c.spacing.0, c.spacing.1, c.spacing.2),
                  origin: Vector3(c.origin.0, c.origin.1, c.origin.2),
                  direction: Matrix3(rowMajor: withUnsafeBytes(of: c.direction) { Array($0.bindMemory(to: Double.self)) }))
    }

    var bridged: taco_geometry {
        var c = taco_geometry()
        c.size = (UInt32(size.x), UInt32(size.y), UInt32(size.z))
        c.spacing = (spacing.x, spacing.y, spacing.z)
        c.origin = (origin.x, origin.y, origin.z)
        let d = direction.rowMajor
        c.direction = (d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8])
        return c
    }
}

extension VoxelType {
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
