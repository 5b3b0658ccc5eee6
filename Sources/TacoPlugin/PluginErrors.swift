import Foundation

/// The last failure message of each calling thread, as a C string that stays valid until that thread's
/// next failing call (`taco_plugin_last_error`).
enum PluginErrors {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var messages: [UInt: UnsafeMutablePointer<CChar>] = [:]
    nonisolated(unsafe) private static let empty: UnsafeMutablePointer<CChar> = strdup("")!

    private static var thread: UInt { UInt(pthread_self()) }

    static func set(_ message: String) {
        lock.lock()
        defer { lock.unlock() }
        free(messages[thread])
        messages[thread] = strdup(message)
    }

    static func last() -> UnsafePointer<CChar> {
        lock.lock()
        defer { lock.unlock() }
        return UnsafePointer(messages[thread] ?? empty)
    }

    /// Runs `body`; a thrown error becomes the thread's message and the result `failure`.
    static func guarded<R>(failure: R, _ body: () throws -> R) -> R {
        do { return try body() } catch {
            set("\(error)")
            return failure
        }
    }
}
