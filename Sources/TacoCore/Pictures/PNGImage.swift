internal import CZlib
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
        let bytes = try encoded()
        try AtomicFile.write(to: url) { try bytes.write(to: $0) }
    }

    /// The PNG file's bytes (PNG specification, 2nd edition): the signature, IHDR (8-bit grey or RGB,
    /// no interlace), one IDAT holding the zlib stream of the rows (each with filter type 0) and IEND.
    public func encoded() throws -> Data {
        var file = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var header = Data()
        header.appendBigEndian(UInt32(width))
        header.appendBigEndian(UInt32(height))
        header.append(contentsOf: [8, channels == 3 ? 2 : 0, 0, 0, 0])
        Self.appendChunk("IHDR", header, to: &file)
        let rowBytes = width * channels
        var filtered = [UInt8](repeating: 0, count: height * (rowBytes + 1))
        for y in 0..<height {
            filtered.replaceSubrange((y * (rowBytes + 1) + 1)..<((y + 1) * (rowBytes + 1)), with: pixels[(y * rowBytes)..<((y + 1) * rowBytes)])
        }
        Self.appendChunk("IDAT", try Self.deflate(filtered), to: &file)
        Self.appendChunk("IEND", Data(), to: &file)
        return file
    }

    private static func appendChunk(_ type: String, _ body: Data, to file: inout Data) {
        file.appendBigEndian(UInt32(body.count))
        let tagged = Data(type.utf8) + body
        file.append(tagged)
        let crc = tagged.withUnsafeBytes { crc32(0, $0.bindMemory(to: Bytef.self).baseAddress, uInt($0.count)) }
        file.appendBigEndian(UInt32(crc))
    }

    private static func deflate(_ bytes: [UInt8]) throws -> Data {
        var length = compressBound(uLong(bytes.count))
        var out = [UInt8](repeating: 0, count: Int(length))
        let status = out.withUnsafeMutableBufferPointer { o in
            bytes.withUnsafeBufferPointer { i in compress2(o.baseAddress, &length, i.baseAddress, uLong(i.count), 6) }
        }
        guard status == Z_OK else { throw PNGError(reason: "zlib could not compress the picture (status \(status))") }
        return Data(out[0..<Int(length)])
    }
}

/// Why a picture could not be encoded.
public struct PNGError: Error, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}

extension Data {
    mutating func appendBigEndian(_ value: UInt32) {
        append(contentsOf: [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)])
    }
}
