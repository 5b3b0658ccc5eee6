import COpenBLAS
import Foundation

/// A pointer handed to concurrent workers that write disjoint elements.
struct SharedMutablePointer<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>
    init(_ pointer: UnsafeMutablePointer<T>) { self.pointer = pointer }
}

/// A read-only pointer handed to concurrent workers.
struct SharedPointer<T>: @unchecked Sendable {
    let pointer: UnsafePointer<T>
    init(_ pointer: UnsafePointer<T>) { self.pointer = pointer }
}

/// Runs `body` over `0..<count` split into contiguous ranges, one per worker; the split depends on `count`
/// only, so that reductions combined in range order are the same from run to run.
func parallelRanges(_ count: Int, minimumPerRange: Int = 1, _ body: @Sendable (Range<Int>) -> Void) {
    guard count > 0 else { return }
    let ranges = min(max(1, count / max(1, minimumPerRange)), 4 * ProcessInfo.processInfo.activeProcessorCount, count)
    if ranges == 1 { body(0..<count); return }
    DispatchQueue.concurrentPerform(iterations: ranges) { r in
        body((r * count / ranges)..<((r + 1) * count / ranges))
    }
}

/// OpenBLAS's own threads, switched off while the caller runs GEMMs on every core itself.
enum BLASThreads {
    private static let lock = NSLock()

    /// Runs `body` with OpenBLAS single-threaded, then restores its thread count.
    static func single<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        let previous = openblas_get_num_threads()
        openblas_set_num_threads(1)
        defer {
            openblas_set_num_threads(previous)
            lock.unlock()
        }
        return try body()
    }
}
