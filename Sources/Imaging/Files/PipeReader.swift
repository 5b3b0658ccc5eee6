import Foundation

/// Reads a pipe (or any file handle) to its end on a background thread, so that a child process can
/// never block on a full pipe while its parent waits on another one.
///
/// ```swift
/// let errors = PipeReader(pipe.fileHandleForReading)
/// process.waitUntilExit()
/// let text = String(decoding: errors.wait(), as: UTF8.self)
/// ```
/// `@unchecked Sendable`: `data` is written once by the reading thread before `done` is signalled and
/// read only after `wait()` has seen that signal.
public final class PipeReader: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    public init(_ handle: FileHandle) {
        Thread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }.start()
    }

    /// Everything the handle gave, once it reached its end.
    public func wait() -> Data {
        done.wait()
        return data
    }
}
