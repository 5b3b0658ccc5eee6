internal import COpenBLAS
import Foundation
import TacoCore

/// A 3D convolution (cross-correlation, as PyTorch's `Conv3d`): cubic kernel, stride and zero padding, optional bias.
///
/// Forward and backward are im2col + GEMM on OpenBLAS: sample by sample, a slab of output planes at a time
/// (the unfolded input of a slab stays under ``slabBudget`` values), `out[co, p] = W[co, (ci, kz, ky, kx)] *
/// cols[(ci, kz, ky, kx), p]`; backward `dW += dOut * cols^T` and `dCols = W^T * dOut`, folded back into
/// the input gradient. Unfolding and folding run on every core, rows or channels split between them.
public struct Convolution3D: Sendable, Equatable {
    public let inputChannels: Int
    public let outputChannels: Int
    public let kernel: Int
    public let stride: Int
    public let padding: Int
    /// Index of the weight (out, in, k, k, k) in the network's ``ParameterSet``.
    public let weight: Int
    /// Index of the bias (out), if any.
    public let bias: Int?

    /// Values of an unfolded slab (2 MB of Float: it stays in cache between unfolding and the GEMM).
    public static let slabBudget = 1 << 19

    public init(inputChannels: Int, outputChannels: Int, kernel: Int, stride: Int = 1, padding: Int, weight: Int, bias: Int? = nil) {
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.weight = weight
        self.bias = bias
    }

    /// Output size for an input of `size` (x, y, z).
    public func outputSize(_ size: SIMD3<Int>) -> SIMD3<Int> {
        (size &+ 2 * padding &- kernel) / stride &+ 1
    }

    /// Multiply-adds of one forward pass over `input`.
    public func multiplyAdds(input size: SIMD3<Int>, batch: Int) -> Double {
        let o = outputSize(size)
        return Double(batch * o.x * o.y * o.z) * Double(outputChannels * inputChannels * kernel * kernel * kernel)
    }

    private var rows: Int { inputChannels * kernel * kernel * kernel }

    /// Output lines (z * height + y) per slab, and the slabs of one sample.
    private func slabs(output o: SIMD3<Int>) -> [Range<Int>] {
        let lines = o.y * o.z, perSlab = max(1, min(lines, Self.slabBudget / max(1, rows * o.x)))
        return Swift.stride(from: 0, to: lines, by: perSlab).map { $0..<min(lines, $0 + perSlab) }
    }

    /// Workers for the slabs: one per core, each with its own unfolded buffer and single-threaded GEMMs.
    private static var workers: Int { ProcessInfo.processInfo.activeProcessorCount }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func forward<Scalar>(_ x: FeatureMap<Scalar>, parameters: ParameterSet<Scalar>) -> FeatureMap<Scalar> {
        precondition(x.channels == inputChannels, "a convolution of \(inputChannels) input channels got \(x.channels)")
        let o = outputSize(x.size)
        precondition(o.x > 0 && o.y > 0 && o.z > 0, "input \(x.size) is smaller than the kernel")
        var y = FeatureMap<Scalar>(zeros: outputChannels, batch: x.batch, size: o)
        let voxels = o.x * o.y * o.z, ldc = x.batch * voxels, slabs = slabs(output: o)
        let tasks = (0..<x.batch).flatMap { n in slabs.map { (n, $0) } }
        let workers = min(Self.workers, tasks.count), capacity = rows * o.x * (slabs.first?.count ?? 1)
        let rows = rows, outputChannels = outputChannels
        parameters.tensors[weight].withUnsafeBufferPointer { w in
            y.values.withUnsafeMutableBufferPointer { out in
                let weights = SharedPointer(w.baseAddress!), output = SharedMutablePointer(out.baseAddress!)
                do {
                    DispatchQueue.concurrentPerform(iterations: workers) { worker in
                        let cols = UnsafeMutablePointer<Scalar>.allocate(capacity: capacity)
                        defer { cols.deallocate() }
                        for (n, lines) in tasks[worker...].enumerated().filter({ $0.offset % workers == 0 }).map(\.element) {
                            let columns = lines.count * o.x
                            unfold(x, sample: n, lines: lines, output: o, into: cols)
                            Scalar.gemm(transposeA: false, transposeB: false, m: outputChannels, n: columns, k: rows, alpha: 1,
                                        a: weights.pointer, lda: rows, b: cols, ldb: columns, beta: 0,
                                        c: output.pointer + n * voxels + lines.lowerBound * o.x, ldc: ldc)
                        }
                    }
                }
            }
        }
        if let bias {
            let b = parameters.tensors[bias], count = x.batch * y.voxels
            for c in 0..<outputChannels { for i in (c * count)..<((c + 1) * count) { y.values[i] += b[c] } }
        }
        return y
    }

    /// Accumulates the weight (and bias) gradients into `gradients` and returns the input's gradient
    /// (nil when `inputGradient` is false: the network's first layer). Samples are split between the workers
    /// (a sample's slabs overlap in the input), each summing its own weight gradient; the sums are added in
    /// worker order, so the result does not depend on timing.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func backward<Scalar>(input x: FeatureMap<Scalar>, outputGradient dy: FeatureMap<Scalar>, parameters: ParameterSet<Scalar>,
                                 gradients: inout ParameterSet<Scalar>, inputGradient: Bool = true) -> FeatureMap<Scalar>? {
        let o = outputSize(x.size)
        precondition(dy.channels == outputChannels && dy.size == o && dy.batch == x.batch, "output gradient of the wrong shape")
        let workers = min(Self.workers, x.batch), weightCount = outputChannels * rows
        var partial = [Scalar](repeating: 0, count: workers * weightCount)
        var dxValues = inputGradient ? [Scalar](repeating: 0, count: inputChannels * x.batch * x.size.x * x.size.y * x.size.z) : []
        Self.sharing(parameters.tensors[weight], dy.values, &partial, &dxValues) { weights, gradient, sums, inputGradients in
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                backwardSamples(worker: worker, of: workers, x: x, output: o, weights: weights, outputGradient: gradient,
                                weightGradient: SharedMutablePointer(sums.pointer + worker * weightCount),
                                inputGradient: inputGradient ? inputGradients : nil)
            }
        }
        for worker in 0..<workers {
            for i in 0..<weightCount { gradients.tensors[weight][i] += partial[worker * weightCount + i] }
        }
        if let bias {
            let count = x.batch * o.x * o.y * o.z
            for c in 0..<outputChannels {
                var sum: Scalar = 0
                for i in (c * count)..<((c + 1) * count) { sum += dy.values[i] }
                gradients.tensors[bias][c] += sum
            }
        }
        return inputGradient ? FeatureMap(channels: inputChannels, batch: x.batch, size: x.size, values: dxValues) : nil
    }

    /// Worker `worker` of `workers`' share of a backward pass: every `workers`-th sample, slab by slab, its weight
    /// gradient summed into its own `weightGradient` and, unless nil, the input gradient folded into `inputGradient`.
    private func backwardSamples<Scalar: BLASScalar>(worker: Int, of workers: Int, x: FeatureMap<Scalar>, output o: SIMD3<Int>,
                                                     weights: SharedPointer<Scalar>, outputGradient: SharedPointer<Scalar>,
                                                     weightGradient: SharedMutablePointer<Scalar>, inputGradient: SharedMutablePointer<Scalar>?) {
        let slabs = slabs(output: o), voxels = o.x * o.y * o.z, ldd = x.batch * voxels
        let capacity = rows * o.x * (slabs.first?.count ?? 1)
        let cols = UnsafeMutablePointer<Scalar>.allocate(capacity: capacity)
        let dcols = UnsafeMutablePointer<Scalar>.allocate(capacity: inputGradient == nil ? 1 : capacity)
        defer { cols.deallocate(); dcols.deallocate() }
        for n in Swift.stride(from: worker, to: x.batch, by: workers) {
            for lines in slabs {
                let columns = lines.count * o.x
                let dOut = outputGradient.pointer + n * voxels + lines.lowerBound * o.x
                unfold(x, sample: n, lines: lines, output: o, into: cols)
                Scalar.gemm(transposeA: false, transposeB: true, m: outputChannels, n: rows, k: columns, alpha: 1,
                            a: dOut, lda: ldd, b: cols, ldb: columns, beta: 1, c: weightGradient.pointer, ldc: rows)
                guard let inputGradient else { continue }
                Scalar.gemm(transposeA: true, transposeB: false, m: rows, n: columns, k: outputChannels, alpha: 1,
                            a: weights.pointer, lda: rows, b: dOut, ldb: ldd, beta: 0, c: dcols, ldc: columns)
                fold(dcols, sample: n, lines: lines, output: o, inputSize: x.size, batch: x.batch, into: inputGradient.pointer)
            }
        }
    }

    /// Runs `body` with shareable pointers to two read-only and two written arrays. An empty array's pointer is
    /// never written through (its buffer may be a shared empty one): the caller passes nil on for it.
    private static func sharing<Scalar>(_ a: [Scalar], _ b: [Scalar], _ c: inout [Scalar], _ d: inout [Scalar],
                                        _ body: (SharedPointer<Scalar>, SharedPointer<Scalar>, SharedMutablePointer<Scalar>, SharedMutablePointer<Scalar>) -> Void) {
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    d.withUnsafeMutableBufferPointer { d in
                        body(SharedPointer(a.baseAddress!), SharedPointer(b.baseAddress!), SharedMutablePointer(c.baseAddress!),
                             SharedMutablePointer(d.baseAddress ?? c.baseAddress!))
                    }
                }
            }
        }
    }

    /// Output columns ox whose input column ox * stride - padding + kx lies inside [0, input): low..<high.
    @inline(__always)
    private func validColumns(_ kx: Int, input: Int, output: Int) -> (Int, Int) {
        let low = max(0, (padding - kx + stride - 1) / stride)
        let last = input - 1 + padding - kx
        let high = last < 0 ? 0 : min(output, last / stride + 1)
        return (min(low, output), max(high, 0))
    }

    /// im2col of sample `n` for output lines `lines` (z * height + y): row (ci, kz, ky, kx), column (line - first, x).
    private func unfold<Scalar: BLASScalar>(_ x: FeatureMap<Scalar>, sample n: Int, lines: Range<Int>, output o: SIMD3<Int>,
                                            into cols: UnsafeMutablePointer<Scalar>) {
        let k = kernel, s = stride, p = padding, size = x.size, columns = lines.count * o.x
        x.values.withUnsafeBufferPointer { input in
            for r in 0..<rows {
                let kx = r % k, ky = (r / k) % k, kz = (r / (k * k)) % k, ci = r / (k * k * k)
                let channel = input.baseAddress! + x.offset(channel: ci, sample: n)
                let (low, high) = validColumns(kx, input: size.x, output: o.x)
                var q = cols + r * columns
                for line in lines {
                    let iz = (line / o.y) * s - p + kz, iy = (line % o.y) * s - p + ky
                    defer { q += o.x }
                    guard iz >= 0, iz < size.z, iy >= 0, iy < size.y else {
                        q.update(repeating: 0, count: o.x)
                        continue
                    }
                    let source = channel + (iz * size.y + iy) * size.x
                    if low > 0 { q.update(repeating: 0, count: low) }
                    if high < o.x { (q + high).update(repeating: 0, count: o.x - high) }
                    if s == 1 {
                        if high > low { (q + low).update(from: source + (low - p + kx), count: high - low) }
                    } else {
                        for ox in low..<max(low, high) { q[ox] = source[ox * s - p + kx] }
                    }
                }
            }
        }
    }

    /// col2im: adds the unfolded gradient of output lines `lines` into sample `n` of the input gradient.
    private func fold<Scalar: BLASScalar>(_ dcols: UnsafeMutablePointer<Scalar>, sample n: Int, lines: Range<Int>, output o: SIMD3<Int>,
                                          inputSize size: SIMD3<Int>, batch: Int, into dx: UnsafeMutablePointer<Scalar>) {
        let k = kernel, s = stride, p = padding, columns = lines.count * o.x, voxels = size.x * size.y * size.z
        for r in 0..<rows {
            let kx = r % k, ky = (r / k) % k, kz = (r / (k * k)) % k, ci = r / (k * k * k)
            let channel = dx + (ci * batch + n) * voxels
            let (low, high) = validColumns(kx, input: size.x, output: o.x)
            var q = dcols + r * columns
            for line in lines {
                let iz = (line / o.y) * s - p + kz, iy = (line % o.y) * s - p + ky
                defer { q += o.x }
                guard iz >= 0, iz < size.z, iy >= 0, iy < size.y else { continue }
                let target = channel + (iz * size.y + iy) * size.x
                if s == 1 {
                    let shifted = target + (kx - p)
                    for ox in low..<max(low, high) { shifted[ox] += q[ox] }
                } else {
                    for ox in low..<max(low, high) { target[ox * s - p + kx] += q[ox] }
                }
            }
        }
    }
}
