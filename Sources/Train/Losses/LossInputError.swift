/// Inputs a loss cannot be evaluated on (shapes that disagree, an index out of range, too few tokens),
/// with the reason.
public struct LossInputError: Error, CustomStringConvertible, Sendable, Equatable {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
