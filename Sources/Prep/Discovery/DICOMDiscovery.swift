import Foundation
import Imaging
import TacoCore

/// Finds the DICOM series in any mix of folders and files (any layout, extension-less files, several
/// subjects per folder), from headers only.
///
/// Rules, in order:
/// 1. Every regular file below the inputs is scanned up to its pixel data; symbolic links are not followed.
///    A file whose header reads but whose pixel data is shorter than the header promises stays in its
///    series as a defect (the series then fails with the reason).
/// 2. Files without pixel data (no Rows/Columns: DICOMDIR, reports) are set aside as non-image.
/// 3. Image files are grouped by StudyInstanceUID + SeriesInstanceUID, then split where
///    ImageOrientationPatient (to 1e-4), EchoNumbers or ImageType differ.
/// 4. Within a group, a SOP instance met again (the same series exported twice) is kept once; the
///    other copies are listed as duplicates.
/// 5. Slices are ordered by position along the normal (row x column cosines). Neighbour distances
///    give the spacing (median), gaps of 1.5 spacings or more count as missing slices, and the
///    largest other departure from the median measures non-uniform spacing.
///
/// ```swift
/// let found = try DICOMDiscovery.discover([URL(fileURLWithPath: "/data/export")])
/// for s in found.series where s.missingSlices > 0 { print(s.files.count, "files,", s.missingSlices, "missing") }
/// ```
public enum DICOMDiscovery {
    /// Departure of a neighbour distance from the median spacing above which spacing is non-uniform.
    public static let spacingTolerance = 0.1
    /// A neighbour distance of at least this many spacings is a gap of missing slices.
    public static let gapFactor = 1.5

    /// The tags every later step needs (grouping, geometry, triage, classification, subjects).
    public static let tags: [DICOMTag] = [
        .studyInstanceUID, .seriesInstanceUID, .sopInstanceUID, .sopClassUID, .imagePositionPatient,
        .imageOrientationPatient, .echoNumbers, .imageType, .numberOfFrames, .instanceNumber, .seriesNumber,
        .rows, .columns, .modality, .seriesDescription, .protocolName, .sequenceName, .scanningSequence,
        .sequenceVariant, .mrAcquisitionType, .repetitionTime, .echoTime, .inversionTime, .contrastBolusAgent,
        .pixelSpacing, .sliceThickness, .transferSyntaxUID, .manufacturer, .manufacturerModelName,
        .magneticFieldStrength, .flipAngle, .patientID,
        // Read only to recognise the patient's identifiers in free text (never written out).
        .patientName, .patientBirthDate, .institutionName, .accessionNumber, .referringPhysicianName,
    ]

    /// Discovers the series under `inputs` (folders are walked; files are taken as they are).
    /// `scanner`: where headers are read (``DICOMHeaderScanner``; prep isolates it in child processes).
    public static func discover(_ inputs: [URL], scanner: DICOMHeaderScanner = .inProcess) throws -> DiscoveryResult {
        var files: [URL] = []
        for input in inputs {
            files += try FileTree.isFolder(input) ? try FileTree.regularFiles(under: input) : [input]
        }
        let headers = try scanner.scan(files, tags: tags)
        var unreadable: [(URL, String)] = []
        var notDICOM: [URL] = []
        var nonImage: [(URL, String)] = []
        var groups: [GroupKey: [DICOMHeader]] = [:]
        for header in headers {
            if let failure = header.failure, header[.seriesInstanceUID] == nil {
                if DICOMSignature.isPresent(in: header.url) {
                    unreadable.append((header.url, failure.hasPrefix("not a DICOM file") ? "a DICOM file whose header is corrupt or truncated" : failure))
                } else {
                    notDICOM.append(header.url)
                }
            } else if header[.rows] == nil || header[.columns] == nil || header[.seriesInstanceUID] == nil {
                nonImage.append((header.url, header[.sopClassUID] ?? "unknown"))
            } else {
                groups[GroupKey(header), default: []].append(header)
            }
        }
        // Number the parts of split series, in a stable order.
        let keys = groups.keys.sorted()
        var partCounts: [String: Int] = [:]
        for key in keys { partCounts[key.study + "|" + key.series, default: 0] += 1 }
        var seen: [String: Int] = [:]
        let series = keys.map { key -> DiscoveredSeries in
            let id = key.study + "|" + key.series
            seen[id, default: 0] += 1
            return assemble(groups[key]!, key: key, part: partCounts[id]! > 1 ? seen[id]! : 0)
        }
        return DiscoveryResult(series: series, unreadable: unreadable, notDICOM: notDICOM, nonImage: nonImage, fileCount: files.count)
    }

    /// What splits a series.
    struct GroupKey: Hashable, Comparable {
        let study: String, series: String, orientation: String, echo: String, imageType: String

        init(_ h: DICOMHeader) {
            study = h[.studyInstanceUID] ?? ""
            series = h[.seriesInstanceUID] ?? ""
            // In units of 1e-4 (integers: -0 is 0), so that cosines differing only by noise group together.
            orientation = h.numbers(.imageOrientationPatient).map { $0.map { String(Int(($0 * 1e4).rounded())) }.joined(separator: "\\") } ?? ""
            echo = h[.echoNumbers] ?? ""
            imageType = (h[.imageType] ?? "").uppercased()
        }

        static func < (a: GroupKey, b: GroupKey) -> Bool {
            (a.study, a.series, a.orientation, a.echo, a.imageType) < (b.study, b.series, b.orientation, b.echo, b.imageType)
        }
    }

    /// Orders, de-duplicates and measures one group.
    static func assemble(_ members: [DICOMHeader], key: GroupKey, part: Int) -> DiscoveredSeries {
        // Keep the first file (by path) of each SOP instance. Paths and positions are computed once:
        // as sort keys they dominated the planning of a large dump.
        var unique: [DICOMHeader] = []
        var duplicates: [URL] = []
        var instances = Set<String>()
        for (h, _) in members.map({ ($0, $0.url.path) }).sorted(by: { $0.1 < $1.1 }) {
            if let sop = h[.sopInstanceUID], !sop.isEmpty, !instances.insert(sop).inserted {
                duplicates.append(h.url)
            } else {
                unique.append(h)
            }
        }
        let orientation = unique.first?.numbers(.imageOrientationPatient)
        // Position along the normal; files without a position go last, by instance number.
        var normal: Vector3?
        if let o = orientation, o.count == 6 { normal = cross(Vector3(o[0], o[1], o[2]), Vector3(o[3], o[4], o[5])) }
        func position(_ h: DICOMHeader) -> Double? {
            guard let n = normal, let p = h.numbers(.imagePositionPatient), p.count == 3 else { return nil }
            return dot(n, Vector3(p[0], p[1], p[2]))
        }
        let keyed = unique.enumerated().map { (header: $0.element, position: position($0.element),
                                               instance: Int($0.element[.instanceNumber] ?? "") ?? 0, rank: $0.offset) }
        let ordered = keyed.sorted { a, b in
            switch (a.position, b.position) {
            case let (pa?, pb?): return pa != pb ? pa < pb : a.rank < b.rank
            case (.some, nil): return true
            case (nil, .some): return false
            default: return a.instance != b.instance ? a.instance < b.instance : a.rank < b.rank
            }
        }.map(\.header)
        let positions = ordered.compactMap(position)
        let measure = SliceSpacing(positions: positions)
        let frames = unique.count == 1 ? unique[0][.numberOfFrames].flatMap { Int($0) }.flatMap { $0 > 1 ? $0 : nil } : nil
        let defects = ordered.enumerated().compactMap { k, h in
            h.failure.map { "file \(k + 1) of \(ordered.count): \($0)" }
        }
        return DiscoveredSeries(studyInstanceUID: key.study, seriesInstanceUID: key.series, part: part,
                                files: ordered.map(\.url), headers: ordered, duplicateFiles: duplicates,
                                orientation: orientation, sliceSpacing: measure.spacing, missingSlices: measure.missing,
                                spacingDeviation: measure.deviation, repeatedPositions: measure.repeated, frames: frames,
                                defects: defects)
    }
}

/// Spacing, gaps and irregularity of sorted slice positions along the normal.
struct SliceSpacing {
    let spacing: Double?
    let missing: Int
    let deviation: Double
    let repeated: Int

    init(positions: [Double]) {
        let steps = zip(positions.dropFirst(), positions).map { $0 - $1 }
        repeated = steps.filter { abs($0) < 1e-3 }.count
        let distinct = steps.filter { abs($0) >= 1e-3 }.sorted()
        guard !distinct.isEmpty else {
            spacing = nil
            missing = 0
            deviation = 0
            return
        }
        let median = distinct[distinct.count / 2]
        spacing = median
        var missing = 0, deviation = 0.0
        for step in distinct {
            if step >= DICOMDiscovery.gapFactor * median {
                missing += Int((step / median).rounded()) - 1
            } else {
                deviation = max(deviation, abs(step - median) / median)
            }
        }
        self.missing = missing
        self.deviation = deviation
    }
}
