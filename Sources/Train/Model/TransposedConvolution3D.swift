import TacoCore
/// A 3D transposed convolution with kernel 2 and stride 2 (PyTorch's `ConvTranspose3d(in, out, 2, stride=2)`):
/// every input voxel becomes a 2 x 2 x 2 block of the output, which doubles each axis.
///
/// One GEMM per sample: `blocks[(co, a, b, c), p] = W^T[(co, a, b, c), ci] * x[ci, p]`, then every block
/// is scattered to its place; backward gathers the output gradient into the same layout and runs the two
/// transposed products.
public struct TransposedConvolution3D: Sendable, Equatable {
    public let inputChannels: Int
    public let outputChannels: Int
    /// Index of the weight (in, out, 2, 2, 2) in the network's ``ParameterSet``.
    public let weight: Int

    public init(inputChannels: Int, outputChannels: Int, weight: Int) {
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.weight = weight
    }

    /// Multiply-adds of one forward pass.
    public func multiplyAdds(input size: SIMD3<Int>, batch: Int) -> Double {
        Double(batch * size.x * size.y * size.z) * Double(inputChannels * outputChannels * 8)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func forward<Scalar>(_ x: FeatureMap<Scalar>, parameters: ParameterSet<Scalar>) -> FeatureMap<Scalar> {
        precondition(x.channels == inputChannels, "a transposed convolution of \(inputChannels) input channels got \(x.channels)")
        let p = x.voxels, rows = outputChannels * 8
        var y = FeatureMap<Scalar>(zeros: outputChannels, batch: x.batch, size: x.size &* 2)
        var blocks = [Scalar](repeating: 0, count: rows * p)
        for n in 0..<x.batch {
            parameters.tensors[weight].withUnsafeBufferPointer { w in
                x.values.withUnsafeBufferPointer { input in
                    blocks.withUnsafeMutableBufferPointer { b in
                        Scalar.gemm(transposeA: true, transposeB: false, m: rows, n: p, k: inputChannels, alpha: 1, a: w.baseAddress!, lda: rows,
                                    b: input.baseAddress! + n * p, ldb: x.batch * p, beta: 0, c: b.baseAddress!, ldc: p)
                    }
                }
            }
            moveBlocks(&blocks, sample: n, of: &y, toMap: true)
        }
        return y
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func backward<Scalar>(input x: FeatureMap<Scalar>, outputGradient dy: FeatureMap<Scalar>, parameters: ParameterSet<Scalar>,
                                 gradients: inout ParameterSet<Scalar>) -> FeatureMap<Scalar> {
        precondition(dy.channels == outputChannels && dy.size == x.size &* 2 && dy.batch == x.batch, "output gradient of the wrong shape")
        let p = x.voxels, rows = outputChannels * 8
        var dx = FeatureMap<Scalar>(zeros: inputChannels, batch: x.batch, size: x.size)
        var blocks = [Scalar](repeating: 0, count: rows * p)
        var gradient = dy
        for n in 0..<x.batch {
            moveBlocks(&blocks, sample: n, of: &gradient, toMap: false)
            parameters.tensors[weight].withUnsafeBufferPointer { w in
                gradients.tensors[weight].withUnsafeMutableBufferPointer { dw in
                    x.values.withUnsafeBufferPointer { input in
                        dx.values.withUnsafeMutableBufferPointer { d in
                            blocks.withUnsafeBufferPointer { b in
                                Scalar.gemm(transposeA: false, transposeB: true, m: inputChannels, n: rows, k: p, alpha: 1, a: input.baseAddress! + n * p,
                                            lda: x.batch * p, b: b.baseAddress!, ldb: p, beta: 1, c: dw.baseAddress!, ldc: rows)
                                Scalar.gemm(transposeA: false, transposeB: false, m: inputChannels, n: p, k: rows, alpha: 1, a: w.baseAddress!,
                                            lda: rows, b: b.baseAddress!, ldb: p, beta: 0, c: d.baseAddress! + n * p, ldc: x.batch * p)
                            }
                        }
                    }
                }
            }
        }
        return dx
    }

    /// Scatters `blocks` (row (co, a, b, c), column input voxel) into sample `n` of `map` (toMap), or gathers them from it.
    private func moveBlocks<Scalar: BLASScalar>(_ blocks: inout [Scalar], sample n: Int, of map: inout FeatureMap<Scalar>, toMap: Bool) {
        let small = map.size / 2, p = small.x * small.y * small.z
        let offsets = (0..<outputChannels).map { map.offset(channel: $0, sample: n) }
        let big = map.size
        blocks.withUnsafeMutableBufferPointer { b in
            map.values.withUnsafeMutableBufferPointer { m in
                let blockPointer = SharedMutablePointer(b.baseAddress!), mapPointer = SharedMutablePointer(m.baseAddress!)
                parallelRanges(outputChannels * 8) { rows in
                    for row in rows {
                        let co = row / 8, a = (row / 4) % 2, bb = (row / 2) % 2, c = row % 2
                        let line = blockPointer.pointer + row * p, channel = mapPointer.pointer + offsets[co]
                        var i = 0
                        for z in 0..<small.z {
                            for y in 0..<small.y {
                                let target = channel + ((2 * z + a) * big.y + 2 * y + bb) * big.x + c
                                if toMap {
                                    for x in 0..<small.x { target[2 * x] = line[i + x] }
                                } else {
                                    for x in 0..<small.x { line[i + x] = target[2 * x] }
                                }
                                i += small.x
                            }
                        }
                    }
                }
            }
        }
    }
}
