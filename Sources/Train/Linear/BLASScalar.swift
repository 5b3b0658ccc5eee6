internal import COpenBLAS

/// A floating-point type OpenBLAS multiplies: the losses run in `Float` for training and in `Double`
/// for gradient checks, with the same code.
public protocol BLASScalar: BinaryFloatingPoint, Sendable where Self.RawSignificand: FixedWidthInteger {
    /// `c = alpha * op(a) * op(b) + beta * c` on row-major matrices (op = transpose when asked):
    /// op(a) is m x k, op(b) is k x n, c is m x n.
    static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Self, a: UnsafePointer<Self>, lda: Int,
                     b: UnsafePointer<Self>, ldb: Int, beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
}

extension Float: BLASScalar {
    public static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>,
                            lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

extension Double: BLASScalar {
    public static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Double, a: UnsafePointer<Double>,
                            lda: Int, b: UnsafePointer<Double>, ldb: Int, beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int) {
        cblas_dgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

/// A row-major matrix of token features (rows = tokens, columns = channels) or of pairwise values.
public struct Matrix<Scalar: BLASScalar>: Sendable, Equatable {
    public let rows: Int
    public let columns: Int
    /// Row-major values, `rows * columns` of them.
    public var values: [Scalar]

    public init(rows: Int, columns: Int, values: [Scalar]) {
        precondition(values.count == rows * columns, "a \(rows) x \(columns) matrix needs \(rows * columns) values, not \(values.count)")
        self.rows = rows
        self.columns = columns
        self.values = values
    }

    public init(zeros rows: Int, _ columns: Int) { self.init(rows: rows, columns: columns, values: [Scalar](repeating: 0, count: rows * columns)) }

    public subscript(row: Int, column: Int) -> Scalar {
        get { values[row * columns + column] }
        set { values[row * columns + column] = newValue }
    }

    /// `self * other^T` (rows x other.rows): every row of self against every row of other, in one GEMM.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func timesTransposed(_ other: Matrix) -> Matrix {
        precondition(columns == other.columns, "row lengths differ: \(columns) and \(other.columns)")
        var out = Matrix(zeros: rows, other.rows)
        guard rows > 0, other.rows > 0 else { return out }
        values.withUnsafeBufferPointer { a in
            other.values.withUnsafeBufferPointer { b in
                out.values.withUnsafeMutableBufferPointer { c in
                    Scalar.gemm(transposeA: false, transposeB: true, m: rows, n: other.rows, k: columns, alpha: 1, a: a.baseAddress!,
                                lda: columns, b: b.baseAddress!, ldb: columns, beta: 0, c: c.baseAddress!, ldc: other.rows)
                }
            }
        }
        return out
    }

    /// `self * other` (rows x other.columns).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func times(_ other: Matrix) -> Matrix {
        precondition(columns == other.rows, "inner sizes differ: \(columns) and \(other.rows)")
        var out = Matrix(zeros: rows, other.columns)
        guard rows > 0, other.columns > 0, columns > 0 else { return out }
        values.withUnsafeBufferPointer { a in
            other.values.withUnsafeBufferPointer { b in
                out.values.withUnsafeMutableBufferPointer { c in
                    Scalar.gemm(transposeA: false, transposeB: false, m: rows, n: other.columns, k: columns, alpha: 1, a: a.baseAddress!,
                                lda: columns, b: b.baseAddress!, ldb: other.columns, beta: 0, c: c.baseAddress!, ldc: other.columns)
                }
            }
        }
        return out
    }

    /// `(self + self^T) * other` for a square `self`, in two GEMMs: the gradient with respect to `other`
    /// of `sum(self .* (other * other^T))`, where `self` holds the loss's derivatives by pairwise product.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func symmetrisedTimes(_ other: Matrix) -> Matrix {
        precondition(rows == columns && columns == other.rows, "needs a square matrix as long as the other's rows")
        var out = Matrix(zeros: other.rows, other.columns)
        guard rows > 0, other.columns > 0 else { return out }
        values.withUnsafeBufferPointer { w in
            other.values.withUnsafeBufferPointer { b in
                out.values.withUnsafeMutableBufferPointer { c in
                    for transpose in [false, true] {
                        Scalar.gemm(transposeA: transpose, transposeB: false, m: rows, n: other.columns, k: rows, alpha: 1, a: w.baseAddress!,
                                    lda: rows, b: b.baseAddress!, ldb: other.columns, beta: transpose ? 1 : 0, c: c.baseAddress!,
                                    ldc: other.columns)
                    }
                }
            }
        }
        return out
    }
}
