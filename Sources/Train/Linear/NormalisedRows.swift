/// Rows scaled to unit length as PyTorch's `F.normalize` does, `x / max(|x|, epsilon)`, and the way back
/// for gradients. `d(u, v) = 1 - cos(u, v)` of docs/design.md §2 is `1 - (unit rows' dot product)`.
public struct NormalisedRows<Scalar: BLASScalar>: Sendable {
    /// docs/design.md §2: the normalisation epsilon.
    public static var epsilon: Scalar { 1e-12 }

    /// The rows at unit length (or `x / epsilon` for a row shorter than epsilon).
    public let unit: Matrix<Scalar>
    /// `max(|x|, epsilon)` of each row.
    public let lengths: [Scalar]

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public init(_ features: Matrix<Scalar>) {
        let c = features.columns
        var unit = features, lengths = [Scalar](repeating: 0, count: features.rows)
        features.values.withUnsafeBufferPointer { x in
            unit.values.withUnsafeMutableBufferPointer { n in
                for row in 0..<features.rows {
                    var squared: Scalar = 0
                    for j in 0..<c { squared += x[row * c + j] * x[row * c + j] }
                    let length = Swift.max(squared.squareRoot(), Self.epsilon)
                    lengths[row] = length
                    for j in 0..<c { n[row * c + j] = x[row * c + j] / length }
                }
            }
        }
        self.unit = unit
        self.lengths = lengths
    }

    /// The gradient with respect to the original rows, given the gradient with respect to the unit rows:
    /// `(g - n (n . g)) / |x|`, or `g / epsilon` for a row shorter than epsilon (where the map is `x / epsilon`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func backward(_ gradient: Matrix<Scalar>) -> Matrix<Scalar> {
        let c = unit.columns
        var out = gradient
        unit.values.withUnsafeBufferPointer { n in
            out.values.withUnsafeMutableBufferPointer { g in
                for row in 0..<unit.rows {
                    let length = lengths[row]
                    if length <= Self.epsilon {
                        for j in 0..<c { g[row * c + j] /= length }
                        continue
                    }
                    var dot: Scalar = 0
                    for j in 0..<c { dot += n[row * c + j] * g[row * c + j] }
                    for j in 0..<c { g[row * c + j] = (g[row * c + j] - n[row * c + j] * dot) / length }
                }
            }
        }
        return out
    }
}
