/// Why the stream cannot go on (bad options, an unreadable shard or subject), naming the shard and the
/// subject when one is at fault.
public struct StreamError: Error, CustomStringConvertible, Sendable, Equatable {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
