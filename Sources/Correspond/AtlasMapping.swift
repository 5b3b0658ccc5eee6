import Foundation
import Imaging
import TacoCore

/// Maps a prepared subject into atlas space (docs/design.md §2, inter-instance): its reference modality is
/// registered to the atlas template, rigid then affine (Mattes MI), then deformable (TacoKit's greedy
/// registration on local cross-correlation, or ITK's SyN), inside the subject's mask; the map is sampled
/// every `tokenStride` voxels.
///
/// For a subject point p (LPS) the atlas point is `affine(p + u(p))`, with u the deformable
/// displacement on a grid of `deformableResolution` mm: the convention of `Resampler` and of
/// `taco synth`'s truth, so the map can be checked against it directly.
///
/// ```swift
/// let map = try AtlasMapping().map(reference: t1, mask: brain, atlas: try Atlas.load("mni152-2009a-sym"))
/// map.atlasCoords     // (3, z', y', x') atlas RAS mm of voxel centres 4 * (x', y', z')
/// ```
public struct AtlasMapping: Sendable {
    /// Token grid step, in voxels of the subject's grid.
    public var tokenStride = 4
    /// Finest resolution of the affine registration, mm (levels at 4x, 2x, 1x).
    public var affineResolution = 2.0
    /// Grid spacing of the deformable registration and of its displacement field, mm (nil: the method's
    /// ``DeformableMethod/defaultResolution``).
    public var deformableResolution: Double? = nil
    /// The deformable registration.
    public var deformableMethod = DeformableMethod.greedy
    /// Iterations per level, coarse first; level l of n runs at 2^(n-1-l) x the deformable resolution.
    /// nil: the method's ``DeformableMethod/defaultIterations``.
    public var deformableIterations: [Int]? = nil
    /// Whether a rigid registration precedes the affine one.
    public var rigidFirst = true
    /// SyN's similarity metric (the greedy registration always uses local cross-correlation). Neighbourhood cross-correlation (radius 2: 5x5x5 windows) made the
    /// pseudo-correspondences of synthetic subjects more consistent than Mattes mutual information (91.7%
    /// against 88.3% of pairs within 3 mm of the truth at clinical resolution, 92.6% against 74% on small
    /// voxels), at twice the time (docs/correspond.md).
    public var deformableMetric = DeformableRegistration.Metric.crossCorrelation(radius: 2)
    /// Gaussian smoothing variance (voxels^2) of SyN's total field. Without it (ANTs' default 0) the map
    /// to the MNI template made synthetic subjects worse than the affine alone (2.6-3.5 mm mean error
    /// against 1.6-1.7 mm); with 3: 1.5-1.9 mm (AtlasMappingTests, 4 mm deformable grid).
    public var deformableSmoothing = 3.0
    /// The greedy registration's correlation window half-width, largest step per update (voxels of each
    /// level's grid) and Gaussian sigmas of the update and of the total field (voxels). Greedy's own
    /// smoothing (update sqrt 3, total sqrt 0.5) left synthetic subjects at 1.15 mm mean error and
    /// Jacobians down to 0.06; a stiffer total field (2.2) gave 0.82 mm and 96% of MNN pairs within 3 mm
    /// of the truth (AtlasMappingTests, docs/correspond.md).
    public var greedyRadius = 2
    public var greedyStep = 1.0
    public var greedyUpdateSigma = 2.5
    public var greedyTotalSigma = 2.2
    /// Half-width, in voxels of the deformable grid, of the window of the local cross-correlation that
    /// gives `confidence` (1: a 3x3x3 window, 3 mm wide on the 1 mm default grid).
    public var confidenceRadius = 1
    /// QC thresholds: folding (fraction of mask voxels whose Jacobian determinant is <= 0), the affine
    /// metric (Mattes MI: near 0 means little shared information), the mean confidence inside the mask.
    public var maximumFoldedFraction = 0.01
    public var weakMetric = -0.1
    public var minimumMeanConfidence = 0.2

    public init() {}

    /// How the deformable stage is computed.
    public enum DeformableMethod: String, Sendable, Codable, CaseIterable {
        /// TacoKit's greedy registration (``GreedyRegistration``): compositive smoothed updates on local
        /// cross-correlation from running box sums, every core, float fields.
        case greedy
        /// ITK's SyN (``DeformableRegistration``), kept for comparison.
        case synITK = "syn-itk"

        /// Iterations per level, coarse first.
        public var defaultIterations: [Int] {
            switch self {
            case .greedy: [100, 60, 30, 10]
            case .synITK: [40, 20]
            }
        }

        /// The finest level's grid, mm. Greedy's field at 1 mm (levels at 8/4/2/1 mm) halved the atlas
        /// error of a 2 mm field (0.42 against 0.67 mm on the benchmark subjects) for 1.3x its time and 0.96
        /// GiB per worker; SyN at 1 mm would take hours.
        public var defaultResolution: Double {
            switch self {
            case .greedy: 1
            case .synITK: 2
            }
        }
    }

    /// What a subject's registration to the atlas gave.
    public struct Result: Sendable {
        /// (x', y', z'): voxel (x, y, z) = stride * (x', y', z').
        public let tokenGridSize: SIMD3<Int>
        /// Component-major (3, z', y', x'): atlas RAS mm at each token centre.
        public let atlasCoords: [Float]
        /// Atlas tissue at each token centre: 0 background, 1 CSF, 2 GM, 3 WM.
        public let atlasLabels: [UInt8]
        /// Local cross-correlation of the subject and the warped atlas template, clipped to [0, 1]; 0 outside the mask.
        public let confidence: [Float]
        /// Subject LPS -> atlas LPS, before the displacement.
        public let affine: AffineTransform3D
        /// Displacement u (LPS mm) on the deformable grid: atlas point = affine(p + u(p)).
        public let displacement: VectorField
        /// Its inverse v on the same grid: q -> q + v(q) undoes p -> p + u(p).
        public let inverseDisplacement: VectorField
        /// affine_metric, deformable_metric, jacobian_min, jacobian_max, folded_fraction, mean_confidence.
        public let metrics: [String: Double]
        /// QC flags: a flagged subject is left out of inter-subject matching.
        public let flags: [String]
        /// Seconds per stage: rigid, affine, deformable, maps (quality measures and token maps).
        public let seconds: [String: Double]

        /// The atlas point (LPS) of subject point `p` (LPS).
        public func atlasPoint(of p: Vector3) -> Vector3 { affine.apply(to: p + displacement.value(at: p)) }

        /// The subject point (LPS) of atlas point `a` (LPS): q + v(q) with q = affine^-1(a).
        public func subjectPoint(ofAtlas a: Vector3) -> Vector3 {
            let q = (affine.inverse ?? .identity).apply(to: a)
            return q + inverseDisplacement.value(at: q)
        }

        /// `volume` (on the subject's grid) seen in atlas space, on `grid` (an atlas grid): linear interpolation.
        public func warpedToAtlas(_ volume: Volume, onto grid: Geometry) throws -> Volume {
            // The resampler takes the input at p + w(p); w(a) = subjectPoint(a) - a brings atlas points to the subject.
            let field = VectorField(geometry: grid) { a in subjectPoint(ofAtlas: a) - a }
            return try Resampler.resample(volume, onto: grid, field: field, interpolation: .linear)
        }
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let reason: String
        public var description: String { reason }
    }

    /// Registers `reference` (a prepared volume; `mask` on its grid) to `atlas`'s T1w template: the linear
    /// stages, the deformable stage, the quality of the result, the token maps and the QC flags.
    public func map(reference: Volume, mask: Volume, atlas: Atlas) throws -> Result {
        guard mask.geometry == reference.geometry else { throw Failure(reason: "the mask is not on the reference's grid") }
        guard mask.voxels.contains(where: { $0 > 0 }) else { throw Failure(reason: "empty mask") }
        let template = try atlas.template("T1w")
        let gm = try atlas.tissueMap("GM"), wm = try atlas.tissueMap("WM")
        var seconds: [String: Double] = [:]
        let affine = try registerLinearly(reference, mask: mask, template: template, seconds: &seconds)
        var start = Self.clock()
        let deformable = try registerDeformably(reference, mask: mask, template: template, initial: affine.transform)
        seconds["deformable"] = Self.clock() - start
        start = Self.clock()
        let quality = try measure(deformable, template: template, affine: affine.transform)
        let tokens = tokenMaps(reference, mask: mask, affine: affine.transform, field: deformable.forward,
                               confidenceMap: quality.correlation, confidenceGrid: deformable.grid, template: template, gm: gm, wm: wm)
        seconds["maps"] = Self.clock() - start

        var flags: [String] = []
        if quality.folded > maximumFoldedFraction {
            flags.append(String(format: "folding above %.0f%% (%.2f%%)", 100 * maximumFoldedFraction, 100 * quality.folded))
        }
        if affine.metric > weakMetric { flags.append(String(format: "weak affine metric (%.3f)", affine.metric)) }
        if tokens.meanConfidence < minimumMeanConfidence { flags.append(String(format: "low mean confidence (%.2f)", tokens.meanConfidence)) }
        let metrics: [String: Double] = [
            "affine_metric": affine.metric, "deformable_metric": deformable.metric,
            "jacobian_min": quality.determinants.min() ?? 1, "jacobian_max": quality.determinants.max() ?? 1,
            "folded_fraction": quality.folded, "mean_confidence": tokens.meanConfidence,
        ]
        return Result(tokenGridSize: tokens.grid, atlasCoords: tokens.coordinates, atlasLabels: tokens.labels, confidence: tokens.confidence,
                      affine: affine.transform, displacement: deformable.forward,
                      inverseDisplacement: deformable.inverse, metrics: metrics, flags: flags, seconds: seconds)
    }

    static func clock() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// Rigid, then affine from it (as ANTs does: fitting twelve parameters from the centres alone can settle in
    /// a poorer optimum), on the subject's grid, inside its mask.
    func registerLinearly(_ reference: Volume, mask: Volume, template: Volume, seconds: inout [String: Double]) throws -> LinearRegistration.Result {
        let levels = RegistrationLevel.pyramid(finest: affineResolution, gridSpacing: reference.geometry.spacing.min())
        var rigidOptions = LinearRegistration.Options.rigid
        rigidOptions.levels = levels
        rigidOptions.samplingFraction = 0.1
        var affineOptions = LinearRegistration.Options.affine
        affineOptions.levels = levels
        affineOptions.samplingFraction = 0.1
        var start = Self.clock()
        let rigid = rigidFirst ? try LinearRegistration.register(fixed: .init(reference, mask: mask), moving: .init(template), options: rigidOptions) : nil
        seconds["rigid"] = Self.clock() - start
        start = Self.clock()
        let affine = try LinearRegistration.register(fixed: .init(reference, mask: mask), moving: .init(template), initial: rigid?.transform,
                                                     options: affineOptions)
        seconds["affine"] = Self.clock() - start
        return affine
    }

    /// The deformable stage's inputs and result, on its grid of the deformable resolution covering the subject.
    struct DeformableStage {
        let grid: Geometry
        let fixed: Volume
        let fixedMask: Volume
        /// u, with atlas point = affine(p + u(p)), and its inverse.
        let forward: VectorField
        let inverse: VectorField
        /// The method's final metric (greedy: mean squared local correlation, higher is better; SyN: its
        /// metric value, lower is better).
        let metric: Double
    }

    /// The deformable levels on the deformable grid: level l of n at shrink 2^(n-1-l), both images smoothed
    /// with a Gaussian of half the level's spacing (none at the finest).
    func deformableLevels() -> [RegistrationLevel] {
        let iterations = deformableIterations ?? deformableMethod.defaultIterations
        let resolution = deformableResolution ?? deformableMethod.defaultResolution
        return iterations.enumerated().map { l, count in
            let shrink = 1 << (iterations.count - 1 - l)
            return RegistrationLevel(shrink: shrink, smoothingMM: shrink == 1 ? 0 : Double(shrink) * resolution / 2, iterations: count)
        }
    }

    func registerDeformably(_ reference: Volume, mask: Volume, template: Volume, initial: AffineTransform3D) throws -> DeformableStage {
        let factor = (deformableResolution ?? deformableMethod.defaultResolution) / reference.geometry.spacing.min()
        let grid = factor > 1 ? reference.geometry.downsampled(by: factor) : reference.geometry
        let fixed = try Resampler.resample(reference, onto: grid, interpolation: .linear)
        let fixedMask = try Resampler.resample(mask, onto: grid, interpolation: .nearest)
        switch deformableMethod {
        case .greedy:
            var options = GreedyRegistration.Options(levels: deformableLevels())
            options.radius = greedyRadius
            options.step = greedyStep
            options.updateSigma = greedyUpdateSigma
            options.totalSigma = greedyTotalSigma
            let r = try GreedyRegistration.register(fixed: .init(fixed, mask: fixedMask), moving: .init(template), initial: initial, options: options)
            return DeformableStage(grid: grid, fixed: fixed, fixedMask: fixedMask, forward: r.forward, inverse: r.inverse, metric: r.metric)
        case .synITK:
            // ITK's SyN runs at least one iteration per level.
            let levels = deformableLevels().map { RegistrationLevel(shrink: $0.shrink, smoothingMM: $0.smoothingMM, iterations: max($0.iterations, 1)) }
            var options = DeformableRegistration.Options(levels: levels)
            options.totalVariance = deformableSmoothing
            options.metric = deformableMetric
            let r = try DeformableRegistration.register(fixed: .init(fixed, mask: fixedMask), moving: .init(template),
                                                        initial: initial, options: options)
            return DeformableStage(grid: grid, fixed: fixed, fixedMask: fixedMask, forward: r.forward, inverse: r.inverse, metric: r.metric)
        }
    }

    /// Quality on the deformable grid: the Jacobian determinants of p -> p + u(p) inside the mask, the folded
    /// fraction, and the local cross-correlation of the subject with the warped template.
    func measure(_ stage: DeformableStage, template: Volume, affine: AffineTransform3D) throws
        -> (determinants: [Double], folded: Double, correlation: Volume) {
        let u = stage.forward
        let jacobian = Self.jacobianDeterminants(u)
        let inside = stage.fixedMask.voxels.indices.filter { stage.fixedMask.voxels[$0] > 0 }
        let determinants = inside.map { jacobian[$0] }
        let folded = Double(determinants.filter { $0 <= 0 }.count) / Double(max(inside.count, 1))
        let warped = try Resampler.resample(template, onto: stage.grid, transform: affine, field: u, interpolation: .linear)
        return (determinants, folded, Self.localCorrelation(stage.fixed, warped, mask: stage.fixedMask, radius: confidenceRadius))
    }

    /// Every `tokenStride`-th voxel's atlas coordinates (RAS mm), atlas tissue and confidence (the local
    /// correlation at the nearest point of its grid, inside the mask), and the mean confidence of the tokens
    /// inside the subject.
    func tokenMaps(_ reference: Volume, mask: Volume, affine: AffineTransform3D, field u: VectorField, confidenceMap: Volume,
                   confidenceGrid grid: Geometry, template: Volume, gm: Volume, wm: Volume)
        -> (grid: SIMD3<Int>, coordinates: [Float], labels: [UInt8], confidence: [Float], meanConfidence: Double) {
        let g = reference.geometry
        let t = SIMD3<Int>((g.size.x + tokenStride - 1) / tokenStride, (g.size.y + tokenStride - 1) / tokenStride,
                           (g.size.z + tokenStride - 1) / tokenStride)
        let count = t.x * t.y * t.z
        var coords = [Float](repeating: 0, count: 3 * count)
        var labels = [UInt8](repeating: 0, count: count)
        var confidence = [Float](repeating: 0, count: count)
        for z in 0..<t.z { for y in 0..<t.y { for x in 0..<t.x {
            let k = (z * t.y + y) * t.x + x
            let index = SIMD3<Int>(x, y, z) &* tokenStride
            let p = g.point(ofIndex: Vector3(Double(index.x), Double(index.y), Double(index.z)))
            let a = affine.apply(to: p + u.value(at: p))
            coords[k] = Float(-a.x)
            coords[count + k] = Float(-a.y)
            coords[2 * count + k] = Float(a.z)
            labels[k] = Self.tissue(at: a, template: template, gm: gm, wm: wm)
            if mask[index.x, index.y, index.z] > 0 {
                let c = grid.continuousIndex(ofPoint: p)
                let n = SIMD3<Int>((0..<3).map { min(max(Int(c[$0].rounded()), 0), grid.size[$0] - 1) })
                confidence[k] = confidenceMap[n.x, n.y, n.z]
            }
        } } }
        let insideTokens = (0..<count).filter { confidence[$0] > 0 || mask[min(($0 % t.x) * tokenStride, g.size.x - 1),
                                                                              min((($0 / t.x) % t.y) * tokenStride, g.size.y - 1),
                                                                              min(($0 / (t.x * t.y)) * tokenStride, g.size.z - 1)] > 0 }
        let meanConfidence = insideTokens.map { Double(confidence[$0]) }.reduce(0, +) / Double(max(insideTokens.count, 1))
        return (t, coords, labels, confidence, meanConfidence)
    }

    /// The atlas tissue at atlas point `a` (LPS): background outside the template's brain, else the most
    /// probable of CSF (1 - GM - WM), GM and WM.
    static func tissue(at a: Vector3, template: Volume, gm: Volume, wm: Volume) -> UInt8 {
        let c = template.geometry.continuousIndex(ofPoint: a)
        let i = SIMD3<Int>((0..<3).map { Int(c[$0].rounded()) })
        guard (0..<3).allSatisfy({ i[$0] >= 0 && i[$0] < template.geometry.size[$0] }), template[i.x, i.y, i.z] > 0 else { return 0 }
        let g = gm[i.x, i.y, i.z], w = wm[i.x, i.y, i.z], csf = max(0, 1 - g - w)
        if w >= g && w >= csf { return 3 }
        return g >= csf ? 2 : 1
    }

    /// det(I + grad u) at every voxel (central differences inside, one-sided at the border).
    static func jacobianDeterminants(_ u: VectorField) -> [Double] {
        let g = u.geometry, s = g.size
        // Gradient in physical units: d/d(index) along each axis, then through the direction and spacing.
        let inverse = (g.direction * Matrix3(diagonal: g.spacing)).inverse ?? .identity
        var out = [Double](repeating: 1, count: s.x * s.y * s.z)
        for z in 0..<s.z { for y in 0..<s.y { for x in 0..<s.x {
            var columns: [Vector3] = []
            for axis in 0..<3 {
                var lo = SIMD3<Int>(x, y, z), hi = lo
                lo[axis] = max(lo[axis] - 1, 0)
                hi[axis] = min(hi[axis] + 1, s[axis] - 1)
                let steps = Double(hi[axis] - lo[axis])
                columns.append(steps > 0 ? (u.vector(hi.x, hi.y, hi.z) - u.vector(lo.x, lo.y, lo.z)) / steps : .zero)
            }
            // d u / d index (columns), then d u / d point = (d u / d index) * inverse.
            let perIndex = Matrix3(columns: (columns[0], columns[1], columns[2]))
            let gradient = perIndex * inverse
            let (c0, c1, c2) = gradient.columns
            let full = Matrix3(columns: (c0 + Vector3(1, 0, 0), c1 + Vector3(0, 1, 0), c2 + Vector3(0, 0, 1)))
            out[(z * s.y + y) * s.x + x] = full.determinant
        } } }
        return out
    }

    /// Local normalised cross-correlation of `a` and `b` in (2r+1)^3 windows, clipped to [0, 1]; 0 outside `mask`.
    static func localCorrelation(_ a: Volume, _ b: Volume, mask: Volume, radius r: Int) -> Volume {
        let s = a.geometry.size
        var out = Volume(geometry: a.geometry)
        for z in 0..<s.z { for y in 0..<s.y { for x in 0..<s.x where mask[x, y, z] > 0 {
            var sa = 0.0, sb = 0.0, saa = 0.0, sbb = 0.0, sab = 0.0, n = 0.0
            for dz in -r...r { for dy in -r...r { for dx in -r...r {
                let (i, j, k) = (x + dx, y + dy, z + dz)
                guard i >= 0, j >= 0, k >= 0, i < s.x, j < s.y, k < s.z else { continue }
                let va = Double(a[i, j, k]), vb = Double(b[i, j, k])
                sa += va; sb += vb; saa += va * va; sbb += vb * vb; sab += va * vb; n += 1
            } } }
            let cov = sab - sa * sb / n, varA = saa - sa * sa / n, varB = sbb - sb * sb / n
            let ncc = varA > 1e-12 && varB > 1e-12 ? cov / (varA * varB).squareRoot() : 0
            out.voxels[(z * s.y + y) * s.x + x] = Float(min(max(ncc, 0), 1))
        } } }
        return out
    }
}
