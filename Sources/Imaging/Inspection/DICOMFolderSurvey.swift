import Foundation
import TacoCore

/// The DICOM series found under a folder, described by technical tags only (never patient data,
/// dates or UIDs, which can embed dates and ids).
///
/// ```swift
/// let survey = try DICOMFolderSurvey(folder)
/// for s in survey.series { print(s.fileCount, s.tags[.seriesDescription] ?? "") }
/// ```
public struct DICOMFolderSurvey: Sendable {
    /// One series: files sharing a SeriesInstanceUID (the UID itself is not kept).
    public struct Series: Sendable {
        public let fileCount: Int
        /// Technical tags of the series' first file (by instance number).
        public let tags: [DICOMTag: String]
        /// Number of distinct ImageOrientationPatient values among the files.
        public let orientationCount: Int
        /// The orientation code of the slices ("LPS"-style letters of row, column and normal), if known.
        public let orientationCode: String?
    }

    public let fileCount: Int
    public let series: [Series]
    /// Files that are not DICOM (or unreadable), with the reason; paths relative to the folder.
    public let unreadable: [(path: String, reason: String)]

    /// `scanner`: where headers are read (`taco inspect` isolates it in child processes).
    public init(_ folder: URL, scanner: DICOMHeaderScanner = .inProcess) throws {
        let files = try FileTree.regularFiles(under: folder)
        let tags = DICOMTag.technical + [.seriesInstanceUID]
        let headers = try scanner.scan(files, tags: tags)
        fileCount = files.count
        unreadable = headers.filter { $0.failure != nil }.map { h in
            (String(h.url.path.dropFirst(folder.path.count)).trimmingCharacters(in: CharacterSet(charactersIn: "/")), h.failure!)
        }
        let groups = Dictionary(grouping: headers.filter { $0.failure == nil }) { $0[.seriesInstanceUID] ?? "" }
        series = groups.values.map { members in
            let first = members.min { (Int($0[.instanceNumber] ?? "") ?? 0) < (Int($1[.instanceNumber] ?? "") ?? 0) }!
            var technical = first.values
            technical[.seriesInstanceUID] = nil
            let orientations = Set(members.compactMap { $0[.imageOrientationPatient] })
            var code: String?
            if let iop = first.numbers(.imageOrientationPatient), iop.count == 6 {
                let row = Vector3(iop[0], iop[1], iop[2]), column = Vector3(iop[3], iop[4], iop[5])
                code = OrientationCode(direction: Matrix3(columns: (row, column, cross(row, column)))).code
            }
            return Series(fileCount: members.count, tags: technical, orientationCount: orientations.count, orientationCode: code)
        }.sorted {
            (Int($0.tags[.seriesNumber] ?? "") ?? Int.max, $0.fileCount) < (Int($1.tags[.seriesNumber] ?? "") ?? Int.max, $1.fileCount)
        }
    }
}
