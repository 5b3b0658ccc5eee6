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

    /// Values of an unfolded slab (32 MB of Float).
    public static let slabBudget = 1 << 23

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

    /// Output planes (z) per slab, and the slabs of one sample.
    private func slabs(output o: SIMD3<Int>) -> [Range<Int>] {
        let planes = max(1, min(o.z, Self.slabBudget / max(1, rows * o.x * o.y)))
        return Swift.stride(from: 0, to: o.z, by: planes).map { $0..<min(o.z, $0 + planes) }
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func forward<Scalar>(_ x: FeatureMap<Scalar>, parameters: ParameterSet<Scalar>) -> FeatureMap<Scalar> {
        precondition(x.channels == inputChannels, "a convolution of \(inputChannels) input channels got \(x.channels)")
        let o = outputSize(x.size)
        precondition(o.x > 0 && o.y > 0 && o.z > 0, "input \(x.size) is smaller than the kernel")
        var y = FeatureMap<Scalar>(zeros: outputChannels, batch: x.batch, size: o)
        let plane = o.x * o.y, ldc = x.batch * o.x * o.y * o.z
        var cols = [Scalar](repeating: 0, count: rows * plane * (slabs(output: o).first?.count ?? 1))
        parameters.tensors[weight].withUnsafeBufferPointer { w in
            y.values.withUnsafeMutableBufferPointer { out in
                for n in 0..<x.batch {
                    for slab in slabs(output: o) {
                        let columns = slab.count * plane
                        unfold(x, sample: n, planes: slab, output: o, into: &cols)
                        cols.withUnsafeBufferPointer { c in
                            Scalar.gemm(transposeA: false, transposeB: false, m: outputChannels, n: columns, k: rows, alpha: 1,
                                        a: w.baseAddress!, lda: rows, b: c.baseAddress!, ldb: columns, beta: 0,
                                        c: out.baseAddress! + n * o.x * o.y * o.z + slab.lowerBound * plane, ldc: ldc)
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
    /// (nil when `inputGradient` is false: the network's first layer).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func backward<Scalar>(input x: FeatureMap<Scalar>, outputGradient dy: FeatureMap<Scalar>, parameters: ParameterSet<Scalar>,
                                 gradients: inout ParameterSet<Scalar>, inputGradient: Bool = true) -> FeatureMap<Scalar>? {
        let o = outputSize(x.size)
        precondition(dy.channels == outputChannels && dy.size == o && dy.batch == x.batch, "output gradient of the wrong shape")
        let plane = o.x * o.y, ldd = x.batch * o.x * o.y * o.z
        var dx: FeatureMap<Scalar>? = inputGradient ? FeatureMap(zeros: inputChannels, batch: x.batch, size: x.size) : nil
        let slabCapacity = rows * plane * (slabs(output: o).first?.count ?? 1)
        var cols = [Scalar](repeating: 0, count: slabCapacity)
        var dcols = [Scalar](repeating: 0, count: inputGradient ? slabCapacity : 0)
        parameters.tensors[weight].withUnsafeBufferPointer { w in
            gradients.tensors[weight].withUnsafeMutableBufferPointer { dw in
                dy.values.withUnsafeBufferPointer { g in
                    for n in 0..<x.batch {
                        for slab in slabs(output: o) {
                            let columns = slab.count * plane
                            let dOut = g.baseAddress! + n * o.x * o.y * o.z + slab.lowerBound * plane
                            unfold(x, sample: n, planes: slab, output: o, into: &cols)
                            cols.withUnsafeBufferPointer { c in
                                Scalar.gemm(transposeA: false, transposeB: true, m: outputChannels, n: rows, k: columns, alpha: 1,
                                            a: dOut, lda: ldd, b: c.baseAddress!, ldb: columns, beta: 1, c: dw.baseAddress!, ldc: rows)
                            }
                            guard inputGradient else { continue }
                            dcols.withUnsafeMutableBufferPointer { d in
                                Scalar.gemm(transposeA: true, transposeB: false, m: rows, n: columns, k: outputChannels, alpha: 1,
                                            a: w.baseAddress!, lda: rows, b: dOut, ldb: ldd, beta: 0, c: d.baseAddress!, ldc: columns)
                            }
                            fold(dcols, sample: n, planes: slab, output: o, into: &dx!)
                        }
                    }
                }
            }
        }
        if let bias {
            let count = x.batch * o.x * o.y * o.z
            for c in 0..<outputChannels {
                var sum: Scalar = 0
                for i in (c * count)..<((c + 1) * count) { sum += dy.values[i] }
                gradients.tensors[bias][c] += sum
            }
        }
        return dx
    }

    /// Output columns ox whose input column ox * stride - padding + kx lies inside [0, input): low..<high.
    @inline(__always)
    private func validColumns(_ kx: Int, input: Int, output: Int) -> (Int, Int) {
        let low = max(0, (padding - kx + stride - 1) / stride)
        let last = input - 1 + padding - kx
        let high = last < 0 ? 0 : min(output, last / stride + 1)
        return (min(low, output), max(high, 0))
    }

    /// im2col of sample `n` for output planes `planes`: row (ci, kz, ky, kx), column (z - first, y, x).
    private func unfold<Scalar: BLASScalar>(_ x: FeatureMap<Scalar>, sample n: Int, planes: Range<Int>, output o: SIMD3<Int>, into cols: inout [Scalar]) {
        let k = kernel, s = stride, p = padding, size = x.size, columns = planes.count * o.x * o.y
        x.values.withUnsafeBufferPointer { input in
            cols.withUnsafeMutableBufferPointer { c in
                let source = SharedPointer(input.baseAddress!), target = SharedMutablePointer(c.baseAddress!)
                parallelRanges(rows, minimumPerRange: 2) { range in
                    for r in range {
                        let kx = r % k, ky = (r / k) % k, kz = (r / (k * k)) % k, ci = r / (k * k * k)
                        let channel = source.pointer + x.offset(channel: ci, sample: n)
                        var q = target.pointer + r * columns
                        for oz in planes {
                            let iz = oz * s - p + kz
                            for oy in 0..<o.y {
                                let iy = oy * s - p + ky
                                guard iz >= 0, iz < size.z, iy >= 0, iy < size.y else {
                                    q.update(repeating: 0, count: o.x)
                                    q += o.x
                                    continue
                                }
                                let line = channel + (iz * size.y + iy) * size.x
                                let (low, high) = validColumns(kx, input: size.x, output: o.x)
                                if low > 0 { q.update(repeating: 0, count: low) }
                                if high < o.x { (q + high).update(repeating: 0, count: o.x - high) }
                                if s == 1 {
                                    if high > low { (q + low).update(from: line + (low - p + kx), count: high - low) }
                                } else {
                                    for ox in low..<max(low, high) { q[ox] = line[ox * s - p + kx] }
                                }
                                q += o.x
                            }
                        }
                    }
                }
            }
        }
    }

    /// col2im: adds the unfolded gradient of output planes `planes` into sample `n` of `dx`.
    private func fold<Scalar: BLASScalar>(_ dcols: [Scalar], sample n: Int, planes: Range<Int>, output o: SIMD3<Int>, into dx: inout FeatureMap<Scalar>) {
        let k = kernel, s = stride, p = padding, size = dx.size, columns = planes.count * o.x * o.y, kernelRows = k * k * k
        let offsets = (0..<inputChannels).map { dx.offset(channel: $0, sample: n) }
        dcols.withUnsafeBufferPointer { d in
            dx.values.withUnsafeMutableBufferPointer { out in
                let source = SharedPointer(d.baseAddress!), target = SharedMutablePointer(out.baseAddress!)
                parallelRanges(inputChannels) { channels in
                    for ci in channels {
                        let channel = target.pointer + offsets[ci]
                        for kr in 0..<kernelRows {
                            let kx = kr % k, ky = (kr / k) % k, kz = kr / (k * k)
                            var q = source.pointer + (ci * kernelRows + kr) * columns
                            for oz in planes {
                                let iz = oz * s - p + kz
                                for oy in 0..<o.y {
                                    let iy = oy * s - p + ky
                                    defer { q += o.x }
                                    guard iz >= 0, iz < size.z, iy >= 0, iy < size.y else { continue }
                                    let line = channel + (iz * size.y + iy) * size.x
                                    let (low, high) = validColumns(kx, input: size.x, output: o.x)
                                    if s == 1 {
                                        let shifted = line + (kx - p)
                                        for ox in low..<max(low, high) { shifted[ox] += q[ox] }
                                    } else {
                                        for ox in low..<max(low, high) { line[ox * s - p + kx] += q[ox] }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
