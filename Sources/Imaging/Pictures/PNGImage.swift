import CITKBridge
import Foundation

/// An 8-bit picture (grey or RGB) for QC, rows top first.
///
/// ```swift
/// var picture = PNGImage(width: 64, height: 32, channels: 1)
/// picture[x: 3, y: 4] = [255]
/// try picture.write(to: URL(fileURLWithPath: "qc.png"))
/// ```
public struct PNGImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// 1 (grey) or 3 (RGB).
    public let channels: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int = 1) {
        precondition(channels == 1 || channels == 3, "1 or 3 channels")
        self.width = width
        self.height = height
        self.channels = channels
        pixels = [UInt8](repeating: 0, count: width * height * channels)
    }

    public subscript(x x: Int, y y: Int) -> [UInt8] {
        get { Array(pixels[(y * width + x) * channels..<(y * width + x + 1) * channels]) }
        set { pixels.replaceSubrange((y * width + x) * channels..<(y * width + x + 1) * channels, with: newValue) }
    }

    /// Writes the picture atomically.
    public func write(to url: URL) throws {
        try AtomicFile.write(to: url) { temporary in
            try pixels.withUnsafeBufferPointer { p in
                try BridgeError.check(taco_png_write(temporary.path, UInt32(width), UInt32(height), UInt32(channels), p.baseAddress))
            }
        }
    }
}
