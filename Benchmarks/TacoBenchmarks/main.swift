// TacoKit foundation benchmarks: each figure beside a reference measured in the same run.
// Run with `make bench` (release build). Results are recorded in docs/benchmarks.md.
import Foundation
import Imaging
import Synth

/// Peak resident memory since the last reset, from /proc (Linux).
enum PeakMemory {
    /// Resets the kernel's high-water mark of this process (VmHWM).
    static func reset() { try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .ascii) }
    /// VmHWM in MiB.
    static var mebibytes: Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kB = Double(line.split(separator: " ").dropFirst().first ?? "") else { return .nan }
        return kB / 1024
    }
}

/// Best wall time of `repeats` runs, in seconds.
func time(_ repeats: Int = 3, _ body: () throws -> Void) rethrows -> Double {
    var best = Double.infinity
    for _ in 0..<repeats {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return best
}

/// memcpy of `bytes` bytes (best of 5): the I/O reference.
func memcpySeconds(bytes: Int) -> Double {
    let a = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
    let b = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
    defer { a.deallocate(); b.deallocate() }
    memset(a, 1, bytes)
    memset(b, 0, bytes)
    return time(5) { memcpy(b, a, bytes) }
}

struct Row {
    let name: String
    let figure: String
    let reference: String
    let ratio: String
    let peakMiB: Double
}

func report(_ row: Row) {
    func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: max(n, s.count), withPad: " ", startingAt: 0) }
    print(pad(row.name, 34) + " | " + pad(row.figure, 22) + " | " + pad(row.reference, 38) + " | " + pad(row.ratio, 18)
          + String(format: " | %5.0f MiB", row.peakMiB))
}
func ms(_ s: Double) -> String { String(format: "%.1f ms", s * 1000) }

let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let atlasURL = root.appendingPathComponent("atlases/mni152-2009a-sym/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz")
ITKThreads.set(ProcessInfo.processInfo.activeProcessorCount)
print("TacoKit benchmarks: \(ProcessInfo.processInfo.activeProcessorCount) cores, ITK threads \(ITKThreads.count)\n")
print("benchmark                          | figure                 | reference (same run)                   | ratio              | peak RSS")

// 1. NIfTI read of the 1 mm atlas: libnifti (TacoKit's reader) and ITK's, against memcpy of the voxels.
PeakMemory.reset()
var atlas = try NIfTIFile.read(atlasURL).0
let niftiSeconds = try time { atlas = try NIfTIFile.read(atlasURL).0 }
let niftiPeak = PeakMemory.mebibytes
let atlasBytes = atlas.voxels.count * MemoryLayout<Float>.size
let copySeconds = memcpySeconds(bytes: atlasBytes)
report(Row(name: "NIfTI read 1 mm atlas (libnifti)", figure: ms(niftiSeconds),
           reference: "memcpy of \(atlasBytes >> 20) MiB: \(ms(copySeconds))",
           ratio: String(format: "%.0fx memcpy", niftiSeconds / copySeconds), peakMiB: niftiPeak))
PeakMemory.reset()
let itkSeconds = try time { _ = try ImageFile.readWithITK(atlasURL) }
report(Row(name: "NIfTI read 1 mm atlas (ITK)", figure: ms(itkSeconds), reference: "libnifti: \(ms(niftiSeconds))",
           ratio: String(format: "%.2fx libnifti", itkSeconds / niftiSeconds), peakMiB: PeakMemory.mebibytes))

// 2. Resample 1 mm -> 2 mm, linear, against memcpy of the input.
let grid2mm = atlas.geometry.downsampled(by: 2)
PeakMemory.reset()
var atlas2mm = try Resampler.resample(atlas, onto: grid2mm)
let resampleSeconds = try time(5) { atlas2mm = try Resampler.resample(atlas, onto: grid2mm) }
report(Row(name: "resample 1 mm -> 2 mm, linear", figure: ms(resampleSeconds),
           reference: "memcpy of input: \(ms(copySeconds))",
           ratio: String(format: "%.1fx memcpy", resampleSeconds / copySeconds), peakMiB: PeakMemory.mebibytes))

// 3. Rigid registration at 2 mm: a known motion, against one full-grid resample (the cost of one warp of the image).
let centre = atlas2mm.geometry.center
let motion = AffineTransform3D.rigid(rotation: .rotation(x: 0.1, y: -0.07, z: 0.08), translation: [6, -5, 4], center: centre)
let moved = try Resampler.resample(atlas2mm, onto: atlas2mm.geometry, transform: motion, interpolation: .bspline)
let oneWarp = try time(5) { _ = try Resampler.resample(atlas2mm, onto: atlas2mm.geometry, transform: motion) }
var brain: [Vector3] = []
for z in 0..<grid2mm.size.z { for y in 0..<grid2mm.size.y { for x in 0..<grid2mm.size.x where atlas2mm[x, y, z] > 40 {
    brain.append(grid2mm.point(ofIndex: Vector3(SIMD3(x, y, z))))
} } }
PeakMemory.reset()
var rigid: LinearRegistration.Result!
let rigidSeconds = try time(1) {
    rigid = try LinearRegistration.register(fixed: .init(atlas2mm), moving: .init(moved), options: .rigid)
}
let rigidResidual = motion.composed(after: rigid.transform)
let rigidError = brain.map { length(rigidResidual.apply(to: $0) - $0) }.reduce(0, +) / Double(brain.count)
report(Row(name: "rigid, Mattes MI, 3 levels, 2 mm", figure: String(format: "%.2f s (%.3f mm)", rigidSeconds, rigidError),
           reference: "one 2 mm resample: \(ms(oneWarp))",
           ratio: String(format: "%.0f resamples", rigidSeconds / oneWarp), peakMiB: PeakMemory.mebibytes))

// 4. Deformable (SyN, standard schedule) at 2 mm: a known smooth warp.
func warp(_ p: Vector3) -> Vector3 {
    let d = (p - centre) / 40
    return Vector3(3 * sin(d.y), -2.5 * sin(d.z + 0.5 * d.x), 2 * cos(d.x) * sin(d.y))
}
let warped = try Resampler.resample(atlas2mm, onto: grid2mm, field: VectorField(geometry: grid2mm, warp), interpolation: .bspline)
PeakMemory.reset()
var syn: DeformableRegistration.Result!
let synSeconds = try time(1) { syn = try DeformableRegistration.register(fixed: .init(atlas2mm), moving: .init(warped)) }
let before = brain.map { length(warp($0)) }.reduce(0, +) / Double(brain.count)
let after = brain.map { p -> Double in
    let q = p + syn.forward.value(at: p)
    return length(q + warp(q) - p)
}.reduce(0, +) / Double(brain.count)
report(Row(name: "deformable SyN MI 40/20/10, 2 mm", figure: String(format: "%.1f s (%.0f%% removed)", synSeconds, 100 * (1 - after / before)),
           reference: "one 2 mm resample: \(ms(oneWarp))",
           ratio: String(format: "%.0f resamples", synSeconds / oneWarp), peakMiB: PeakMemory.mebibytes))

// 5. DICOM header scan of 1000 files, against reading every byte of the same files.
let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("taco-bench-\(UUID().uuidString)")
try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: scratch) }
var files: [URL] = []
let slab = Geometry(size: [256, 256, 100], spacing: [0.9, 0.9, 1.2])
var slabVolume = Volume(geometry: slab)
for i in slabVolume.voxels.indices { slabVolume.voxels[i] = Float(i % 1000) }
for series in 0..<10 {
    let urls = (0..<100).map { scratch.appendingPathComponent(String(format: "S%02d/IM%05d", series, $0)) }
    try FileManager.default.createDirectory(at: urls[0].deletingLastPathComponent(), withIntermediateDirectories: true)
    try DICOMSeries.write(slabVolume, to: urls, tags: [
        .sopClassUID: "1.2.840.10008.5.1.4.1.1.4", .modality: "MR", .seriesInstanceUID: "1.2.826.0.1.3680043.10.9.\(series)",
        .studyInstanceUID: "1.2.826.0.1.3680043.10.9", .seriesDescription: "bench",
    ])
    files += urls
}
let scanTags = DICOMTag.technical + [.seriesInstanceUID, .studyInstanceUID]
PeakMemory.reset()
let scanSeconds = try time { _ = try DICOMHeaderScan.scan(files, tags: scanTags) }
let scanPeak = PeakMemory.mebibytes
let readSeconds = try time { for f in files { _ = try Data(contentsOf: f) } }
let totalBytes = files.reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: $1.path)[.size] as? Int) ?? 0) }
report(Row(name: "DICOM header scan, 1000 files", figure: String(format: "%.0f files/s", Double(files.count) / scanSeconds),
           reference: String(format: "read all %d MiB: %.0f files/s", totalBytes >> 20, Double(files.count) / readSeconds),
           ratio: String(format: "%.1fx a full read", readSeconds / scanSeconds), peakMiB: scanPeak))

// 6. taco synth: six subjects at the default size, against the ITK resample throughput of this run.
let synthOut = scratch.appendingPathComponent("cohort")
let resampleVoxelsPerSecond = Double(grid2mm.voxelCount) / resampleSeconds
PeakMemory.reset()
var cohort: CohortTruth!
let synthSeconds = try time(1) {
    cohort = try CohortSynthesizer(options: SynthOptions(subjects: 6, seed: 1, atlas: root.appendingPathComponent("atlases/mni152-2009a-sym").path),
                                   version: "bench").run(into: synthOut)
}
let synthVoxels = cohort.subjects.flatMap(\.acquisitions).reduce(0) { $0 + $1.grid.size.reduce(1, *) }
report(Row(name: "synth 6 subjects, default size", figure: String(format: "%.1f s (%.1f Mvox/s)", synthSeconds, Double(synthVoxels) / synthSeconds / 1e6),
           reference: String(format: "ITK linear resample: %.0f Mvox/s", resampleVoxelsPerSecond / 1e6),
           ratio: String(format: "%.2fx a resample", Double(synthVoxels) / synthSeconds / resampleVoxelsPerSecond),
           peakMiB: PeakMemory.mebibytes))

print("\nratios below 1x mean slower than the reference; peak = resident high-water mark during that benchmark")
