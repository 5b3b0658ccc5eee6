internal import CITKBridge

/// A failure reported by the ITK bridge, carrying its message (which names the file where there is one).
public struct BridgeError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable { case invalidArgument, io, compute }
    public let kind: Kind
    public let message: String
    public var description: String { message }

    /// Throws when `status` is not OK, with this thread's last bridge message.
    static func check(_ status: taco_status) throws {
        guard status != TACO_OK else { return }
        let message = String(cString: taco_last_error())
        switch status {
        case TACO_ERR_INVALID_ARGUMENT: throw BridgeError(kind: .invalidArgument, message: message)
        case TACO_ERR_IO: throw BridgeError(kind: .io, message: message)
        default: throw BridgeError(kind: .compute, message: message)
        }
    }
}

/// The number of threads ITK filters use.
public enum ITKThreads {
    /// Current thread count.
    public static var count: Int { Int(taco_get_threads()) }
    /// Sets the thread count (0: ITK's default, one per core).
    public static func set(_ n: Int) { taco_set_threads(UInt32(max(0, n))) }
}
