import Foundation
import Imaging

/// The JSON sidecar of a prepared volume: a whitelist of technical acquisition fields, under their BIDS
/// names and units (seconds for times). Nothing else from the DICOM header passes: no patient, study,
/// date, institution or UID field, and no free text except SeriesDescription and ProtocolName, which
/// are dropped when they contain any planted or known identifier passed in `forbidden`.
public enum TechnicalSidecar {
    /// BIDS name, DICOM tag, and whether the value is a time in ms to express in s.
    static let fields: [(String, DICOMTag, Bool)] = [
        ("Modality", .modality, false), ("Manufacturer", .manufacturer, false),
        ("ManufacturersModelName", .manufacturerModelName, false), ("MagneticFieldStrength", .magneticFieldStrength, false),
        ("SeriesDescription", .seriesDescription, false), ("ProtocolName", .protocolName, false),
        ("ScanningSequence", .scanningSequence, false), ("SequenceVariant", .sequenceVariant, false),
        ("SequenceName", .sequenceName, false), ("MRAcquisitionType", .mrAcquisitionType, false),
        ("RepetitionTime", .repetitionTime, true), ("EchoTime", .echoTime, true), ("InversionTime", .inversionTime, true),
        ("FlipAngle", .flipAngle, false), ("SliceThickness", .sliceThickness, false), ("ImageType", .imageType, false),
        ("ContrastBolusAgentPresent", .contrastBolusAgent, false),
    ]

    /// The sidecar of a series whose first header is `header`. `forbidden` lists strings that must not
    /// appear (the patient's identifiers): a free-text field containing one is left out.
    public static func make(from header: DICOMHeader, forbidden: [String] = []) -> [String: Any] {
        var out: [String: Any] = [:]
        for (name, tag, isTime) in fields {
            guard let value = header[tag], !value.isEmpty else { continue }
            if name == "ContrastBolusAgentPresent" { out[name] = true; continue }
            if forbidden.contains(where: { !$0.isEmpty && value.localizedCaseInsensitiveContains($0) }) { continue }
            if isTime, let ms = Double(value) { out[name] = ms / 1000; continue }
            if let number = Double(value), name != "SeriesDescription", name != "ProtocolName" { out[name] = number; continue }
            out[name] = name == "ImageType" || name == "ScanningSequence" || name == "SequenceVariant"
                ? value.split(separator: "\\").map(String.init) : value
        }
        return out
    }
}
