import Foundation
import Imaging
import TacoCore

/// The BIDS copy of the cohort: one NIfTI per acquisition (int16 with scl_slope/scl_inter, like dcm2niix) and a
/// JSON sidecar of technical fields, plus dataset_description.json and participants.tsv.
enum BIDSExport {
    /// The file of `modality` for subject `label` in a BIDS dataset (one session, `ses-01`).
    static func path(subject label: String, modality: Modality) -> String {
        "sub-\(label)/ses-01/anat/sub-\(label)_ses-01_\(modality.rawValue).nii.gz"
    }

    static func write(_ volume: Volume, rescale: Rescale, plan: AcquisitionPlan, vendor: Vendor, to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try NIfTIFile.write(volume, to: url, space: .scanner, storage: .int16(slope: Float(rescale.slope), intercept: Float(rescale.intercept)),
                            description: "taco synth \(plan.modality.rawValue)")
        let m = plan.modality
        var sidecar: [String: Any] = [
            "Modality": "MR", "MagneticFieldStrength": 3, "Manufacturer": vendor.manufacturer,
            "ManufacturersModelName": vendor.model, "SeriesDescription": vendor.names(m).description,
            "ProtocolName": vendor.names(m).protocolName, "RepetitionTime": m.timing.tr / 1000, "EchoTime": m.timing.te / 1000,
            "MRAcquisitionType": m.sequence.acquisition, "ScanningSequence": m.sequence.scanning,
            "SequenceVariant": m.sequence.variant, "SliceThickness": plan.grid.spacing.z,
        ]
        if let ti = m.timing.ti { sidecar["InversionTime"] = ti / 1000 }
        let json = url.deletingPathExtension().deletingPathExtension().appendingPathExtension("json")
        try AtomicFile.write(to: json) {
            try JSONSerialization.data(withJSONObject: sidecar, options: [.prettyPrinted, .sortedKeys]).write(to: $0)
        }
    }

    static func writeDatasetFiles(root: URL, subjects: [CohortTruth.Subject], version: String) throws {
        let description: [String: Any] = [
            "Name": "TacoKit synthetic multi-modal cohort", "BIDSVersion": "1.8.0", "DatasetType": "raw",
            "GeneratedBy": [["Name": "taco synth", "Version": version]],
            "License": "synthetic data derived from the MNI ICBM152 2009a atlas (see its LICENSE)",
        ]
        try AtomicFile.write(to: root.appendingPathComponent("dataset_description.json")) {
            try JSONSerialization.data(withJSONObject: description, options: [.prettyPrinted, .sortedKeys]).write(to: $0)
        }
        let rows = ["participant_id"] + subjects.map { "sub-\($0.label)" }
        try AtomicFile.write(to: root.appendingPathComponent("participants.tsv")) {
            try Data((rows.joined(separator: "\n") + "\n").utf8).write(to: $0)
        }
    }
}

/// How stored int16 values become intensities: value = stored * slope + intercept.
struct Rescale: Sendable, Equatable {
    let slope: Double
    let intercept: Double
}
