import Foundation

/// Whether a file's first bytes look like DICOM (PS3.10 §7.1: a 128-byte preamble, then "DICM"; older
/// exports without the preamble start with a data element of group 0002 or 0008), to tell a damaged DICOM
/// file from a file that never was one (VERSION, LOCKFILE and other export clutter).
public enum DICOMSignature {
    public static func isPresent(in url: URL) -> Bool {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return false }
        defer { try? handle.close() }
        guard let head = try? handle.read(upToCount: 132) else { return false }
        return isPresent(in: [UInt8](head))
    }

    public static func isPresent(in head: [UInt8]) -> Bool {
        if head.count >= 132 && head[128..<132].elementsEqual("DICM".utf8) { return true }
        guard head.count >= 8 else { return false }
        // A bare data set: group 0002 or 0008 (little or big endian), element number below 0x0100 (the
        // standard's first elements), then an explicit VR of two capitals or an implicit 4-byte length.
        let littleGroup = UInt16(head[0]) | UInt16(head[1]) << 8, bigGroup = UInt16(head[0]) << 8 | UInt16(head[1])
        let littleElement = UInt16(head[2]) | UInt16(head[3]) << 8, bigElement = UInt16(head[2]) << 8 | UInt16(head[3])
        let capitals = (65...90).contains(head[4]) && (65...90).contains(head[5])
        if [0x0002, 0x0008].contains(littleGroup) && littleElement < 0x0100 { return capitals || head[7] == 0 }
        if bigGroup == 0x0008 && bigElement < 0x0100 { return capitals || head[4] == 0 }
        return false
    }
}
