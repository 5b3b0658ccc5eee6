// Train I benchmarks (`make bench-train`, release build): crop pairs per second from shards beside the same bytes
// copied by memcpy (the limit) and beside decoding the crops from the prepared .nii.gz files (what MONAI-style
// loaders do); the loss forward + backward beside its own GEMMs (the floor). Results in docs/benchmarks.md.
import Foundation
import TacoCore
import Shards
import Train

/// Peak resident memory since the last reset (Linux's VmHWM).
enum PeakMemory {
    static func reset() { ProcessMemory.resetPeak() }
    static var mebibytes: Double { Double(ProcessMemory.peakResidentBytes()) / Double(1 << 20) }
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func best(_ repeats: Int, _ body: () throws -> Void) rethrows -> Double {
    var out = Double.infinity
    for _ in 0..<repeats { out = min(out, try seconds(body)) }
    return out
}

func row(_ name: String, _ figure: String, _ reference: String, _ ratio: String, _ peak: Double) {
    func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: max(n, s.count), withPad: " ", startingAt: 0) }
    print(pad(name, 40) + " | " + pad(figure, 20) + " | " + pad(reference, 34) + " | " + pad(ratio, 22) + String(format: " | %5.0f MiB", peak))
}

let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("taco-bench-train-\(UUID().uuidString)")
try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: scratch) }

// Four subjects like prepared 1 mm brains: 180 x 216 x 180, three modalities (smooth anatomy-like patterns plus noise
// inside a head-sized ellipsoid, 0 outside), a mask, an atlas map every 4 voxels. The same volumes as .nii.gz
// (float32, as taco prep writes them) for the NIfTI path.
let size = SIMD3<Int>(180, 216, 180), voxels = 180 * 216 * 180, subjects = 4, modalities = ["FLAIR", "T1w", "T2w"]
var generator = SeededGenerator(seed: 1)
let shardURL = scratch.appendingPathComponent("shard-00001.h5")
let writer = try ShardWriter(url: shardURL, atlas: "bench", tokenStride: 4, createdBy: "bench")
// The same subjects with images stored without gzip (`taco correspond --image-compression none`).
let plainFolder = scratch.appendingPathComponent("uncompressed")
try FileManager.default.createDirectory(at: plainFolder, withIntermediateDirectories: true)
let plainURL = plainFolder.appendingPathComponent("shard-00001.h5")
let plainWriter = try ShardWriter(url: plainURL, atlas: "bench", tokenStride: 4, createdBy: "bench", imageCompression: .none)
var niftiFiles: [[URL]] = []
let affine = AffineTransform3D(linear: .identity, translation: Vector3(-90, -126, -72))
for s in 0..<subjects {
    var image = [Float](repeating: 0, count: modalities.count * voxels), mask = [UInt8](repeating: 0, count: voxels)
    for z in 0..<size.z { for y in 0..<size.y { for x in 0..<size.x {
        let e = pow((Double(x) - 90) / 75, 2) + pow((Double(y) - 108) / 95, 2) + pow((Double(z) - 90) / 75, 2)
        guard e < 1 else { continue }
        let v = (z * size.y + y) * size.x + x
        mask[v] = 1
        for m in 0..<modalities.count {
            image[m * voxels + v] = Float(sin(Double(x + 5 * m + s) / 7) + 0.5 * cos(Double(y - 3 * m) / 9) + 0.3 * sin(Double(z) / 5) + 0.2 * generator.gaussian())
        }
    } } }
    let grid = SIMD3(45, 54, 45), tokens = 45 * 54 * 45
    var coords = [Float](repeating: 0, count: 3 * tokens)
    for k in 0..<grid.z { for j in 0..<grid.y { for i in 0..<grid.x {
        let t = (k * grid.y + j) * grid.x + i
        coords[t] = Float(4 * i - 90); coords[tokens + t] = Float(4 * j - 126); coords[2 * tokens + t] = Float(4 * k - 72)
    } } }
    let key = "sub-\(s)_ses-1"
    let subject = ShardSubject(key: key, modalities: modalities, size: size, image: image, mask: mask, affine: affine.rowMajor4x4, spacing: [1, 1, 1],
                               tokenGridSize: grid, atlasCoords: coords, atlasLabels: [UInt8](repeating: 2, count: tokens),
                               confidence: [Float](repeating: 0.8, count: tokens))
    try writer.add(subject)
    try plainWriter.add(subject)
    let geometry = Geometry(size: size, indexToRAS: affine)
    niftiFiles.append(try modalities.indices.map { m in
        let url = scratch.appendingPathComponent("\(key)_\(modalities[m]).nii.gz")
        try NIfTIFile.write(Volume(geometry: geometry, voxels: Array(image[(m * voxels)..<((m + 1) * voxels)])), to: url)
        return url
    })
}
let shardBytes = try writer.finish()
let plainBytes = try plainWriter.finish()
try ShardManifest.build(shards: [shardURL], configuration: [:]).write(to: scratch.appendingPathComponent(ShardManifest.fileName))
try ShardManifest.build(shards: [plainURL], configuration: [:]).write(to: plainFolder.appendingPathComponent(ShardManifest.fileName))
// `TrainBenchmarks --write-shards DIR`: only the shards, for Benchmarks/pytorch/loader.py (the same data in torch).
if let flag = CommandLine.arguments.firstIndex(of: "--write-shards"), CommandLine.arguments.indices.contains(flag + 1) {
    let target = URL(fileURLWithPath: CommandLine.arguments[flag + 1])
    try? FileManager.default.removeItem(at: target)
    try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
    for name in [shardURL.lastPathComponent, ShardManifest.fileName] {
        try FileManager.default.copyItem(at: scratch.appendingPathComponent(name), to: target.appendingPathComponent(name))
    }
    print("\(subjects) subjects (180 x 216 x 180, three modalities) written to \(target.path)")
    try? FileManager.default.removeItem(at: scratch)
    exit(0)
}
let dataset = try ShardDataset(manifest: scratch)
print(String(format: "%d subjects, 3 modalities at 1 mm: shard %.0f MB (images without gzip: %.0f MB), .nii.gz %.0f MB; crops 96^3, two modalities, tokens every 8 voxels\n",
             subjects, Double(shardBytes) / 1e6, Double(plainBytes) / 1e6,
             Double(niftiFiles.joined().reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: $1.path)[.size] as? Int) ?? 0) }) / 1e6))

// The limit: the crop pair's bytes (2 x 96^3 float32) copied by memcpy.
let pairBytes = 2 * 96 * 96 * 96 * 4
let source = UnsafeMutableRawPointer.allocate(byteCount: pairBytes, alignment: 64), target = UnsafeMutableRawPointer.allocate(byteCount: pairBytes, alignment: 64)
memset(source, 1, pairBytes)
let memcpyPairs = 1 / best(20) { memcpy(target, source, pairBytes) }

// MONAI-style: decode both modalities' whole .nii.gz, then cut the crop.
let niftiPairs = 4 / (try best(1) {
    for s in 0..<4 {
        let a = try NIfTIFile.read(niftiFiles[s % subjects][0]).0, b = try NIfTIFile.read(niftiFiles[s % subjects][1]).0
        var crop = [Float](repeating: 0, count: 2 * 96 * 96 * 96)
        var k = 0
        for volume in [a, b] { for z in 40..<136 { for y in 60..<156 { for x in 40..<136 { crop[k] = volume.voxels[(z * size.y + y) * size.x + x]; k += 1 } } } }
        _ = crop
    }
})
row("crop pair from .nii.gz (MONAI-style)", String(format: "%.2f pairs/s", niftiPairs), String(format: "memcpy of the pair: %.0f pairs/s", memcpyPairs),
    String(format: "%.4fx memcpy", niftiPairs / memcpyPairs), PeakMemory.mebibytes)

// What the reading alone costs: the two 96^3 boxes through HDF5 (decompression, checksums, float16 to float32).
let reader = try dataset.reader(shard: "shard-00001.h5")
var boxRng = SeededGenerator(seed: 9)
let boxSeconds = try seconds {
    for i in 0..<24 {
        let o = SIMD3(boxRng.integer(0...84), boxRng.integer(0...120), boxRng.integer(0...84))
        for m in 0..<2 { _ = try reader.imageBox("sub-\(i % subjects)_ses-1", modality: m, origin: o, size: SIMD3(96, 96, 96)) }
    }
}
row("two 96^3 boxes read (HDF5 only)", String(format: "%.1f pairs/s", 24 / boxSeconds), String(format: "memcpy of the pair: %.0f pairs/s", memcpyPairs),
    String(format: "%.3fx memcpy", 24 / boxSeconds / memcpyPairs), PeakMemory.mebibytes)

// The sampler alone on one thread: anchor crops (random mask voxel), and aligned crops (nearest atlas point).
let sampler = try CropSampler(dataset: dataset, options: SamplingOptions())
var rng = SeededGenerator(seed: 3)
let anchorCount = 24
let anchorSeconds = try seconds { for i in 0..<anchorCount { _ = try sampler.sample("sub-\(i % subjects)_ses-1", using: &rng) } }
row("crop pair from shards, 1 thread", String(format: "%.1f pairs/s", Double(anchorCount) / anchorSeconds),
    String(format: ".nii.gz path: %.2f pairs/s", niftiPairs),
    String(format: "%.0fx .nii.gz, %.3fx memcpy", Double(anchorCount) / anchorSeconds / niftiPairs, Double(anchorCount) / anchorSeconds / memcpyPairs),
    PeakMemory.mebibytes)
let alignedSeconds = try seconds { for i in 0..<anchorCount { _ = try sampler.sample("sub-\(i % subjects)_ses-1", near: SIMD3(10, -20, 15), using: &rng) } }
row("aligned crop pair (atlas nearest point)", String(format: "%.1f pairs/s", Double(anchorCount) / alignedSeconds),
    String(format: "anchor crops: %.1f pairs/s", Double(anchorCount) / anchorSeconds), String(format: "%.2fx an anchor crop", anchorSeconds / alignedSeconds),
    PeakMemory.mebibytes)

// The stream (batches of 4: one anchor, three aligned crops, atlas matches for 6 pairs), 1 and 2 threads, prefetch 4.
for threads in [1, 2] {
    PeakMemory.reset()
    let stream = try BatchStream(dataset: dataset, options: StreamOptions(batchSize: 4, seed: 1, rank: 0, worldSize: 1, prefetch: 4, threads: threads))
    var pairs = 0
    let streamSeconds = try seconds {
        for _ in 0..<6 { while let batch = try stream.next() { pairs += batch.samples.count } }
    }
    row("stream, batches of 4, \(threads) thread\(threads > 1 ? "s" : "")", String(format: "%.1f pairs/s", Double(pairs) / streamSeconds),
        String(format: ".nii.gz path: %.2f pairs/s", niftiPairs),
        String(format: "%.0fx .nii.gz, %.3fx memcpy", Double(pairs) / streamSeconds / niftiPairs, Double(pairs) / streamSeconds / memcpyPairs),
        PeakMemory.mebibytes)
}

// Images stored without gzip: the sampler alone and the stream.
let plainDataset = try ShardDataset(manifest: plainFolder)
let plainSampler = try CropSampler(dataset: plainDataset, options: SamplingOptions())
let plainSeconds = try seconds { for i in 0..<anchorCount { _ = try plainSampler.sample("sub-\(i % subjects)_ses-1", using: &rng) } }
row("crop pair, images without gzip", String(format: "%.1f pairs/s", Double(anchorCount) / plainSeconds),
    String(format: ".nii.gz path: %.2f pairs/s", niftiPairs),
    String(format: "%.0fx .nii.gz, %.3fx memcpy", Double(anchorCount) / plainSeconds / niftiPairs, Double(anchorCount) / plainSeconds / memcpyPairs),
    PeakMemory.mebibytes)
do {
    PeakMemory.reset()
    let stream = try BatchStream(dataset: plainDataset, options: StreamOptions(batchSize: 4, seed: 1, rank: 0, worldSize: 1, prefetch: 4, threads: 2))
    var pairs = 0
    let streamSeconds = try seconds { for _ in 0..<6 { while let batch = try stream.next() { pairs += batch.samples.count } } }
    row("stream, images without gzip, 2 threads", String(format: "%.1f pairs/s", Double(pairs) / streamSeconds),
        String(format: ".nii.gz path: %.2f pairs/s", niftiPairs),
        String(format: "%.0fx .nii.gz, %.3fx memcpy", Double(pairs) / streamSeconds / niftiPairs, Double(pairs) / streamSeconds / memcpyPairs),
        PeakMemory.mebibytes)
}

// Losses: T = 512 tokens, C = 256 channels; forward + backward against the same GEMMs alone.
func random(_ rows: Int, _ columns: Int, seed: UInt64) -> Matrix<Float> {
    var g = SeededGenerator(seed: seed)
    return Matrix(rows: rows, columns: columns, values: (0..<rows * columns).map { _ in Float(g.gaussian()) })
}
let t = 512, c = 256
let za = random(t, c, seed: 1), zb = random(t, c, seed: 2)
let intra = IntraInstanceTriplet()
var lossRng = SeededGenerator(seed: 5)
let intraSeconds = try best(10) { _ = try intra.evaluate(za, zb, using: &lossRng) }
// Its GEMMs per direction: neighbour ranking (T x (C+1) x T), similarity (T x C x T), gradient (2 of T x T x C).
let wide = random(t, c + 1, seed: 3), square = random(t, t, seed: 4)
let gemmSeconds = best(10) {
    for _ in 0..<2 {
        _ = wide.timesTransposed(wide)
        _ = za.timesTransposed(za)
        _ = square.symmetrisedTimes(za)
    }
}
let flops = 2.0 * 2 * (Double(t * t * (c + 1)) + Double(t * t * c) + 2 * Double(t * t * c))
row("intra loss fwd+bwd, T=512 C=256", ms(intraSeconds), String(format: "its GEMMs: %@ (%.0f GFLOP/s)", ms(gemmSeconds), flops / gemmSeconds / 1e9),
    String(format: "%.2fx the GEMM floor", gemmSeconds / intraSeconds), PeakMemory.mebibytes)
let matches = (0..<300).map { TokenMatch(a: $0, b: (7 * $0) % t, weight: 0.8) }
let interLoss = InterInstanceAlignment()
let interSeconds = try best(10) { _ = try interLoss.evaluate(a: za, b: zb, matches: matches, using: &lossRng) }
let interGemm = best(10) {
    _ = za.timesTransposed(za)
    _ = zb.timesTransposed(zb)
    _ = square.symmetrisedTimes(zb)
}
row("inter loss fwd+bwd, T=512 C=256", ms(interSeconds), String(format: "its GEMMs: %@", ms(interGemm)),
    String(format: "%.2fx the GEMM floor", interGemm / interSeconds), PeakMemory.mebibytes)


// MARK: the model: convolution layers against the sgemm peak, a training step.
print("\nmodel: encoder 16-32-64-128, 96^3 crops, 4 views (a batch of 2 subjects); sgemm peak measured here\n")
let peakSize = 1536
let peakA = random(peakSize, peakSize, seed: 11), peakB = random(peakSize, peakSize, seed: 12)
let cores = ProcessInfo.processInfo.activeProcessorCount
BLASThreads.set(cores)
let peakSeconds = best(3) { _ = peakA.times(peakB) }
let sgemmPeak = 2 * pow(Double(peakSize), 3) / peakSeconds / 1e9
row("sgemm 1536^3 (OpenBLAS, \(cores) threads)", String(format: "%.1f GFLOP/s", sgemmPeak), "the peak", "1.00x", PeakMemory.mebibytes)
// As `taco train` runs: OpenBLAS single-threaded, the layers' own workers on every core.
BLASThreads.set(1)
let layers: [(String, Int, Int, Int, Int)] = [("stem conv 1->16 @96^3", 1, 16, 1, 96), ("stage 0 conv 16->16 @96^3", 16, 16, 1, 96),
                                             ("down 16->32 stride 2 @96^3", 16, 32, 2, 96), ("stage 1 conv 32->32 @48^3", 32, 32, 1, 48),
                                             ("stage 2 conv 64->64 @24^3", 64, 64, 1, 24), ("stage 3 conv 128->128 @12^3", 128, 128, 1, 12)]
for (name, cin, cout, stride, side) in layers {
    var parameters = ParameterSet<Float>()
    let w = parameters.add("w", shape: [cout, cin, 3, 3, 3], values: random(cout, cin * 27, seed: 13).values)
    let layer = Convolution3D(inputChannels: cin, outputChannels: cout, kernel: 3, stride: stride, padding: 1, weight: w)
    let x = FeatureMap(channels: cin, batch: 4, size: SIMD3(repeating: side), values: random(cin * 4, side * side * side, seed: 14).values)
    var y = layer.forward(x, parameters: parameters)
    let forwardSeconds = best(2) { y = layer.forward(x, parameters: parameters) }
    var gradients = parameters.zeros()
    let backwardSeconds = best(2) { _ = layer.backward(input: x, outputGradient: y, parameters: parameters, gradients: &gradients, inputGradient: cin > 1) }
    let macs = layer.multiplyAdds(input: x.size, batch: 4)
    let forwardRate = 2 * macs / forwardSeconds / 1e9, backwardRate = 2 * macs * (cin > 1 ? 2 : 1) / backwardSeconds / 1e9
    row(name + " fwd", String(format: "%.1f GFLOP/s (%@)", forwardRate, ms(forwardSeconds)), String(format: "sgemm %.1f", sgemmPeak),
        String(format: "%.2fx", forwardRate / sgemmPeak), PeakMemory.mebibytes)
    row(name + " bwd", String(format: "%.1f GFLOP/s (%@)", backwardRate, ms(backwardSeconds)), String(format: "sgemm %.1f", sgemmPeak),
        String(format: "%.2fx", backwardRate / sgemmPeak), PeakMemory.mebibytes)
}
for (crop, channels) in [(64, [16, 32, 64, 128]), (96, [16, 32, 64, 128])] {
    var trainConfiguration = TrainingConfiguration()
    trainConfiguration.steps = 3
    trainConfiguration.crop = [crop, crop, crop]
    trainConfiguration.model = ModelConfiguration(channels: channels)
    PeakMemory.reset()
    let runFolder = scratch.appendingPathComponent("run-\(crop)")
    let trainer = try Trainer(shards: scratch, run: runFolder, configuration: trainConfiguration, resume: false)
    var stepMetrics: [StepMetrics] = []
    try trainer.run { metrics, _ in stepMetrics.append(metrics) }
    let step = stepMetrics.dropFirst().map(\.stepSeconds).min()!
    let model = try EncoderDecoder(trainConfiguration.model)
    let convFlops = 2 * 3 * model.convolutionMultiplyAdds(input: SIMD3(repeating: crop), batch: 4)
    row("training step, \(crop)^3 crops, batch 2", String(format: "%.2f samples/s (%.1f s)", 2 / step, step),
        String(format: "convolutions %.1f GFLOP/s", convFlops / step / 1e9), String(format: "%.2fx sgemm", convFlops / step / 1e9 / sgemmPeak), PeakMemory.mebibytes)
}

func ms(_ s: Double) -> String { String(format: "%.2f ms", s * 1000) }
print("\nratios: figure / reference (pairs/s), or reference time / figure time (losses); peak = resident high-water mark")
