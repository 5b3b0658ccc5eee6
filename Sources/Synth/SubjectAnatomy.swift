import Foundation
import Imaging
import TacoCore

/// One synthetic subject's anatomy and appearance, all drawn from the subject's own random stream.
///
/// Subject space is the scanner frame of the subject's T1w acquisition (LPS mm). The ground-truth map
/// from a subject point p to the atlas point that shows the same anatomy is
/// `φ(p) = subjectToAtlas(p + warp(p))`: a random affine (rotation up to ±10°, scale 0.9-1.1 per axis,
/// translation up to ±10 mm) after a smooth, invertible warp of a few mm.
struct SubjectAnatomy: Sendable {
    /// A spherical lesion in subject space.
    struct Lesion: Sendable {
        let center: Vector3
        let radius: Double
    }

    /// Mean intensities (CSF, GM, WM, lesion) of one contrast in this subject.
    struct TissueMeans: Sendable {
        let csf, gm, wm, lesion: Double
    }

    let label: String
    /// Centre of the subject's brain in scanner coordinates.
    let center: Vector3
    /// Maps p + warp(p) to the atlas (LPS).
    let subjectToAtlas: AffineTransform3D
    /// The inverse of `subjectToAtlas`.
    let atlasToSubject: AffineTransform3D
    /// The smooth warp, sampled on a coarse grid around the head (interpolated trilinearly everywhere).
    let warp: VectorField
    let lesion: Lesion?
    let means: [Modality: TissueMeans]
    /// Rician noise standard deviation as a fraction of the brightest tissue mean.
    let noiseFraction: Double
    /// Coefficients of the log-bias polynomial (x, y, z, xy, yz, zx, x², y², z²) in units of 100 mm.
    let biasCoefficients: [Double]
    let vendor: Vendor

    /// Draws subject `index` around `atlasCenter` (the atlas brain's centre, LPS).
    init(index: Int, rng: inout SeededGenerator, atlasCenter: Vector3, warpSpacing: Double, lesionRadius: ClosedRange<Double>,
         atlasLesionSites: [Vector3]) {
        label = String(format: "%02d", index + 1)
        let degrees = Double.pi / 180
        let rotation = Matrix3.rotation(x: rng.uniform(-10...10) * degrees, y: rng.uniform(-10...10) * degrees,
                                        z: rng.uniform(-10...10) * degrees)
        let scale = Matrix3(diagonal: Vector3(rng.uniform(0.9...1.1), rng.uniform(0.9...1.1), rng.uniform(0.9...1.1)))
        let translation = Vector3(rng.uniform(-10...10), rng.uniform(-10...10), rng.uniform(-10...10))
        center = atlasCenter + translation
        // atlas -> subject: p = center + R S (a - atlasCenter); hence subject -> atlas below.
        atlasToSubject = AffineTransform3D(linear: rotation * scale, translation: center - rotation * scale * atlasCenter)
        subjectToAtlas = atlasToSubject.inverse!

        // Warp: three random plane waves, wavelengths 90-160 mm, amplitudes 1-2 mm each.
        var waves: [(amplitude: Vector3, wave: Vector3, phase: Double)] = []
        for _ in 0..<3 {
            let amplitude = Self.unitVector(&rng) * rng.uniform(1...2)
            let wave = Self.unitVector(&rng) * (2 * .pi / rng.uniform(90...160))
            waves.append((amplitude, wave, rng.uniform(0...(2 * .pi))))
        }
        let c = center
        let extent = 240.0
        let n = Int((extent / warpSpacing).rounded(.up)) + 1
        let grid = Geometry(size: SIMD3(n, n, n), spacing: Vector3(repeating: warpSpacing),
                            origin: c - Vector3(repeating: Double(n - 1) * warpSpacing / 2))
        warp = VectorField(geometry: grid) { p in
            waves.reduce(Vector3.zero) { sum, w in sum + w.amplitude * sin(dot(w.wave, p - c) + w.phase) }
        }

        var means: [Modality: TissueMeans] = [:]
        let brightness = rng.uniform(0.8...1.25)
        for modality in Modality.allCases {
            let m = modality.tissueMeans
            func jitter(_ value: Double) -> Double { value * brightness * rng.uniform(0.9...1.1) }
            means[modality] = TissueMeans(csf: jitter(m.csf), gm: jitter(m.gm), wm: jitter(m.wm), lesion: jitter(m.lesion))
        }
        self.means = means
        noiseFraction = rng.uniform(0.015...0.03)
        biasCoefficients = (0..<9).map { _ in rng.uniform(-0.08...0.08) }
        vendor = rng.pick(Vendor.allCases)

        if rng.unit() < 0.6, !atlasLesionSites.isEmpty {
            let site = rng.pick(atlasLesionSites)
            let radius = rng.uniform(lesionRadius)
            lesion = Lesion(center: Self.invert(site, atlasToSubject: atlasToSubject, warp: warp), radius: radius)
        } else {
            lesion = nil
        }
    }

    /// φ(p): the atlas point showing the anatomy at subject point p.
    func atlasPoint(ofSubjectPoint p: Vector3) -> Vector3 { subjectToAtlas.apply(to: p + warp.value(at: p)) }

    /// φ⁻¹(a), by fixed-point iteration p ← b - warp(p) with b = subjectToAtlas⁻¹(a); the warp's
    /// gradient stays well below 1, so this contracts (to 1e-6 mm here).
    func subjectPoint(ofAtlasPoint a: Vector3) -> Vector3 {
        Self.invert(a, atlasToSubject: atlasToSubject, warp: warp)
    }

    private static func invert(_ a: Vector3, atlasToSubject: AffineTransform3D, warp: VectorField) -> Vector3 {
        let b = atlasToSubject.apply(to: a)
        var p = b
        for _ in 0..<60 {
            let next = b - warp.value(at: p)
            if length(next - p) < 1e-6 { return next }
            p = next
        }
        return p
    }

    /// Multiplicative bias at scanner point q (coil sensitivity: fixed in the scanner, not the head).
    func bias(at q: Vector3) -> Double {
        let d = (q - center) / 100, c = biasCoefficients
        let linear = c[0] * d.x + c[1] * d.y + c[2] * d.z
        let quadratic = c[3] * d.x * d.y + c[4] * d.y * d.z + c[5] * d.z * d.x + c[6] * d.x * d.x + c[7] * d.y * d.y + c[8] * d.z * d.z
        return exp(linear + quadratic)
    }

    private static func unitVector(_ rng: inout SeededGenerator) -> Vector3 {
        let v = Vector3(rng.gaussian(), rng.gaussian(), rng.gaussian())
        return v / max(length(v), 1e-9)
    }
}
