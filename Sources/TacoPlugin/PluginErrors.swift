import Foundation
import TacoCore

/// The last failure message of each calling thread, as a C string that stays valid until that thread's
/// next failing call (`taco_plugin_last_error`).
enum PluginErrors {
    /// Thread -> its last message (owned here, freed when replaced).
    private static let messages = Locked([UInt: SharedMutablePointer<CChar>]())
    nonisolated(unsafe) private static let empty: UnsafeMutablePointer<CChar> = strdup("")!

    private static var thread: UInt { UInt(pthread_self()) }

    static func set(_ message: String) {
        let thread = self.thread
        messages.withLock { messages in
            free(messages[thread]?.pointer)
            messages[thread] = strdup(message).map(SharedMutablePointer.init)
        }
    }

    static func last() -> UnsafePointer<CChar> {
        let thread = self.thread
        return UnsafePointer(messages.withLock { $0[thread]?.pointer } ?? empty)
    }

    /// Runs `body`; a thrown error becomes the thread's message and the result `failure`.
    static func guarded<R>(failure: R, _ body: () throws -> R) -> R {
        do { return try body() } catch {
            set("\(error)")
            return failure
        }
    }
}
