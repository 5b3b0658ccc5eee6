import Foundation

/// An exclusive claim on an output folder (or one part of it) for the life of a run, so that two runs
/// writing the same files at once are refused instead of interleaved.
///
/// The claim is an `flock` on `FOLDER/.taco-lock-<name>`, released by the kernel when the process ends
/// however it ends (no stale locks after a crash or `kill -9`). Parts of one folder (`--shard-index` tasks of
/// an array job) take different names and run side by side. On a file system without `flock` (some NFS
/// mounts) the claim cannot be made and the run goes on unguarded (`isHeld` is false).
///
/// ```swift
/// let lock = try OutputLock(folder: output, name: "prep-part-1-of-4", command: "taco prep")
/// defer { lock.release() }
/// ```
public final class OutputLock: @unchecked Sendable {
    public let url: URL
    private var descriptor: Int32
    /// Whether the folder is claimed (false where the file system has no locks).
    public var isHeld: Bool { descriptor >= 0 }

    /// Claims `folder` for `name`, or throws naming the folder and the run holding it.
    public init(folder: URL, name: String, command: String) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        url = folder.appendingPathComponent(".taco-lock-\(name)")
        descriptor = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw OutputLockError(description: "\(folder.path): cannot create the run's lock file \(url.lastPathComponent) (\(String(cString: strerror(errno))))")
        }
        if flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            let reason = errno
            if reason == EWOULDBLOCK {
                let holder = (try? String(contentsOf: url, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
                Foundation.close(descriptor)
                descriptor = -1
                throw OutputLockError(description: "\(folder.path) is in use by another run (\(holder.isEmpty ? "unknown" : holder)); "
                                      + "wait for it to finish or choose another output folder")
            }
            Foundation.close(descriptor)
            descriptor = -1      // ENOLCK, EOPNOTSUPP: no locks on this file system
            return
        }
        let holder = "\(command), process \(getpid()) on \(ProcessInfo.processInfo.hostName)\n"
        _ = ftruncate(descriptor, 0)
        _ = holder.withCString { write(descriptor, $0, strlen($0)) }
    }

    /// Releases the claim (also when the process ends).
    public func release() {
        guard descriptor >= 0 else { return }
        flock(descriptor, LOCK_UN)
        Foundation.close(descriptor)
        descriptor = -1
    }

    deinit { release() }
}

/// Why an output folder cannot be claimed.
public struct OutputLockError: Error, Sendable, CustomStringConvertible {
    public let description: String
}
