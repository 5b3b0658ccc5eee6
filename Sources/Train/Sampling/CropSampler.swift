import TacoCore
import Shards

/// Cuts crop pairs out of the shards: two different modalities of a subject at
/// the same voxels, a crop centred on a mask voxel (or, for the other subjects of a batch, on the point of
/// their own grid nearest in atlas space to the first crop's centre, so that the crops cover the same
/// anatomy), the same flips and rotations on both views, independent intensity scale and shift.
/// Only the chunks under the crop are read (plus the subject's token-grid atlas map for an aligned crop).
public struct CropSampler: Sendable {
    public let dataset: ShardDataset
    public let options: SamplingOptions

    public init(dataset: ShardDataset, options: SamplingOptions) throws {
        try options.validate()
        self.dataset = dataset
        self.options = options
    }

    /// A crop pair of subject `key`; centred on a random mask voxel, or near `atlasPoint` (atlas RAS mm)
    /// when given. Returns the pair and its centre's atlas point (for aligning the batch's other crops).
    public func sample(_ key: String, near atlasPoint: SIMD3<Double>? = nil,
                       using rng: inout SeededGenerator) throws -> (pair: CropPair, centreAtlasPoint: SIMD3<Double>) {
        let reader = try dataset.reader(for: key)
        let d = try reader.describe(key)
        guard d.modalities.count >= 2 else { throw StreamError("\(reader.url.lastPathComponent), subject \(key): one modality; a crop pair needs two") }
        let orientation = CropOrientation.random(for: options.roi, flips: options.flips, rotations: options.rotations, using: &rng)
        let first = rng.integer(0...d.modalities.count - 1)
        var second = rng.integer(0...d.modalities.count - 2)
        if second >= first { second += 1 }

        let centre: SIMD3<Int>
        if let atlasPoint {
            centre = try nearestVoxel(to: atlasPoint, key: key, reader: reader, size: d.size)
        } else {
            centre = try maskVoxel(key: key, reader: reader, size: d.size, using: &rng)
        }
        let origin = Self.origin(centre: centre, roi: options.roi, size: d.size)

        var views = [try reader.imageBox(key, modality: first, origin: origin, size: options.roi),
                     try reader.imageBox(key, modality: second, origin: origin, size: options.roi)]
        var intensity: [[Double]] = []
        for v in 0..<2 {
            let scale = rng.uniform(options.intensityScale), shift = rng.uniform(options.intensityShift)
            intensity.append([scale, shift])
            let s = Float(scale), t = Float(shift)
            views[v] = orientation.apply(views[v].map { $0 * s + t }, size: options.roi)
        }

        let tokens = try tokenMaps(key: key, reader: reader, description: d, origin: origin)
        let grid = options.tokenGrid
        let centreAtlas = try atlasPoint ?? centreAtlasPoint(key: key, reader: reader, grid: d.tokenGridSize, voxel: centre)
        let pair = CropPair(key: key, shard: reader.url.lastPathComponent, modalities: [d.modalities[first], d.modalities[second]],
                            modalityIndices: [first, second], roi: options.roi, first: views[0], second: views[1], tokenGrid: grid,
                            tokenStride: options.tokenStride,
                            tokenAtlasCoordinates: orientation.apply(tokens.coordinates, size: grid, channels: 3),
                            tokenConfidence: orientation.apply(tokens.confidence, size: grid),
                            tokenLabels: orientation.apply(tokens.labels, size: grid),
                            tokenPoints: orientation.apply(tokens.points, size: grid, channels: 3), flags: d.flags,
                            spacing: d.spacing.reduce(0, +) / Double(max(d.spacing.count, 1)), centre: centre, origin: origin, orientation: orientation,
                            intensity: intensity)
        return (pair, centreAtlas)
    }

    /// The crop's first voxel for a crop centred at `centre`: kept inside the volume where the volume is
    /// large enough, centred on the volume (overhanging both sides equally) where it is not.
    static func origin(centre: SIMD3<Int>, roi: SIMD3<Int>, size: SIMD3<Int>) -> SIMD3<Int> {
        var origin = SIMD3<Int>.zero
        for a in 0..<3 {
            origin[a] = size[a] >= roi[a] ? min(max(centre[a] - roi[a] / 2, 0), size[a] - roi[a]) : (size[a] - roi[a]) / 2
        }
        return origin
    }

    /// A random voxel inside the mask (rejection sampling on single-voxel reads); the volume's centre if
    /// 200 draws find none (an empty mask).
    private func maskVoxel(key: String, reader: ShardReader, size: SIMD3<Int>, using rng: inout SeededGenerator) throws -> SIMD3<Int> {
        for _ in 0..<200 {
            let v = SIMD3(rng.integer(0...size.x - 1), rng.integer(0...size.y - 1), rng.integer(0...size.z - 1))
            if try reader.maskBox(key, origin: v, size: SIMD3(1, 1, 1))[0] != 0 { return v }
        }
        return size / 2
    }

    /// The voxel of the stored token whose atlas coordinates are nearest to `point`.
    private func nearestVoxel(to point: SIMD3<Double>, key: String, reader: ShardReader, size: SIMD3<Int>) throws -> SIMD3<Int> {
        let box = try reader.atlasBox(key)
        let n = box.labels.count
        guard n > 0 else { return size / 2 }
        let p = SIMD3<Float>(point)
        var best = 0, bestDistance = Float.infinity
        box.coordinates.withUnsafeBufferPointer { c in
            for t in 0..<n {
                let d = SIMD3(c[t], c[n + t], c[2 * n + t]) - p
                let squared = (d * d).sum()
                if squared < bestDistance { bestDistance = squared; best = t }
            }
        }
        let index = SIMD3(best % box.size.x, (best / box.size.x) % box.size.y, best / (box.size.x * box.size.y))
        return pointwiseMin(index &* reader.tokenStride, size &- 1)
    }

    private func centreAtlasPoint(key: String, reader: ShardReader, grid: SIMD3<Int>, voxel: SIMD3<Int>) throws -> SIMD3<Double> {
        let maps = try TokenMapInterpolator(reader: reader, key: key, grid: grid, from: SIMD3<Double>(voxel), to: SIMD3<Double>(voxel))
        let c = maps.coordinates(at: SIMD3<Double>(voxel))
        return SIMD3(Double(c.x), Double(c.y), Double(c.z))
    }

    /// Atlas coordinates, confidence, labels and own RAS points of the crop's token centres, before augmentation.
    private func tokenMaps(key: String, reader: ShardReader, description d: ShardReader.Description,
                           origin: SIMD3<Int>) throws -> (coordinates: [Float], confidence: [Float], labels: [UInt8], points: [Float]) {
        let s = Double(options.tokenStride), grid = options.tokenGrid
        let half = (s - 1) / 2
        let first = SIMD3<Double>(origin) + half, last = SIMD3<Double>(origin &+ (grid &- 1) &* options.tokenStride) + half
        let maps = try TokenMapInterpolator(reader: reader, key: key, grid: d.tokenGridSize, from: first, to: last)
        let count = grid.x * grid.y * grid.z
        var coordinates = [Float](repeating: 0, count: 3 * count), points = [Float](repeating: 0, count: 3 * count)
        var confidence = [Float](repeating: 0, count: count), labels = [UInt8](repeating: 0, count: count)
        let a = d.affine
        for k in 0..<grid.z { for j in 0..<grid.y { for i in 0..<grid.x {
            let t = (k * grid.y + j) * grid.x + i
            let voxel = SIMD3<Double>(origin) + SIMD3(Double(i), Double(j), Double(k)) * s + half
            let c = maps.coordinates(at: voxel)
            coordinates[3 * t] = c.x
            coordinates[3 * t + 1] = c.y
            coordinates[3 * t + 2] = c.z
            confidence[t] = maps.confidence(at: voxel)
            labels[t] = maps.label(at: voxel)
            for r in 0..<3 { points[3 * t + r] = Float(a[4 * r] * voxel.x + a[4 * r + 1] * voxel.y + a[4 * r + 2] * voxel.z + a[4 * r + 3]) }
        } } }
        return (coordinates, confidence, labels, points)
    }
}

/// A subject's stored token-grid maps (atlas coordinates, confidence, labels) read over the part that
/// covers voxels `from ... to`, and evaluated at any voxel position: trilinear for coordinates and
/// confidence, nearest token for labels; positions beyond the grid take the edge values.
struct TokenMapInterpolator {
    let box: ShardReader.AtlasBox
    let stride: Double
    let grid: SIMD3<Int>

    /// `grid`: the subject's stored token grid size (x', y', z').
    init(reader: ShardReader, key: String, grid: SIMD3<Int>, from: SIMD3<Double>, to: SIMD3<Double>) throws {
        stride = Double(reader.tokenStride)
        self.grid = grid
        let low = SIMD3<Int>((from / stride).rounded(.down)), high = SIMD3<Int>((to / stride).rounded(.down)) &+ 2
        let clampedLow = pointwiseMin(pointwiseMax(low, .zero), grid &- 1)
        box = try reader.atlasBox(key, origin: clampedLow, size: pointwiseMax(high &- clampedLow, SIMD3(1, 1, 1)))
        guard !box.labels.isEmpty else { throw StreamError("\(reader.url.lastPathComponent), subject \(key): no stored atlas map") }
    }

    /// Index into the box of grid index `g` (clamped to the grid and the box).
    private func local(_ g: SIMD3<Int>) -> Int {
        let c = pointwiseMin(pointwiseMax(g &- box.origin, .zero), box.size &- 1)
        return (c.z * box.size.y + c.y) * box.size.x + c.x
    }

    private func trilinear(at voxel: SIMD3<Double>, _ value: (Int) -> SIMD3<Float>) -> SIMD3<Float> {
        let q = pointwiseMin(pointwiseMax(voxel / stride, .zero), SIMD3<Double>(grid &- 1))
        let base = SIMD3<Int>(q.rounded(.down)), f = SIMD3<Float>(q - SIMD3<Double>(base))
        var out = SIMD3<Float>.zero
        for corner in 0..<8 {
            let o = SIMD3(corner & 1, (corner >> 1) & 1, (corner >> 2) & 1)
            let w = (o.x == 1 ? f.x : 1 - f.x) * (o.y == 1 ? f.y : 1 - f.y) * (o.z == 1 ? f.z : 1 - f.z)
            if w == 0 { continue }
            out += w * value(local(base &+ o))
        }
        return out
    }

    func coordinates(at voxel: SIMD3<Double>) -> SIMD3<Float> {
        let n = box.labels.count
        return trilinear(at: voxel) { i in SIMD3<Float>(box.coordinates[i], box.coordinates[n + i], box.coordinates[2 * n + i]) }
    }

    func confidence(at voxel: SIMD3<Double>) -> Float { trilinear(at: voxel) { SIMD3(repeating: box.confidence[$0]) }.x }

    func label(at voxel: SIMD3<Double>) -> UInt8 { box.labels[local(SIMD3<Int>((voxel / stride).rounded(.toNearestOrAwayFromZero)))] }
}
