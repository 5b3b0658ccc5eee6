import Foundation
import Imaging
import TacoCore
import Shards

/// Text layout of inspection reports (printing only; the facts come from Imaging).
enum InspectionText {
    static func describe(_ report: ImageInspection, path: String) -> String {
        let g = report.geometry
        var lines = ["\(path)", "  format       \(report.format)"]
        if let h = report.niftiHeader {
            lines.append("  geometry     from \(h.geometrySource.rawValue) (sform_code \(h.sformCode), qform_code \(h.qformCode))")
            if let slope = h.scaleSlope { lines.append("  scaling      value = \(slope) * stored + \(h.scaleIntercept ?? 0)") }
        }
        lines += [
            "  voxel type   \(report.voxelType.rawValue)",
            "  size         \(g.size.x) x \(g.size.y) x \(g.size.z) voxels",
            "  spacing      \(format(g.spacing)) mm",
            "  origin       \(format(g.origin)) mm (LPS)",
            "  orientation  \(g.orientationCode)\(g.isAxisAligned ? "" : " (oblique)")",
            "  direction    " + g.direction.description.replacingOccurrences(of: "\n", with: "\n               "),
            "  RAS affine   " + g.indexToRAS.description.replacingOccurrences(of: "\n", with: "\n               "),
        ]
        let s = report.intensities
        lines.append(String(format: "  intensity    min %.4g  max %.4g  mean %.4g  non-zero %.1f%%", s.minimum, s.maximum, s.mean,
                            100 * Double(s.nonZeroCount) / Double(max(1, s.count))))
        lines.append("  percentiles  " + [1, 5, 50, 95, 99].map { String(format: "p%g %.4g", $0, s.percentile($0)) }.joined(separator: "  "))
        if s.nonFiniteCount > 0 { lines.append("  non-finite   \(s.nonFiniteCount) voxels (NaN or infinite)") }
        return lines.joined(separator: "\n")
    }

    static func describe(_ survey: DICOMFolderSurvey, folder: String) -> String {
        var lines = ["\(folder): \(survey.fileCount) files, \(survey.series.count) DICOM series, \(survey.unreadable.count) not DICOM"]
        let shown: [(DICOMTag, String)] = [
            (.modality, "modality"), (.seriesDescription, "description"), (.protocolName, "protocol"),
            (.imageType, "image type"), (.manufacturer, "manufacturer"), (.sopClassUID, "SOP class"),
            (.transferSyntaxUID, "transfer syntax"), (.pixelSpacing, "pixel spacing"), (.sliceThickness, "slice thickness"),
            (.repetitionTime, "TR"), (.echoTime, "TE"), (.inversionTime, "TI"), (.scanningSequence, "sequence"),
        ]
        for (i, series) in survey.series.enumerated() {
            let rows = series.tags[.rows] ?? "?", columns = series.tags[.columns] ?? "?"
            lines.append("series \(i + 1) (number \(series.tags[.seriesNumber] ?? "-")): \(series.fileCount) files, \(columns) x \(rows) pixels, orientation \(series.orientationCode ?? "unknown")"
                + (series.orientationCount > 1 ? ", \(series.orientationCount) different orientations" : ""))
            for (tag, label) in shown {
                if let value = series.tags[tag], !value.isEmpty {
                    lines.append("    \(label.padding(toLength: 16, withPad: " ", startingAt: 0))\(value)")
                }
            }
        }
        for (path, reason) in survey.unreadable.prefix(20) { lines.append("not DICOM: \(path): \(reason)") }
        if survey.unreadable.count > 20 { lines.append("... and \(survey.unreadable.count - 20) more files that are not DICOM") }
        return lines.joined(separator: "\n")
    }

    static func describe(_ shard: ShardReader, path: String) throws -> String {
        let keys = try shard.keys()
        var lines = ["\(path)", "  format       taco-shard version \(shard.version)", "  atlas        \(shard.atlas)",
                     "  token stride \(shard.tokenStride) voxels", "  created by   \(shard.createdBy)", "  subjects     \(keys.count)"]
        for key in keys {
            let d = try shard.describe(key)
            lines.append("  \(key): \(d.modalities.joined(separator: " ")), \(d.size.x) x \(d.size.y) x \(d.size.z) voxels at "
                         + d.spacing.map { String(format: "%.3g", $0) }.joined(separator: " x ") + " mm, tokens "
                         + "\(d.tokenGridSize.x) x \(d.tokenGridSize.y) x \(d.tokenGridSize.z)"
                         + (d.flags.isEmpty ? "" : "; flags: " + d.flags.joined(separator: "; ")))
        }
        return lines.joined(separator: "\n")
    }

    static func describe(_ manifest: ShardManifest, path: String) -> String {
        let flagged = manifest.subjects.filter { !$0.flags.isEmpty }.count
        let bytes = manifest.shards.map(\.bytes).reduce(0, +)
        var lines = ["\(path)", "  format       taco-shard manifest version \(manifest.version)", "  atlas        \(manifest.atlas)",
                     "  token stride \(manifest.tokenStride) voxels",
                     String(format: "  shards       %d (%.1f MB)", manifest.shards.count, Double(bytes) / 1e6),
                     "  subjects     \(manifest.subjects.count) (\(flagged) flagged)"]
        let modalities = Dictionary(grouping: manifest.subjects.flatMap(\.modalities), by: { $0 }).mapValues(\.count)
        lines.append("  modalities   " + modalities.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        return lines.joined(separator: "\n")
    }

    private static func format(_ v: Vector3) -> String { String(format: "%.4g, %.4g, %.4g", v.x, v.y, v.z) }
}
