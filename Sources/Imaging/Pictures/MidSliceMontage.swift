import Foundation
import TacoCore

/// Three mid-slices (axial, coronal, sagittal) of volumes, one row per volume, for QC pictures.
///
/// Drawn in the neurological convention for grids whose index axes run to the patient's right,
/// anterior and superior (RAS+ grids, as `taco prep` and the atlases write them): right on the
/// picture's right, anterior and superior up. Grey from `low` to `high`; voxels outside `inside` black;
/// an optional label volume is outlined: a voxel whose label is above a neighbour's (or at the grid's
/// edge) is drawn in its label's colour.
///
/// ```swift
/// let picture = MidSliceMontage.render([.init(volume: t1, low: 0, high: 3, outline: mask)])
/// try picture.write(to: url)
/// ```
public enum MidSliceMontage {
    public struct Row: Sendable {
        public var volume: Volume
        public var low: Float
        public var high: Float
        /// Voxels drawn (others black); nil: all.
        public var inside: [Bool]?
        /// Labels to outline, on the volume's grid; nil: none.
        public var outline: [UInt8]?

        public init(volume: Volume, low: Float, high: Float, inside: [Bool]? = nil, outline: [UInt8]? = nil) {
            self.volume = volume
            self.low = low
            self.high = high
            self.inside = inside
            self.outline = outline
        }

        /// A row greyed from the 1st to the 99th percentile of the voxels `inside` (all when nil).
        public static func windowed(_ volume: Volume, inside: [Bool]? = nil, outline: [UInt8]? = nil) -> Row {
            let values = inside.map { mask in volume.voxels.indices.filter { mask[$0] }.map { volume.voxels[$0] } } ?? volume.voxels
            let summary = IntensitySummary(values: values.isEmpty ? [0] : values, stride: max(1, values.count / 500_000))
            let low = summary.percentile(1)
            return Row(volume: volume, low: low, high: max(summary.percentile(99), low + 1e-6), inside: inside, outline: outline)
        }
    }

    /// Outline colours by label (label 1 red, 2 green, 3 yellow, then blue).
    public static let palette: [[UInt8]] = [[255, 0, 0], [0, 220, 0], [255, 230, 0], [60, 140, 255]]

    /// The rows side by side per view; every pixel `scale` x `scale` screen pixels. Rows must share one grid size.
    public static func render(_ rows: [Row], scale: Int = 1) -> PNGImage {
        precondition(!rows.isEmpty && rows.allSatisfy { $0.volume.geometry.size == rows[0].volume.geometry.size })
        let s = rows[0].volume.geometry.size
        // Each view: (width axis, height axis, fixed axis, fixed index).
        let views: [(Int, Int, Int, Int)] = [(0, 1, 2, s.z / 2), (0, 2, 1, s.y / 2), (1, 2, 0, s.x / 2)]
        let widths = views.map { s[$0.0] }, heights = views.map { s[$0.1] }
        let rowHeight = heights.max()!, width = widths.reduce(0, +)
        var picture = PNGImage(width: width * scale, height: rowHeight * rows.count * scale, channels: 3)
        for (r, row) in rows.enumerated() {
            let g = row.volume.geometry
            var x0 = 0
            for (v, view) in views.enumerated() {
                for a in 0..<widths[v] { for b in 0..<heights[v] {
                    var index = SIMD3<Int>.zero
                    index[view.0] = a
                    index[view.1] = b
                    index[view.2] = view.3
                    let offset = g.offset(index.x, index.y, index.z)
                    var colour: [UInt8]
                    if row.inside?[offset] ?? true {
                        let grey = UInt8(max(0, min(255, (row.volume.voxels[offset] - row.low) / (row.high - row.low) * 255)))
                        colour = [grey, grey, grey]
                    } else {
                        colour = [0, 0, 0]
                    }
                    if let labels = row.outline, labels[offset] > 0 {
                        for (da, db) in [(1, 0), (-1, 0), (0, 1), (0, -1)] {
                            var n = index
                            n[view.0] += da
                            n[view.1] += db
                            if n[view.0] < 0 || n[view.1] < 0 || n[view.0] >= s[view.0] || n[view.1] >= s[view.1]
                                || labels[g.offset(n.x, n.y, n.z)] < labels[offset] {
                                colour = palette[min(Int(labels[offset]), palette.count) - 1]
                                break
                            }
                        }
                    }
                    let y = r * rowHeight + (heights[v] - 1 - b)
                    for dy in 0..<scale { for dx in 0..<scale { picture[x: (x0 + a) * scale + dx, y: y * scale + dy] = colour } }
                } }
                x0 += widths[v]
            }
        }
        return picture
    }
}
