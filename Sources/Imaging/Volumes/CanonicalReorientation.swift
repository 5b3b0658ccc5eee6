import TacoCore
/// Reorientation of a volume to the closest canonical RAS grid by permuting and flipping its voxel
/// axes, without resampling (nibabel's `as_closest_canonical`).
///
/// After it, voxel axis x runs along R, y along A and z along S as closely as the acquisition allows:
/// an axis-aligned volume gets direction diag(-1, -1, 1) in LPS (identity in RAS); an oblique one keeps
/// its tilt. Every voxel stays at the same physical point.
///
/// ```swift
/// let ras = CanonicalReorientation.closestRAS(of: sagittalVolume)
/// ras.geometry.orientationCode   // "RAS"
/// ```
public enum CanonicalReorientation {
    /// The volume with axes permuted and flipped so that its orientation code is "RAS".
    public static func closestRAS(of volume: Volume) -> Volume {
        let g = volume.geometry
        let code = OrientationCode(direction: g.direction)
        // Output axis a takes the input axis that runs along world axis a.
        var source = SIMD3<Int>(repeating: 0)
        for input in 0..<3 { source[code.worldAxis[input]] = input }
        // RAS wants x towards R (LPS sign -1), y towards A (-1), z towards S (+1).
        let wanted = SIMD3<Int>(-1, -1, 1)
        var flip = SIMD3<Int>(repeating: 0)
        for a in 0..<3 { flip[a] = code.signInLPS[source[a]] == wanted[a] ? 0 : 1 }

        var newSize = SIMD3<Int>.zero, newSpacing = Vector3.zero
        var columns: [Vector3] = []
        for a in 0..<3 {
            newSize[a] = g.size[source[a]]
            newSpacing[a] = g.spacing[source[a]]
            columns.append(g.direction.column(source[a]) * (flip[a] == 1 ? -1 : 1))
        }
        // The new first voxel is the old voxel at the far end of every flipped axis.
        var firstOld = Vector3.zero
        for a in 0..<3 where flip[a] == 1 { firstOld[source[a]] = Double(g.size[source[a]] - 1) }
        let geometry = Geometry(size: newSize, spacing: newSpacing, origin: g.point(ofIndex: firstOld),
                                direction: Matrix3(columns: (columns[0], columns[1], columns[2])))
        if geometry == g { return volume }

        var out = Volume(geometry: geometry)
        var old = SIMD3<Int>.zero
        for z in 0..<newSize.z { for y in 0..<newSize.y { for x in 0..<newSize.x {
            let new = SIMD3(x, y, z)
            for a in 0..<3 { old[source[a]] = flip[a] == 1 ? g.size[source[a]] - 1 - new[a] : new[a] }
            out.voxels[geometry.offset(x, y, z)] = volume.voxels[g.offset(old.x, old.y, old.z)]
        } } }
        return out
    }
}
