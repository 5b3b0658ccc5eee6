import TacoCore
import Foundation

/// Token features of a whole volume from a trained encoder (`taco embed`, `taco probe`).
///
/// The volume (zero-padded to the model's deepest stride) is cut into overlapping windows of `tile` voxels;
/// each window's tokens within `margin` of an inner window edge are dropped, so that every kept token saw
/// at least `margin` voxels of real context on every side that has any. Windows are 160 voxels (or the
/// training crop, if larger) by default: a 1 mm brain is 4 windows, each the whole encoder in one pass
/// (about 1.5 GB at 16 channels, released layer by layer).
public struct TokenEmbedder: Sendable {
    public let trained: TrainedModel
    public let tile: Int
    public let margin: Int

    public init(_ trained: TrainedModel, tile: Int? = nil) {
        self.trained = trained
        let m = trained.configuration.model.sizeMultiple
        margin = max(1, (16 + m - 1) / m) * m
        let wanted = tile ?? max(160, trained.configuration.cropSize.max())
        self.tile = max(((wanted + m - 1) / m) * m, 2 * margin + m)
    }

    /// Token features on the volume's token grid (token (i, j, k) covers voxels [i s, (i + 1) s) and so on).
    public struct Features: Sendable, Equatable {
        /// Tokens per axis (x, y, z) and voxels per token.
        public let grid: SIMD3<Int>
        public let stride: Int
        /// Tokens x channels, position-major (t = (k * gy + j) * gx + i).
        public var values: Matrix<Float>
    }

    /// Windows along one axis of `padded` voxels: (window start, kept range).
    func windows(_ padded: Int) -> [(start: Int, kept: Range<Int>)] {
        guard padded > tile else { return [(0, 0..<padded)] }
        var starts = Array(Swift.stride(from: 0, to: padded - tile, by: tile - 2 * margin))
        starts.append(padded - tile)
        var out: [(Int, Range<Int>)] = [], keptFrom = 0
        for (w, s) in starts.enumerated() {
            let end = w == starts.count - 1 ? padded : s + tile - margin
            out.append((s, keptFrom..<end))
            keptFrom = end
        }
        return out
    }

    /// The token grid of a volume of `size` voxels (zero-padded to the deepest stride, then every token stride).
    public func grid(for size: SIMD3<Int>) -> SIMD3<Int> {
        let m = trained.configuration.model.sizeMultiple
        return ((size &+ (m - 1)) / m) &* m / trained.configuration.model.tokenStride
    }

    public func embed(_ voxels: [Float], size: SIMD3<Int>) throws -> Features {
        precondition(voxels.count == size.x * size.y * size.z, "\(voxels.count) voxels for size \(size)")
        let m = trained.configuration.model.sizeMultiple, s = trained.configuration.model.tokenStride
        let padded = ((size &+ (m - 1)) / m) &* m
        let grid = grid(for: size), channels = trained.configuration.model.tokenChannels
        var features = Matrix<Float>(zeros: grid.x * grid.y * grid.z, channels)
        let wx = windows(padded.x), wy = windows(padded.y), wz = windows(padded.z)
        for z in wz { for y in wy { for x in wx {
            let start = SIMD3(x.start, y.start, z.start)
            let window = SIMD3(min(tile, padded.x), min(tile, padded.y), min(tile, padded.z))
            var input = [Float](repeating: 0, count: window.x * window.y * window.z)
            for k in 0..<window.z where start.z + k < size.z {
                for j in 0..<window.y where start.y + j < size.y {
                    let from = ((start.z + k) * size.y + start.y + j) * size.x + start.x, count = max(0, min(window.x, size.x - start.x))
                    for i in 0..<count { input[(k * window.y + j) * window.x + i] = voxels[from + i] }
                }
            }
            let map = FeatureMap(channels: 1, batch: 1, size: window, values: input)
            let tokens = try trained.model.forward(map, parameters: trained.parameters, through: trained.model.tokenNode, keepingAll: false).output(of: trained.model.tokenNode)
            let tg = window / s
            for tk in (z.kept.lowerBound / s)..<(z.kept.upperBound / s) {
                for tj in (y.kept.lowerBound / s)..<(y.kept.upperBound / s) {
                    for ti in (x.kept.lowerBound / s)..<(x.kept.upperBound / s) {
                        let local = ((tk - start.z / s) * tg.y + (tj - start.y / s)) * tg.x + (ti - start.x / s)
                        let row = (tk * grid.y + tj) * grid.x + ti
                        for c in 0..<channels { features.values[row * channels + c] = tokens.values[c * tokens.voxels + local] }
                    }
                }
            }
        } } }
        return Features(grid: grid, stride: s, values: features)
    }
}

extension TokenEmbedder.Features {
    /// The features as a safetensors file (`taco embed`): tensor `tokens` of shape (z, y, x, channels), and in
    /// the metadata the token stride and `token_to_ras`, the row-major 4 x 4 matrix taking a token index
    /// (i, j, k) to the RAS mm of its centre, given the volume's voxel-index-to-RAS matrix.
    public func safeTensors(voxelToRAS: AffineTransform3D, metadata: [String: String]) -> SafeTensors {
        let centre = Vector3(repeating: Double(stride - 1) / 2)
        let scaled = AffineTransform3D(linear: voxelToRAS.linear * Matrix3(diagonal: Vector3(repeating: Double(stride))),
                                       translation: voxelToRAS.apply(to: centre))
        var meta = metadata
        meta["token_stride"] = String(stride)
        meta["token_to_ras"] = "[" + scaled.rowMajor4x4.map { String($0) }.joined(separator: ", ") + "]"
        return SafeTensors(tensors: [.init(name: "tokens", shape: [grid.z, grid.y, grid.x, values.columns], values: values.values)], metadata: meta)
    }
}
