import Foundation
import TacoCore

/// Group normalisation (PyTorch's `GroupNorm`): per sample, the channels in `groups` groups, each group
/// normalised to zero mean and unit variance over its channels and voxels (biased variance, epsilon 1e-5),
/// then scaled and shifted per channel. `groups == channels` is instance normalisation.
public struct GroupNormalization: Sendable, Equatable {
    public let channels: Int
    public let groups: Int
    /// Indices of the per-channel scale (`weight`) and shift (`bias`).
    public let scale: Int
    public let shift: Int
    public static let epsilon = 1e-5

    public init(channels: Int, groups: Int, scale: Int, shift: Int) {
        precondition(groups > 0 && channels % groups == 0, "\(channels) channels do not split into \(groups) groups")
        self.channels = channels
        self.groups = groups
        self.scale = scale
        self.shift = shift
    }

    /// Mean and 1/sqrt(variance + epsilon) of every (sample, group), index n * groups + g.
    private func statistics<Scalar: BLASScalar>(_ x: FeatureMap<Scalar>) -> [(mean: Double, inverse: Double)] {
        let perGroup = channels / groups
        var stats = [(mean: Double, inverse: Double)](repeating: (0, 0), count: x.batch * groups)
        stats.withUnsafeMutableBufferPointer { s in
            let target = SharedMutablePointer(s.baseAddress!)
            x.values.withUnsafeBufferPointer { v in
                let values = SharedPointer(v.baseAddress!)
                parallelRanges(x.batch * groups) { range in
                    for index in range {
                        let n = index / groups, g = index % groups
                        var sum = 0.0, squares = 0.0
                        for c in (g * perGroup)..<((g + 1) * perGroup) {
                            let base = values.pointer + x.offset(channel: c, sample: n)
                            for i in 0..<x.voxels { let value = Double(base[i]); sum += value; squares += value * value }
                        }
                        let count = Double(perGroup * x.voxels), mean = sum / count
                        let variance = max(0, squares / count - mean * mean)
                        target.pointer[index] = (mean, 1 / (variance + Self.epsilon).squareRoot())
                    }
                }
            }
        }
        return stats
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func forward<Scalar>(_ x: FeatureMap<Scalar>, parameters: ParameterSet<Scalar>) -> FeatureMap<Scalar> {
        precondition(x.channels == channels, "a normalisation of \(channels) channels got \(x.channels)")
        let stats = statistics(x), perGroup = channels / groups
        let gamma = parameters.tensors[scale], beta = parameters.tensors[shift]
        var y = x
        y.values.withUnsafeMutableBufferPointer { v in
            let values = SharedMutablePointer(v.baseAddress!)
            parallelRanges(x.batch * channels) { range in
                for index in range {
                    let c = index / x.batch, n = index % x.batch, stat = stats[n * groups + c / perGroup]
                    let a = Scalar(Double(gamma[c]) * stat.inverse), b = beta[c] - a * Scalar(stat.mean)
                    let base = values.pointer + x.offset(channel: c, sample: n)
                    for i in 0..<x.voxels { base[i] = a * base[i] + b }
                }
            }
        }
        return y
    }

    /// dx = inverse * (g - mean(g) - xhat * mean(g * xhat)) over each group, g = dy * gamma;
    /// dgamma = sum(dy * xhat), dbeta = sum(dy) per channel.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func backward<Scalar>(input x: FeatureMap<Scalar>, outputGradient dy: FeatureMap<Scalar>, parameters: ParameterSet<Scalar>,
                                 gradients: inout ParameterSet<Scalar>) -> FeatureMap<Scalar> {
        let stats = statistics(x), perGroup = channels / groups
        let gamma = parameters.tensors[scale]
        var dx = FeatureMap<Scalar>(zeros: channels, batch: x.batch, size: x.size)
        // Per (sample, channel): sum(dy), sum(dy * xhat); reduced over samples in order afterwards.
        var sums = [(Double, Double)](repeating: (0, 0), count: x.batch * channels)
        sums.withUnsafeMutableBufferPointer { s in
            dx.values.withUnsafeMutableBufferPointer { d in
                x.values.withUnsafeBufferPointer { xv in
                    dy.values.withUnsafeBufferPointer { gv in
                        let sumPointer = SharedMutablePointer(s.baseAddress!), out = SharedMutablePointer(d.baseAddress!)
                        let input = SharedPointer(xv.baseAddress!), grad = SharedPointer(gv.baseAddress!)
                        parallelRanges(x.batch * groups) { range in
                            for index in range {
                                let n = index / groups, g = index % groups, stat = stats[index]
                                var sumG = 0.0, sumGX = 0.0
                                for c in (g * perGroup)..<((g + 1) * perGroup) {
                                    let offset = x.offset(channel: c, sample: n)
                                    var sumDy = 0.0, sumDyX = 0.0
                                    for i in 0..<x.voxels {
                                        let xhat = (Double(input.pointer[offset + i]) - stat.mean) * stat.inverse, dyi = Double(grad.pointer[offset + i])
                                        sumDy += dyi
                                        sumDyX += dyi * xhat
                                    }
                                    sumPointer.pointer[n * channels + c] = (sumDy, sumDyX)
                                    sumG += sumDy * Double(gamma[c])
                                    sumGX += sumDyX * Double(gamma[c])
                                }
                                let count = Double(perGroup * x.voxels), meanG = sumG / count, meanGX = sumGX / count
                                for c in (g * perGroup)..<((g + 1) * perGroup) {
                                    let offset = x.offset(channel: c, sample: n), gc = Double(gamma[c])
                                    for i in 0..<x.voxels {
                                        let xhat = (Double(input.pointer[offset + i]) - stat.mean) * stat.inverse
                                        out.pointer[offset + i] = Scalar(stat.inverse * (Double(grad.pointer[offset + i]) * gc - meanG - xhat * meanGX))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        for c in 0..<channels {
            var dBeta = 0.0, dGamma = 0.0
            for n in 0..<x.batch { dBeta += sums[n * channels + c].0; dGamma += sums[n * channels + c].1 }
            gradients.tensors[shift][c] += Scalar(dBeta)
            gradients.tensors[scale][c] += Scalar(dGamma)
        }
        return dx
    }
}

/// Leaky ReLU (slope `slope` below 0), PyTorch's `LeakyReLU`.
public struct LeakyReLU: Sendable, Equatable {
    public let slope: Double

    public init(slope: Double = 0.01) { self.slope = slope }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func forward<Scalar>(_ x: FeatureMap<Scalar>) -> FeatureMap<Scalar> {
        var y = x
        let s = Scalar(slope)
        for i in y.values.indices where y.values[i] < 0 { y.values[i] *= s }
        return y
    }

    /// The gradient through the activation, read off its input's sign.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func backward<Scalar>(input x: FeatureMap<Scalar>, outputGradient dy: FeatureMap<Scalar>) -> FeatureMap<Scalar> {
        var dx = dy
        let s = Scalar(slope)
        for i in dx.values.indices where x.values[i] < 0 { dx.values[i] *= s }
        return dx
    }
}
