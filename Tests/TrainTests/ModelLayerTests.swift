import Foundation
import TacoCore
import Testing
@testable import Train

/// Every layer of the encoder-decoder: forward against plain loops written here from the definitions,
/// backward against central finite differences of `sum(y * r)` (float64, r random).
@Suite struct ModelLayerTests {
    static func randomMap(_ channels: Int, batch: Int, size: SIMD3<Int>, seed: UInt64) -> FeatureMap<Double> {
        var rng = SeededGenerator(seed: seed)
        let count = channels * batch * size.x * size.y * size.z
        return FeatureMap(channels: channels, batch: batch, size: size, values: (0..<count).map { _ in rng.gaussian() })
    }

    static func randomValues(_ count: Int, seed: UInt64) -> [Double] {
        var rng = SeededGenerator(seed: seed)
        return (0..<count).map { _ in rng.gaussian() }
    }

    static func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

    /// Relative error between central differences of `f` over every entry of `values` and `analytic`.
    static func relativeError(_ values: [Double], analytic: [Double], step: Double = 1e-6, _ f: ([Double]) -> Double) -> Double {
        var difference = 0.0, norm = 0.0
        for i in values.indices {
            var plus = values, minus = values
            plus[i] += step
            minus[i] -= step
            let numeric = (f(plus) - f(minus)) / (2 * step)
            difference += (numeric - analytic[i]) * (numeric - analytic[i])
            norm += analytic[i] * analytic[i]
        }
        return (difference / max(norm, 1e-300)).squareRoot()
    }

    /// Expects the input gradient `dx` and the gradients of the parameters at `indices` to match central
    /// differences of `sum(forward(x, parameters) * r)`.
    static func expectGradients(x: FeatureMap<Double>, dx: [Double], parameters: ParameterSet<Double>, gradients: ParameterSet<Double>,
                                indices: [Int], r: [Double], _ forward: (FeatureMap<Double>, ParameterSet<Double>) -> FeatureMap<Double>) {
        #expect(relativeError(x.values, analytic: dx) { v in
            dot(forward(FeatureMap(channels: x.channels, batch: x.batch, size: x.size, values: v), parameters).values, r)
        } < 1e-6)
        for index in indices {
            #expect(relativeError(parameters.tensors[index], analytic: gradients.tensors[index]) { v in
                var p = parameters
                p.tensors[index] = v
                return dot(forward(x, p).values, r)
            } < 1e-6, "\(parameters.names[index])")
        }
    }

    /// The convolution written as its definition: y[co, z, y, x] = b[co] + sum w[co, ci, kz, ky, kx] * x[ci, z*s-p+kz, ...].
    static func plainConvolution(_ x: FeatureMap<Double>, _ layer: Convolution3D, weight w: [Double], bias: [Double]?) -> FeatureMap<Double> {
        let o = layer.outputSize(x.size), k = layer.kernel
        var y = FeatureMap<Double>(zeros: layer.outputChannels, batch: x.batch, size: o)
        for n in 0..<x.batch { for co in 0..<layer.outputChannels { for oz in 0..<o.z { for oy in 0..<o.y { for ox in 0..<o.x {
            var sum = bias?[co] ?? 0
            for ci in 0..<layer.inputChannels { for kz in 0..<k { for ky in 0..<k { for kx in 0..<k {
                let iz = oz * layer.stride - layer.padding + kz, iy = oy * layer.stride - layer.padding + ky, ix = ox * layer.stride - layer.padding + kx
                guard iz >= 0, iz < x.size.z, iy >= 0, iy < x.size.y, ix >= 0, ix < x.size.x else { continue }
                sum += w[(((co * layer.inputChannels + ci) * k + kz) * k + ky) * k + kx] * x.values[x.offset(channel: ci, sample: n) + (iz * x.size.y + iy) * x.size.x + ix]
            } } } }
            y.values[y.offset(channel: co, sample: n) + (oz * o.y + oy) * o.x + ox] = sum
        } } } } }
        return y
    }

    @Test(arguments: [(3, 1, 1), (3, 2, 1), (1, 1, 0)])
    func convolutionMatchesItsDefinitionAndFiniteDifferences(kernel: Int, stride: Int, padding: Int) {
        let size = SIMD3(5, 4, 6), cin = 3, cout = 2
        var parameters = ParameterSet<Double>()
        let w = parameters.add("w", shape: [cout, cin, kernel, kernel, kernel], values: Self.randomValues(cout * cin * kernel * kernel * kernel, seed: 1))
        let b = parameters.add("b", shape: [cout], values: Self.randomValues(cout, seed: 2))
        let layer = Convolution3D(inputChannels: cin, outputChannels: cout, kernel: kernel, stride: stride, padding: padding, weight: w, bias: b)
        let x = Self.randomMap(cin, batch: 2, size: size, seed: 3)
        let y = layer.forward(x, parameters: parameters)
        let plain = Self.plainConvolution(x, layer, weight: parameters.tensors[w], bias: parameters.tensors[b])
        #expect(y.size == plain.size)
        #expect(zip(y.values, plain.values).allSatisfy { abs($0 - $1) < 1e-12 })

        let r = Self.randomValues(y.values.count, seed: 4)
        var gradients = parameters.zeros()
        let dx = layer.backward(input: x, outputGradient: FeatureMap(channels: cout, batch: 2, size: y.size, values: r), parameters: parameters, gradients: &gradients)!
        Self.expectGradients(x: x, dx: dx.values, parameters: parameters, gradients: gradients, indices: [w, b], r: r) { layer.forward($0, parameters: $1) }
    }

    @Test func convolutionSplitIntoSlabsGivesTheSameAnswer() {
        // 80 channels * 27 rows over 64 x 64 x 12 voxels unfold to more than one slab's budget: the slabs must
        // join up (checked against the definition at corners, edges and inside).
        let size = SIMD3(64, 64, 12), cin = 80
        var parameters = ParameterSet<Double>()
        let w = parameters.add("w", shape: [1, cin, 3, 3, 3], values: Self.randomValues(cin * 27, seed: 5))
        let layer = Convolution3D(inputChannels: cin, outputChannels: 1, kernel: 3, padding: 1, weight: w)
        #expect(cin * 27 * size.x * size.y * size.z > Convolution3D.slabBudget)
        let x = Self.randomMap(cin, batch: 1, size: size, seed: 6)
        let y = layer.forward(x, parameters: parameters)
        for (ox, oy, oz) in [(0, 0, 0), (63, 63, 11), (10, 20, 5), (33, 1, 7)] {
            var sum = 0.0
            for ci in 0..<cin { for kz in 0..<3 { for ky in 0..<3 { for kx in 0..<3 {
                let iz = oz - 1 + kz, iy = oy - 1 + ky, ix = ox - 1 + kx
                guard iz >= 0, iz < size.z, iy >= 0, iy < size.y, ix >= 0, ix < size.x else { continue }
                sum += parameters.tensors[w][((ci * 3 + kz) * 3 + ky) * 3 + kx] * x.values[x.offset(channel: ci, sample: 0) + (iz * size.y + iy) * size.x + ix]
            } } } }
            #expect(abs(y.values[(oz * size.y + oy) * size.x + ox] - sum) < 1e-9)
        }
    }

    @Test func transposedConvolutionPlacesEachVoxelsBlockAndMatchesFiniteDifferences() {
        let size = SIMD3(3, 2, 4), cin = 3, cout = 2
        var parameters = ParameterSet<Double>()
        let w = parameters.add("w", shape: [cin, cout, 2, 2, 2], values: Self.randomValues(cin * cout * 8, seed: 7))
        let layer = TransposedConvolution3D(inputChannels: cin, outputChannels: cout, weight: w)
        let x = Self.randomMap(cin, batch: 2, size: size, seed: 8)
        let y = layer.forward(x, parameters: parameters)
        #expect(y.size == size &* 2)
        // y[co, 2z+a, 2y+b, 2x+c] = sum_ci w[ci, co, a, b, c] * x[ci, z, y, x]
        for n in 0..<2 { for co in 0..<cout { for z in 0..<8 { for yy in 0..<4 { for xx in 0..<6 {
            var sum = 0.0
            for ci in 0..<cin {
                sum += parameters.tensors[w][(((ci * cout + co) * 2 + z % 2) * 2 + yy % 2) * 2 + xx % 2]
                    * x.values[x.offset(channel: ci, sample: n) + ((z / 2) * size.y + yy / 2) * size.x + xx / 2]
            }
            #expect(abs(y.values[y.offset(channel: co, sample: n) + (z * 4 + yy) * 6 + xx] - sum) < 1e-12)
        } } } } }
        let r = Self.randomValues(y.values.count, seed: 9)
        var gradients = parameters.zeros()
        let dx = layer.backward(input: x, outputGradient: FeatureMap(channels: cout, batch: 2, size: y.size, values: r), parameters: parameters, gradients: &gradients)
        Self.expectGradients(x: x, dx: dx.values, parameters: parameters, gradients: gradients, indices: [w], r: r) { layer.forward($0, parameters: $1) }
    }

    @Test(arguments: [2, 4])
    func groupNormalisationStandardisesEachGroupAndMatchesFiniteDifferences(groups: Int) {
        let size = SIMD3(3, 4, 2), channels = 4
        var parameters = ParameterSet<Double>()
        let scale = parameters.add("weight", shape: [channels], values: Self.randomValues(channels, seed: 10).map { 1 + 0.3 * $0 })
        let shift = parameters.add("bias", shape: [channels], values: Self.randomValues(channels, seed: 11))
        let layer = GroupNormalization(channels: channels, groups: groups, scale: scale, shift: shift)
        var x = Self.randomMap(channels, batch: 2, size: size, seed: 12)
        for i in x.values.indices { x.values[i] = 3 + 2 * x.values[i] }
        // With scale 1 and shift 0 every (sample, group) has mean 0 and variance 1 (up to epsilon).
        var unit = parameters
        unit.tensors[scale] = [Double](repeating: 1, count: channels)
        unit.tensors[shift] = [Double](repeating: 0, count: channels)
        let standard = layer.forward(x, parameters: unit)
        for n in 0..<2 { for g in 0..<groups {
            let values = (g * channels / groups..<(g + 1) * channels / groups).flatMap { c in
                standard.values[standard.offset(channel: c, sample: n)..<standard.offset(channel: c, sample: n) + standard.voxels]
            }
            let mean = values.reduce(0, +) / Double(values.count)
            let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
            #expect(abs(mean) < 1e-12 && abs(variance - 1) < 1e-5)
        } }
        let y = layer.forward(x, parameters: parameters)
        let r = Self.randomValues(y.values.count, seed: 13)
        var gradients = parameters.zeros()
        let dx = layer.backward(input: x, outputGradient: FeatureMap(channels: channels, batch: 2, size: size, values: r), parameters: parameters, gradients: &gradients)
        Self.expectGradients(x: x, dx: dx.values, parameters: parameters, gradients: gradients, indices: [scale, shift], r: r) { layer.forward($0, parameters: $1) }
    }

    @Test func leakyReLUScalesNegativesAndMatchesFiniteDifferences() {
        let layer = LeakyReLU(slope: 0.1)
        // Away from 0, where the function is differentiable.
        let x = FeatureMap(channels: 1, batch: 1, size: SIMD3(4, 1, 1), values: [-2.0, -0.5, 0.5, 3])
        #expect(layer.forward(x).values == [-0.2, -0.05, 0.5, 3])
        let r = [1.0, -2, 3, 0.5]
        let dx = layer.backward(input: x, outputGradient: FeatureMap(channels: 1, batch: 1, size: x.size, values: r))
        #expect(Self.relativeError(x.values, analytic: dx.values) { v in
            Self.dot(layer.forward(FeatureMap(channels: 1, batch: 1, size: x.size, values: v)).values, r)
        } < 1e-8)
    }

    /// The whole network (tokens and reconstruction together) in float64: the directional derivative of
    /// `sum(tokens * r) + sum(output * s)` along a random direction of all parameters, and of the input.
    @Test func wholeNetworkGradientMatchesADirectionalFiniteDifference() throws {
        let model = try EncoderDecoder(ModelConfiguration(channels: [2, 4, 4], blocksPerStage: 1, groups: 2, tokenStage: 1))
        let parameters = model.initialParameters(seed: 3).converted(to: Double.self)
        let x = Self.randomMap(1, batch: 2, size: SIMD3(4, 8, 4), seed: 14)
        let forward = try model.forward(x, parameters: parameters)
        let tokens = forward.output(of: model.tokenNode), output = forward.output(of: model.outputNode)
        #expect(tokens.size == SIMD3(2, 4, 2) && tokens.channels == 4)
        #expect(output.size == x.size && output.channels == 1)
        let r = Self.randomValues(tokens.values.count, seed: 15), s = Self.randomValues(output.values.count, seed: 16)
        let gradients = model.backward(forward, tokenGradient: FeatureMap(channels: 4, batch: 2, size: tokens.size, values: r),
                                       outputGradient: FeatureMap(channels: 1, batch: 2, size: x.size, values: s), parameters: parameters)
        func objective(_ p: ParameterSet<Double>) throws -> Double {
            let a = try model.forward(x, parameters: p)
            return Self.dot(a.output(of: model.tokenNode).values, r) + Self.dot(a.output(of: model.outputNode).values, s)
        }
        var direction = parameters
        var rng = SeededGenerator(seed: 17)
        for i in direction.tensors.indices { direction.tensors[i] = direction.tensors[i].map { _ in rng.gaussian() } }
        var analytic = 0.0
        for i in direction.tensors.indices { analytic += Self.dot(direction.tensors[i], gradients.tensors[i]) }
        let step = 1e-5
        var plus = parameters, minus = parameters
        for i in parameters.tensors.indices {
            for j in parameters.tensors[i].indices {
                plus.tensors[i][j] += step * direction.tensors[i][j]
                minus.tensors[i][j] -= step * direction.tensors[i][j]
            }
        }
        let numeric = try (objective(plus) - objective(minus)) / (2 * step)
        #expect(abs(numeric - analytic) <= 1e-6 * max(1, abs(analytic)), "numeric \(numeric), analytic \(analytic)")
        // Every parameter tensor gets a gradient.
        #expect(gradients.tensors.allSatisfy { $0.contains { $0 != 0 } })
    }
}
