/// A pseudo-correspondence between token `a` of one crop and token `b` of another, with the weight the
/// inter-instance loss gives it (the product of the two tokens' registration confidences for atlas
/// matches, 1 for feature-space matches).
public struct TokenMatch: Sendable, Equatable, Codable {
    public var a: Int
    public var b: Int
    public var weight: Double

    public init(a: Int, b: Int, weight: Double = 1) {
        self.a = a
        self.b = b
        self.weight = weight
    }
}
