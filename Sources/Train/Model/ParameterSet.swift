/// A network's named tensors (weights, biases, normalisation scales) in a fixed order, or their gradients.
///
/// Names and shapes follow PyTorch's `state_dict` of the same architecture (python/taco_model.py), so a
/// checkpoint loads there without renaming: convolution weights (out, in, kz, ky, kx), transposed
/// convolution weights (in, out, kz, ky, kx), normalisation `weight`/`bias` (channels).
public struct ParameterSet<Scalar: BLASScalar>: Sendable, Equatable {
    public private(set) var names: [String]
    public private(set) var shapes: [[Int]]
    public var tensors: [[Scalar]]

    public init() {
        names = []
        shapes = []
        tensors = []
    }

    /// Adds a tensor and returns its index.
    @discardableResult
    public mutating func add(_ name: String, shape: [Int], values: [Scalar]) -> Int {
        precondition(values.count == shape.reduce(1, *), "\(name): \(values.count) values for shape \(shape)")
        precondition(!names.contains(name), "\(name) added twice")
        names.append(name)
        shapes.append(shape)
        tensors.append(values)
        return names.count - 1
    }

    /// The same names and shapes, every value 0 (a gradient accumulator).
    public func zeros() -> ParameterSet {
        var out = self
        out.tensors = tensors.map { [Scalar](repeating: 0, count: $0.count) }
        return out
    }

    /// Values in all tensors.
    public var count: Int { tensors.reduce(0) { $0 + $1.count } }

    /// The index of `name`.
    public func index(of name: String) -> Int? { names.firstIndex(of: name) }

    /// The same values in another precision.
    public func converted<Other: BLASScalar>(to: Other.Type) -> ParameterSet<Other> {
        var out = ParameterSet<Other>()
        for i in names.indices { out.add(names[i], shape: shapes[i], values: tensors[i].map { Other($0) }) }
        return out
    }

    /// The square root of the sum of squares over all tensors (accumulated in Double).
    public var norm: Double {
        var sum = 0.0
        for t in tensors { for v in t { sum += Double(v) * Double(v) } }
        return sum.squareRoot()
    }

    /// True when every value is finite.
    public var isFinite: Bool { tensors.allSatisfy { $0.allSatisfy(\.isFinite) } }
}
