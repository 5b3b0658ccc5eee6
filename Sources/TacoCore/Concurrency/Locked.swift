import Synchronization

/// A value shared between threads, reachable only while its lock is held.
///
/// One lock type for the whole project: a class (so it can be captured by concurrent closures and stored
/// in other classes) around the standard library's `Mutex`.
///
/// ```swift
/// let results = Locked([Int?](repeating: nil, count: 4))
/// DispatchQueue.concurrentPerform(iterations: 4) { i in results.withLock { $0[i] = i * i } }
/// results.withLock { $0 }      // [0, 1, 4, 9]
/// ```
public final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    public init(_ value: sending Value) { mutex = Mutex(value) }

    /// Runs `body` with the value, the lock held; what it returns is returned.
    @discardableResult
    public func withLock<Result, Failure: Error>(_ body: (inout sending Value) throws(Failure) -> sending Result) throws(Failure) -> sending Result {
        try mutex.withLock(body)
    }

    /// A copy of the value.
    public var value: Value { mutex.withLock { $0 } }
}
