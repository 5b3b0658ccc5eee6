import Foundation
import Imaging
import TacoCore

/// Writes series the way a hospital export looks: nested folders with opaque names shared by several
/// subjects, extension-less files with opaque names, vendor-style descriptions and full (fake) patient
/// headers. Records every series in the ground truth.
struct DICOMDump {
    let root: URL
    private let folders: [String]
    private var names: SeededGenerator
    private var usedNames: Set<String> = []
    private(set) var series: [CohortTruth.Series] = []

    /// `folderCount` folders, fewer than the subjects so that subjects' files share folders.
    init(root: URL, folderCount: Int, rng: SeededGenerator) {
        self.root = root
        var r = rng
        folders = (0..<max(1, folderCount)).map { _ in
            String(format: "%08X/%08X", UInt32(truncatingIfNeeded: r.next()), UInt32(truncatingIfNeeded: r.next()))
        }
        names = r.stream(1)
    }

    /// The shared folder for series `k` of subject `i`.
    func folder(subject i: Int, series k: Int) -> String { folders[(i + k) % folders.count] }

    /// `count` new opaque file URLs in `folder`.
    mutating func files(_ count: Int, in folder: String) throws -> [URL] {
        let directory = root.appendingPathComponent(folder)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return (0..<count).map { _ in
            var name: String
            repeat { name = String(format: "%08X", UInt32(truncatingIfNeeded: names.next())) } while usedNames.contains(folder + name)
            usedNames.insert(folder + name)
            return directory.appendingPathComponent(name)
        }
    }

    /// Writes `volume` as a series and records it.
    mutating func write(_ volume: Volume, tags: [DICOMTag: String], rescale: Rescale, folder: String, firstInstance: Int = 1,
                        compression: DICOMSeries.Compression = .none, truth: CohortTruth.Series) throws -> [URL] {
        let urls = try files(volume.geometry.size.z, in: folder)
        try DICOMSeries.write(volume, to: urls, tags: tags, rescaleSlope: rescale.slope, rescaleIntercept: rescale.intercept,
                              firstInstanceNumber: firstInstance, compression: compression)
        record(truth)
        return urls
    }

    mutating func record(_ truth: CohortTruth.Series) {
        if let i = series.firstIndex(where: { $0.subject == truth.subject && $0.seriesNumber == truth.seriesNumber && $0.folder == truth.folder }) {
            let old = series[i]
            series[i] = CohortTruth.Series(subject: old.subject, seriesNumber: old.seriesNumber, seriesDescription: old.seriesDescription,
                                           folder: old.folder, files: old.files + truth.files, kind: old.kind,
                                           transferSyntax: old.transferSyntax, expectedFate: old.expectedFate,
                                           expectedModality: old.expectedModality, reason: old.reason)
        } else {
            series.append(truth)
        }
    }

    /// Transfer syntax UID of a compression choice.
    static func transferSyntax(_ compression: DICOMSeries.Compression) -> String { compression.transferSyntaxUID }

    /// MR Image Storage.
    static let mrImageStorage = "1.2.840.10008.5.1.4.1.1.4"
    /// Secondary Capture Image Storage.
    static let secondaryCaptureStorage = "1.2.840.10008.5.1.4.1.1.7"
}
