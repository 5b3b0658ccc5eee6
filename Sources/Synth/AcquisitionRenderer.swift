import Foundation
import Imaging
import TacoCore

/// Renders acquisitions of a subject from the atlas tissue maps: tissue fractions resampled through the
/// subject's ground-truth map, mixed with the subject's contrast, a lesion, a bias field and Rician noise.
///
/// Slices are computed in parallel; each slice draws its noise from its own stream, so the result does
/// not depend on scheduling.
struct AcquisitionRenderer: Sendable {
    /// Atlas tissue fractions (LPS, atlas grid), stacked: GM, WM and the brain (template > 0).
    let tissues: VolumeStack
    /// Spacing (mm) of the helper field that carries the warp onto an acquisition grid.
    let fieldSpacing: Double

    /// Tissue fractions of the subject on a grid.
    struct Fractions: Sendable {
        let grid: Geometry
        var gm: [Float], wm: [Float], csf: [Float], brain: [Float], lesion: [Float]
    }

    /// Tissue fractions on `grid`, for a head placed by `scannerToSubject`.
    func fractions(on grid: Geometry, scannerToSubject: AffineTransform3D, anatomy: SubjectAnatomy) throws -> Fractions {
        // Scanner q -> subject R(q) -> atlas φ(R(q)) = A(R(q) + w(R(q))) = (A∘R)(q + L⁻¹ w(R(q))), L = R's rotation:
        // one affine and one field, the form the resampler takes.
        let transform = anatomy.subjectToAtlas.composed(after: scannerToSubject)
        let rotationInverse = scannerToSubject.linear.inverse!
        let extent = grid.spacing * (Vector3(Double(grid.size.x), Double(grid.size.y), Double(grid.size.z)) - 1)
        let fieldSize = SIMD3<Int>((0..<3).map { Int((extent[$0] / fieldSpacing).rounded(.up)) + 1 })
        let fieldGrid = Geometry(size: fieldSize, spacing: Vector3(repeating: fieldSpacing), origin: grid.origin,
                                 direction: grid.direction)
        let field = VectorField(geometry: fieldGrid) { q in
            rotationInverse * anatomy.warp.value(at: scannerToSubject.apply(to: q))
        }
        let sampled = try Resampler.resample(tissues, onto: grid, transform: transform, field: field, interpolation: .linear)
        let gm = sampled.volume(0).voxels, wm = sampled.volume(1).voxels, brain = sampled.volume(2).voxels
        var csf = [Float](repeating: 0, count: grid.voxelCount)
        var lesion = [Float](repeating: 0, count: grid.voxelCount)
        let halfVoxel = grid.spacing.min() / 2
        let toSubject = scannerToSubject.composed(after: grid.indexToPoint)
        csf.withUnsafeMutableBufferPointer { csfOut in
            lesion.withUnsafeMutableBufferPointer { lesionOut in
                let csfTarget = SharedMutablePointer(csfOut.baseAddress!), lesionTarget = SharedMutablePointer(lesionOut.baseAddress!)
                ParallelSlices.run(grid) { z, y, x, i in
                    csfTarget.pointer[i] = min(max(brain[i] - gm[i] - wm[i], 0), 1)
                    if let l = anatomy.lesion {
                        let d = length(toSubject.apply(to: Vector3(Double(x), Double(y), Double(z))) - l.center) - l.radius
                        // Partial volume over one voxel at the lesion's edge; only inside the brain.
                        lesionTarget.pointer[i] = Float(min(max(0.5 - d / (2 * halfVoxel), 0), 1)) * min(max(brain[i], 0), 1)
                    }
                }
            }
        }
        return Fractions(grid: grid, gm: gm, wm: wm, csf: csf, brain: brain, lesion: lesion)
    }

    /// The magnitude image of `modality` from fractions (float, before quantisation); noise from `noise`.
    func render(_ modality: Modality, from f: Fractions, anatomy: SubjectAnatomy, noise: SeededGenerator) -> Volume {
        let m = anatomy.means[modality]!
        let sigma = anatomy.noiseFraction * max(m.csf, m.gm, m.wm)
        let grid = f.grid
        let toScanner = grid.indexToPoint
        var out = Volume(geometry: grid)
        out.voxels.withUnsafeMutableBufferPointer { buffer in
            let target = SharedMutablePointer(buffer.baseAddress!)
            ParallelSlices.run(grid, perSlice: { z in noise.stream(z) }) { z, y, x, i, rng in
                let l = Double(f.lesion[i])
                let tissue = Double(f.csf[i]) * m.csf + Double(f.gm[i]) * m.gm + Double(f.wm[i]) * m.wm
                let q = toScanner.apply(to: Vector3(Double(x), Double(y), Double(z)))
                let clean = ((1 - l) * tissue + l * m.lesion) * anatomy.bias(at: q)
                // Rician magnitude: |clean + complex Gaussian noise| (both Box-Muller outputs).
                let (n1, n2) = rng.gaussianPair()
                let re = clean + sigma * n1, im = sigma * n2
                target.pointer[i] = Float((re * re + im * im).squareRoot())
            }
        }
        return out
    }

    /// Tissue labels (0 background, 1 CSF, 2 GM, 3 WM, 4 lesion): the largest fraction wins.
    func labels(from f: Fractions) -> Volume {
        var out = Volume(geometry: f.grid)
        for i in out.voxels.indices {
            if f.lesion[i] > 0.5 { out.voxels[i] = 4; continue }
            var best: Float = 1 - f.brain[i], label: Float = 0
            if f.csf[i] > best { best = f.csf[i]; label = 1 }
            if f.gm[i] > best { best = f.gm[i]; label = 2 }
            if f.wm[i] > best { label = 3 }
            out.voxels[i] = label
        }
        return out
    }
}

/// Runs a body for every voxel, slices (z) spread over the cores.
enum ParallelSlices {
    static func run(_ grid: Geometry, _ body: @Sendable (Int, Int, Int, Int) -> Void) {
        let s = grid.size
        DispatchQueue.concurrentPerform(iterations: s.z) { z in
            for y in 0..<s.y { for x in 0..<s.x { body(z, y, x, x + s.x * (y + s.y * z)) } }
        }
    }

    /// As above, with per-slice state made by `perSlice` (e.g. a random stream).
    static func run<State>(_ grid: Geometry, perSlice: @Sendable (Int) -> State,
                           _ body: @Sendable (Int, Int, Int, Int, inout State) -> Void) {
        let s = grid.size
        DispatchQueue.concurrentPerform(iterations: s.z) { z in
            var state = perSlice(z)
            for y in 0..<s.y { for x in 0..<s.x { body(z, y, x, x + s.x * (y + s.y * z), &state) } }
        }
    }
}
