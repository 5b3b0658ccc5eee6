// TacoKit foundation benchmarks: each figure beside a reference measured in the same run.
// Run with `make bench` (release build). Results are recorded in docs/benchmarks.md.
import Correspond
import Foundation
import Imaging
import TacoCore
import Prep
import Shards
import Synth

/// Peak resident memory since the last reset (Linux's VmHWM).
enum PeakMemory {
    static func reset() { ProcessMemory.resetPeak() }
    static var mebibytes: Double { Double(ProcessMemory.peakResidentBytes()) / Double(1 << 20) }
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

// 4b. The same warp with TacoKit's greedy registration (3 levels, 100/60/30 iterations, the correspond default's smoothing).
PeakMemory.reset()
var greedyOptions = GreedyRegistration.Options(levels: [
    RegistrationLevel(shrink: 4, smoothingMM: 4, iterations: 100),
    RegistrationLevel(shrink: 2, smoothingMM: 2, iterations: 60),
    RegistrationLevel(shrink: 1, smoothingMM: 0, iterations: 30),
])
greedyOptions.updateSigma = 2.5
greedyOptions.totalSigma = 2.2
var greedy: GreedyRegistration.Result!
let greedySeconds = try time(1) { greedy = try GreedyRegistration.register(fixed: .init(atlas2mm), moving: .init(warped), options: greedyOptions) }
let greedyAfter = brain.map { p -> Double in
    let q = p + greedy.forward.value(at: p)
    return length(q + warp(q) - p)
}.reduce(0, +) / Double(brain.count)
report(Row(name: "deformable greedy 100/60/30, 2 mm", figure: String(format: "%.1f s (%.0f%% removed)", greedySeconds, 100 * (1 - greedyAfter / before)),
           reference: String(format: "SyN above: %.1f s", synSeconds),
           ratio: String(format: "%.0f resamples, %.2fx SyN", greedySeconds / oneWarp, greedySeconds / synSeconds), peakMiB: PeakMemory.mebibytes))

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

// 7. Shards: writing a subject (2 modalities at 1 mm, float16, shuffle + gzip 4 + Fletcher32) against a raw
// write of the same bytes; random 96^3 crop reads for three chunk shapes, against copying the crop out of memory.
do {
    let size = SIMD3<Int>(180, 216, 180), voxels = 180 * 216 * 180
    var image = [Float](repeating: 0, count: 2 * voxels)
    var generator = SystemRandomNumberGenerator()
    for m in 0..<2 { for z in 0..<size.z { for y in 0..<size.y { for x in 0..<size.x {
        let r = ((Double(x) - 90) * (Double(x) - 90) + (Double(y) - 108) * (Double(y) - 108) + (Double(z) - 90) * (Double(z) - 90)).squareRoot()
        guard r < 75 else { continue }
        image[m * voxels + (z * size.y + y) * size.x + x] = Float(sin(Double(x + 3 * m) / 7) + cos(Double(y) / 9) * 0.5
                                                               + Double.random(in: -0.3...0.3, using: &generator))
    } } } }
    let tokens = SIMD3<Int>(45, 54, 45)
    let subject = ShardSubject(key: "sub-bench_ses-1", modalities: ["T1w", "FLAIR"], size: size, image: image,
                               mask: image.prefix(voxels).map { $0 != 0 ? 1 : 0 }, affine: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1],
                               spacing: [1, 1, 1], tokenGridSize: tokens, atlasCoords: [Float](repeating: 1, count: 3 * 45 * 54 * 45),
                               atlasLabels: [UInt8](repeating: 2, count: 45 * 54 * 45), confidence: [Float](repeating: 0.5, count: 45 * 54 * 45))
    let shardURL = scratch.appendingPathComponent("bench-shard.h5")
    PeakMemory.reset()
    var bytes = 0
    let writeSeconds = try time(2) {
        let writer = try ShardWriter(url: shardURL, atlas: "bench", tokenStride: 4, createdBy: "bench")
        try writer.add(subject)
        bytes = try writer.finish()
    }
    let halfBytes = Data(count: 2 * voxels * 2)
    let rawURL = scratch.appendingPathComponent("raw.bin")
    let rawSeconds = try time(2) { try halfBytes.write(to: rawURL) }
    let megabytes = Double(halfBytes.count) / 1e6
    report(Row(name: "shard write, 2 x 7 Mvox float16", figure: String(format: "%.0f MB/s (%.0f%% size)", megabytes / writeSeconds,
                                                                         100 * Double(bytes) / Double(halfBytes.count)),
               reference: String(format: "raw write of the bytes: %.0f MB/s", megabytes / rawSeconds),
               ratio: String(format: "%.2fx a raw write", rawSeconds / writeSeconds), peakMiB: PeakMemory.mebibytes))

    // Packing (taco correspond): the subject copied into another shard as stored, against copying the file.
    let packedURL = scratch.appendingPathComponent("bench-packed.h5"), copyURL = scratch.appendingPathComponent("bench-copy.h5")
    let source = try ShardReader(url: shardURL)
    let packSeconds = try time(3) {
        let writer = try ShardWriter(url: packedURL, atlas: "bench", tokenStride: 4, createdBy: "bench")
        try writer.copySubject("sub-bench_ses-1", from: source)
        try writer.finish()
    }
    let fileCopySeconds = try time(3) {
        try? FileManager.default.removeItem(at: copyURL)
        try FileManager.default.copyItem(at: shardURL, to: copyURL)
    }
    report(Row(name: "shard packing (copy as stored)", figure: String(format: "%.0f MB/s of stored bytes", Double(bytes) / 1e6 / packSeconds),
               reference: String(format: "file copy: %.0f MB/s", Double(bytes) / 1e6 / fileCopySeconds),
               ratio: String(format: "%.2fx a file copy", fileCopySeconds / packSeconds), peakMiB: PeakMemory.mebibytes))

    // Crop reads: the same 20 random 96^3 origins for every chunk shape.
    let origins = (0..<20).map { _ in SIMD3<Int>(Int.random(in: 0...(180 - 96), using: &generator), Int.random(in: 0...(216 - 96), using: &generator),
                                                 Int.random(in: 0...(180 - 96), using: &generator)) }
    let halves = image.map { Float16($0) }
    let copySeconds = time(3) {
        for o in origins {
            var crop = [Float](repeating: 0, count: 2 * 96 * 96 * 96)
            var k = 0
            for m in 0..<2 { for z in o.z..<(o.z + 96) { for y in o.y..<(o.y + 96) {
                let base = m * voxels + (z * size.y + y) * size.x + o.x
                for x in 0..<96 { crop[k] = Float(halves[base + x]); k += 1 }
            } } }
            _ = crop
        }
    }
    for side in [16, 32, 64] {
        let url = scratch.appendingPathComponent("chunks-\(side).h5")
        let file = try HDF5File.create(url)
        try file.write(halves, shape: [2, size.z, size.y, size.x], to: "/image", type: .float16,
                       storage: .init(chunk: [1, side, side, side], gzipLevel: ShardFormat.gzipLevel, checksum: true))
        file.close()
        let stored = (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
        let reader = try HDF5File.open(url)
        let readSeconds = try time(3) {
            for o in origins {
                _ = try reader.read("/image", as: .float16, start: [0, o.z, o.y, o.x], count: [2, 96, 96, 96], element: Float16.self)
            }
        }
        report(Row(name: "96^3 crop read, chunks 1x\(side)^3", figure: String(format: "%.0f crops/s (%.0f%% size)", 20 / readSeconds,
                                                                              100 * Double(stored) / Double(halfBytes.count)),
                   reference: String(format: "copy from memory: %.0f crops/s", 20 / copySeconds),
                   ratio: String(format: "%.2fx a memory copy", copySeconds / readSeconds), peakMiB: PeakMemory.mebibytes))
    }
}

// 8. taco correspond, one subject: rigid, affine, greedy at 1 mm to the atlas (the default settings), from the first
// synthetic subject's T1w prepared at 1 mm; against one ITK linear resample of that subject at 2 mm.
do {
    let subject = cohort.subjects[0]
    let t1 = try ImageFile.read(synthOut.appendingPathComponent("bids/sub-\(subject.label)/ses-01/anat/sub-\(subject.label)_ses-01_T1w.nii.gz"))
    let prepared = try SessionPreparation().prepare([.init(modality: "T1w", volume: t1)])
    let reference = prepared.volumes["T1w"]!
    let atlas = try Atlas(folder: root.appendingPathComponent("atlases/mni152-2009a-sym"))
    let grid2 = reference.geometry.downsampled(by: 2)
    let resampleSeconds = try time(3) { _ = try Resampler.resample(reference, onto: grid2) }
    PeakMemory.reset()
    var result: AtlasMapping.Result!
    let mapSeconds = try time(1) { result = try AtlasMapping().map(reference: reference, mask: prepared.mask, atlas: atlas) }
    report(Row(name: "correspond: linear + greedy, 1 mm", figure: String(format: "%.1f s per subject", mapSeconds),
               reference: String(format: "ITK resample at 2 mm: %@", ms(resampleSeconds)),
               ratio: String(format: "%.0f resamples", mapSeconds / resampleSeconds), peakMiB: PeakMemory.mebibytes))
    print("  (seconds by stage: " + ["rigid", "affine", "deformable", "maps"].map { String(format: "%@ %.1f", $0, result.seconds[$0] ?? 0) }.joined(separator: ", ") + ")")
    print(String(format: "  (mean confidence %.2f, Jacobian %.2f..%.2f, flags: %@)", result.metrics["mean_confidence"]!,
                 result.metrics["jacobian_min"]!, result.metrics["jacobian_max"]!, result.flags.isEmpty ? "none" : result.flags.joined(separator: "; ")))
}

print("\nratios below 1x mean slower than the reference; peak = resident high-water mark during that benchmark")
