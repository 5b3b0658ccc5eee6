import Foundation

/// The requested tags of one file, read without decoding its pixels.
public struct DICOMHeader: Sendable {
    public let url: URL
    /// Why the file could not be read as DICOM; nil when it could.
    public let failure: String?
    /// Values (trimmed of DICOM padding) of the requested tags the file has.
    public let values: [DICOMTag: String]

    /// A header from known values (e.g. tags derived from a NIfTI file's name, to apply the same rules).
    public init(url: URL, failure: String?, values: [DICOMTag: String]) {
        self.url = url
        self.failure = failure
        self.values = values
    }

    public subscript(tag: DICOMTag) -> String? { values[tag] }

    /// A multi-valued numeric tag (e.g. "0.5\\0.5") as numbers; nil when absent or malformed.
    public func numbers(_ tag: DICOMTag) -> [Double]? {
        guard let text = values[tag] else { return nil }
        // Trimmed without Foundation (its CharacterSet trimming dominated a large dump's planning).
        let parts = text.split(separator: "\\").map { part -> Double? in
            let trimmed = part.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed()
            return Double(String(trimmed))
        }
        guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else { return nil }
        return parts.map { $0! }
    }
}
