import Foundation

/// AdamW (Loshchilov & Hutter; PyTorch's `torch.optim.AdamW`): Adam's moment estimates with bias correction,
/// and weight decay applied to the parameters directly (decoupled from the gradient), `p -= lr * wd * p`
/// before the Adam step. Normalisation scales/shifts and biases are not decayed.
public struct AdamW: Sendable, Equatable {
    public var beta1: Double
    public var beta2: Double
    public var epsilon: Double
    public var weightDecay: Double
    /// Steps taken (the bias corrections use it).
    public private(set) var steps: Int = 0
    /// First and second moment estimates, one tensor per parameter tensor.
    public var firstMoments: [[Float]]
    public var secondMoments: [[Float]]

    public init(for parameters: ParameterSet<Float>, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8, weightDecay: Double = 0.05) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        firstMoments = parameters.tensors.map { [Float](repeating: 0, count: $0.count) }
        secondMoments = firstMoments
    }

    /// Restores a saved state (moments and step count).
    public init(restoring firstMoments: [[Float]], secondMoments: [[Float]], steps: Int, beta1: Double = 0.9, beta2: Double = 0.999,
                epsilon: Double = 1e-8, weightDecay: Double = 0.05) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.firstMoments = firstMoments
        self.secondMoments = secondMoments
        self.steps = steps
    }

    /// Whether the tensor called `name` is decayed (convolution weights only).
    public static func decays(_ name: String) -> Bool { name.hasSuffix(".weight") && !name.contains("norm") }

    /// One step with learning rate `rate`.
    public mutating func step(_ parameters: inout ParameterSet<Float>, gradients: ParameterSet<Float>, rate: Double) {
        steps += 1
        let b1 = Float(beta1), b2 = Float(beta2), eps = Float(epsilon)
        let correction1 = Float(1 - pow(beta1, Double(steps))), correction2 = Float(1 - pow(beta2, Double(steps)))
        let stepSize = Float(rate) / correction1, root2 = correction2.squareRoot()
        for t in parameters.tensors.indices {
            let decay = Self.decays(parameters.names[t]) ? Float(1 - rate * weightDecay) : 1
            let g = gradients.tensors[t]
            parameters.tensors[t].withUnsafeMutableBufferPointer { p in
                firstMoments[t].withUnsafeMutableBufferPointer { m in
                    secondMoments[t].withUnsafeMutableBufferPointer { v in
                        for i in 0..<p.count {
                            m[i] = b1 * m[i] + (1 - b1) * g[i]
                            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
                            p[i] = p[i] * decay - stepSize * m[i] / (v[i].squareRoot() / root2 + eps)
                        }
                    }
                }
            }
        }
    }
}

/// Linear warm-up from rate/warmup to `rate`, then a half cosine down to `minimumRate` at `totalSteps`.
public struct WarmupCosineSchedule: Sendable, Equatable, Codable {
    public var rate: Double
    public var minimumRate: Double
    public var warmupSteps: Int
    public var totalSteps: Int

    public init(rate: Double, minimumRate: Double, warmupSteps: Int, totalSteps: Int) {
        self.rate = rate
        self.minimumRate = minimumRate
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
    }

    /// The learning rate of step `step` (0-based).
    public func rate(at step: Int) -> Double {
        if step < warmupSteps { return rate * Double(step + 1) / Double(warmupSteps) }
        let span = max(1, totalSteps - warmupSteps)
        let progress = min(1, Double(step - warmupSteps) / Double(span))
        return minimumRate + 0.5 * (rate - minimumRate) * (1 + cos(Double.pi * progress))
    }
}

/// Scales gradients so that their global L2 norm is at most `maximum`; returns the norm before clipping.
@discardableResult
public func clipGradientNorm(_ gradients: inout ParameterSet<Float>, maximum: Double) -> Double {
    let norm = gradients.norm
    guard norm.isFinite, norm > maximum, maximum > 0 else { return norm }
    let scale = Float(maximum / (norm + 1e-6))
    for t in gradients.tensors.indices { for i in gradients.tensors[t].indices { gradients.tensors[t][i] *= scale } }
    return norm
}
