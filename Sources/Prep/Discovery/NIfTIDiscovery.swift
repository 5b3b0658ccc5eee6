import Foundation
import Imaging

/// A NIfTI input: where it came from, whose it is, and its fate.
public struct NIfTIInput: Sendable {
    public let url: URL
    /// Subject and session as the input names them (BIDS sub/ses labels, or the file's folder for loose
    /// files): identifiers to pseudonymise, never to write out.
    public let subjectID: String
    public let sessionID: String
    public let decision: TriageDecision
}

/// Finds NIfTI inputs: BIDS datasets (a folder with dataset_description.json: sub-*/[ses-*/]anat/*.nii[.gz],
/// modality from the BIDS suffix, `ce-` entity on a T1w making T1w-CE) and loose .nii/.nii.gz files
/// (subject = the folder holding them, modality from the file name through the classification rules).
/// Files with more than one volume, or unreadable headers, are rejected with the reader's reason.
public enum NIfTIDiscovery {
    /// BIDS anatomical suffixes TacoKit prepares.
    public static let bidsSuffixes = ["T1w": "T1w", "T2w": "T2w", "FLAIR": "FLAIR", "PDw": "PDw", "T2starw": "T2starw"]

    public static func discover(_ inputs: [URL], triage: SeriesTriage) throws -> [NIfTIInput] {
        var found: [NIfTIInput] = []
        for input in inputs {
            let isFolder = try FileTree.isFolder(input)
            if isFolder && FileManager.default.fileExists(atPath: input.appendingPathComponent("dataset_description.json").path) {
                found += try bids(input)
            } else {
                let files = isFolder ? try FileTree.regularFiles(under: input) : [input]
                found += files.filter(ImageFile.isNIfTI).map { loose($0, triage: triage) }
            }
        }
        return found
    }

    /// The NIfTI files of a BIDS dataset's anat folders.
    static func bids(_ root: URL) throws -> [NIfTIInput] {
        try FileTree.regularFiles(under: root).filter(ImageFile.isNIfTI).compactMap { url -> NIfTIInput? in
            let parts = url.path.dropFirst(root.path.count).split(separator: "/").map(String.init)
            guard parts.count >= 3, parts[parts.count - 2] == "anat", let sub = parts.first(where: { $0.hasPrefix("sub-") }) else { return nil }
            let ses = parts.first { $0.hasPrefix("ses-") }.map { String($0.dropFirst(4)) } ?? "1"
            let name = url.lastPathComponent.replacingOccurrences(of: ".nii.gz", with: "").replacingOccurrences(of: ".nii", with: "")
            let entities = name.split(separator: "_").map(String.init)
            let suffix = entities.last ?? ""
            var decision: TriageDecision
            if let modality = bidsSuffixes[suffix] {
                let contrast = modality == "T1w" && entities.contains { $0.hasPrefix("ce-") }
                decision = TriageDecision(fate: .used, modality: contrast ? "T1w-CE" : modality, reason: "BIDS suffix \(suffix)")
            } else {
                decision = TriageDecision(fate: .rejected, modality: nil, reason: "BIDS suffix '\(suffix)' is not an anatomical modality TacoKit prepares")
            }
            decision = checked(url, decision)
            return NIfTIInput(url: url, subjectID: String(sub.dropFirst(4)), sessionID: ses, decision: decision)
        }
    }

    /// A loose file: its folder is the subject; its name goes through the rules as a series description.
    static func loose(_ url: URL, triage: SeriesTriage) -> NIfTIInput {
        let header = DICOMHeader(url: url, failure: nil, values: [.seriesDescription: url.lastPathComponent, .modality: "MR"])
        let named = DiscoveredSeries(studyInstanceUID: "", seriesInstanceUID: "", part: 0, files: [url], headers: [header],
                                    duplicateFiles: [], orientation: nil, sliceSpacing: nil, missingSlices: 0, spacingDeviation: 0,
                                    repeatedPositions: 0, frames: 1)
        let modality = triage.classify(named)
        let decision = modality.map { TriageDecision(fate: .used, modality: $0, reason: "file name") }
            ?? TriageDecision(fate: .rejected, modality: nil, reason: "unknown modality")
        return NIfTIInput(url: url, subjectID: url.deletingLastPathComponent().lastPathComponent, sessionID: "1",
                          decision: checked(url, decision))
    }

    /// Rejects files whose header says 4D (or cannot be read), keeping the reader's reason.
    static func checked(_ url: URL, _ decision: TriageDecision) -> TriageDecision {
        guard decision.fate == .used else { return decision }
        do {
            let info = try ImageFile.info(url)
            if info.components != 1 {
                return TriageDecision(fate: .rejected, modality: decision.modality, reason: "\(info.components) components per voxel: not a scalar image")
            }
            return decision
        } catch {
            // The bridge refuses a readable header of more than one volume as an invalid argument, not an I/O error.
            let reason = (error as? BridgeError)?.kind == .invalidArgument ? "4D where 3D is needed: \(error)" : "unreadable header: \(error)"
            return TriageDecision(fate: .rejected, modality: decision.modality, reason: reason, isMalformedInput: true)
        }
    }
}
