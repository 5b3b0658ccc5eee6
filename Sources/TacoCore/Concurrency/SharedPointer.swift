/// A read-only pointer handed to concurrent workers.
///
/// `@unchecked Sendable`: whoever makes one keeps the memory alive and unchanged until every worker is done.
public struct SharedPointer<T>: @unchecked Sendable {
    public let pointer: UnsafePointer<T>
    public init(_ pointer: UnsafePointer<T>) { self.pointer = pointer }
}

/// A pointer handed to concurrent workers that write disjoint elements.
///
/// `@unchecked Sendable`: whoever makes one keeps the memory alive until every worker is done and gives each
/// worker its own elements.
public struct SharedMutablePointer<T>: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<T>
    public init(_ pointer: UnsafeMutablePointer<T>) { self.pointer = pointer }
}
