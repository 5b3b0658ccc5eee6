import Foundation
import Imaging

/// One image series as found in a dump: files sharing a StudyInstanceUID and SeriesInstanceUID, split
/// further where orientation, echo number or image type differ, with its slices in order along the
/// normal and what is wrong with its geometry.
///
/// Holds headers only (no pixels). The UIDs and patient tags in it are for grouping and
/// de-identification in memory: nothing here may be written out as is.
public struct DiscoveredSeries: Sendable {
    public let studyInstanceUID: String
    public let seriesInstanceUID: String
    /// 0 when the series was not split; 1, 2, ... for the parts of a split series.
    public let part: Int
    /// The files in slice order (ascending position along the slice normal), one per SOP instance.
    public let files: [URL]
    /// Their headers, in the same order.
    public let headers: [DICOMHeader]
    /// Further copies of SOP instances already in `files` (the same series exported twice).
    public let duplicateFiles: [URL]
    /// ImageOrientationPatient (row, column cosines) shared by the files, if they have one.
    public let orientation: [Double]?
    /// Distance between neighbouring slices along the normal (median), mm; nil below two positions.
    public let sliceSpacing: Double?
    /// Slices missing from the regular sequence of positions (gaps of 1.5 spacings or more).
    public let missingSlices: Int
    /// Largest departure of a neighbour distance from `sliceSpacing`, as a fraction of it (gaps excluded).
    public let spacingDeviation: Double
    /// Distinct SOP instances sharing one slice position (not the same file twice).
    public let repeatedPositions: Int
    /// Frames in the series' single file (enhanced multi-frame storage), else nil.
    public let frames: Int?
    /// Files of the series that cannot be decoded as their header says ("file k of n: reason"), e.g. truncated.
    public var defects: [String] = []

    /// Neighbour distances differ by more than `tolerance` (fraction) from the median spacing.
    public func hasNonUniformSpacing(tolerance: Double = DICOMDiscovery.spacingTolerance) -> Bool {
        spacingDeviation > tolerance
    }

    /// A tag's value in the first file (by slice order).
    public subscript(tag: DICOMTag) -> String? { headers.first?[tag] }
}

/// What a discovery found beside the series.
public struct DiscoveryResult: Sendable {
    public let series: [DiscoveredSeries]
    /// DICOM files (by their signature, ``DICOMSignature``) whose header cannot be read, with the reason.
    public let unreadable: [(url: URL, reason: String)]
    /// Files that are not DICOM at all (no DICOM signature): export clutter, set aside.
    public let notDICOM: [URL]
    /// DICOM files that hold no image (DICOMDIR, structured reports, ...), with their SOP class UID.
    public let nonImage: [(url: URL, sopClassUID: String)]
    /// Every file looked at.
    public let fileCount: Int
}
