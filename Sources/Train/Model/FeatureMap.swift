/// Activations of a 3D network: `channels` x `batch` x z x y x x, x fastest ("channel-major").
///
/// Channel-major rather than PyTorch's batch-major (N, C, D, H, W) so that a convolution over the whole batch
/// writes one row-major `channels x (batch * voxels)` matrix: GEMM's output needs no reshuffle. A PyTorch
/// tensor of the same values is `map.values` viewed as (C, N, D, H, W) and permuted to (N, C, D, H, W).
public struct FeatureMap<Scalar: BLASScalar>: Sendable, Equatable {
    public let channels: Int
    public let batch: Int
    /// Voxels per axis (x, y, z).
    public let size: SIMD3<Int>
    public var values: [Scalar]

    public init(channels: Int, batch: Int, size: SIMD3<Int>, values: [Scalar]) {
        precondition(values.count == channels * batch * size.x * size.y * size.z,
                     "a \(channels) x \(batch) x \(size) map needs \(channels * batch * size.x * size.y * size.z) values, not \(values.count)")
        self.channels = channels
        self.batch = batch
        self.size = size
        self.values = values
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public init(zeros channels: Int, batch: Int, size: SIMD3<Int>) {
        self.init(channels: channels, batch: batch, size: size,
                  values: [Scalar](repeating: 0, count: channels * batch * size.x * size.y * size.z))
    }

    /// Voxels of one sample in one channel.
    public var voxels: Int { size.x * size.y * size.z }

    /// Where sample `n`'s channel `c` starts in `values`.
    public func offset(channel c: Int, sample n: Int) -> Int { (c * batch + n) * voxels }

    /// Sample `n` as a tokens x channels matrix (position-major: row t = voxel t of the map), the layout of
    /// `Z` of docs/design.md §2.
    public func tokens(ofSample n: Int) -> Matrix<Scalar> {
        var out = Matrix<Scalar>(zeros: voxels, channels)
        for c in 0..<channels {
            let base = offset(channel: c, sample: n)
            for t in 0..<voxels { out.values[t * channels + c] = values[base + t] }
        }
        return out
    }

    /// Writes a tokens x channels matrix back as sample `n` (the inverse of ``tokens(ofSample:)``).
    public mutating func setTokens(_ matrix: Matrix<Scalar>, ofSample n: Int) {
        precondition(matrix.rows == voxels && matrix.columns == channels, "a \(voxels) x \(channels) matrix is needed")
        for c in 0..<channels {
            let base = offset(channel: c, sample: n)
            for t in 0..<voxels { values[base + t] = matrix.values[t * channels + c] }
        }
    }
}
