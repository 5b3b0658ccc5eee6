import Foundation
import Imaging
import TacoCore

/// Everything that decides what `taco prep` makes of a session. Recorded in every `subject.json` and in
/// `dataset_description.json`; a session is redone when it changes (see ``configuration``).
public struct PrepOptions: Sendable, Codable, Equatable {
    /// Grid spacing of the prepared volumes, mm.
    public var targetSpacing = 1.0
    /// Reference modality, first present wins.
    public var referenceOrder = Modality.referenceOrder.map(\.rawValue)
    /// Co-registration to the reference.
    public var registration = Registration.rigid
    /// Finest registration resolution, mm (levels at 4x, 2x, 1x).
    public var registrationResolution = 2.0
    /// N4 bias-field correction of MR volumes.
    public var biasCorrection = false
    /// CT window in HU (clip, then scale to [0, 1]).
    public var ctWindow = [-1000.0, 1000.0]
    /// What to do with a thick-slice reference's slice axis.
    public var thickSlices = SessionPreparation.ThickSlices.interpolate
    /// Crop margin around the mask, mm.
    public var margin = 5.0
    /// DWI and ADC series are prepared too (else rejected).
    public var keepDiffusion = false
    /// Missing slices a series may have and still be used.
    public var missingSliceTolerance = 0
    /// SHA-256 of the classification rules used (hexadecimal), so that a change of rules redoes sessions.
    public var rulesDigest = ""

    public init() {}

    /// How each modality is co-registered to the reference.
    public enum Registration: String, Sendable, Codable, CaseIterable {
        case rigid, affine
    }

    /// Checks the values, naming the option at fault.
    public func validate() throws {
        func fail(_ reason: String) -> PrepFailure { PrepFailure(reason) }
        guard targetSpacing > 0 && targetSpacing <= 10 else { throw fail("--spacing must lie in (0, 10] mm, not \(targetSpacing)") }
        guard ctWindow.count == 2 && ctWindow[0] < ctWindow[1] else { throw fail("--ct-window needs LOW,HIGH with LOW < HIGH") }
        guard registrationResolution > 0 && registrationResolution <= 20 else {
            throw fail("--registration-resolution must lie in (0, 20] mm, not \(registrationResolution)")
        }
        guard margin >= 0 else { throw fail("--margin must not be negative") }
        guard missingSliceTolerance >= 0 else { throw fail("--missing-slice-tolerance must not be negative") }
        for m in referenceOrder where Modality(rawValue: m) == nil {
            throw fail("--reference-order: unknown modality '\(m)' (known: \(Modality.names))")
        }
    }

    /// The session core these options describe.
    public var sessionPreparation: SessionPreparation {
        var p = SessionPreparation()
        p.targetSpacing = targetSpacing
        p.referenceOrder = referenceOrder
        switch registration {
        case .affine: p.registration = .affine
        case .rigid: p.registration = .rigid
        }
        p.registrationResolution = registrationResolution
        p.biasCorrection = biasCorrection
        p.ctWindow = ctWindow[0]...ctWindow[1]
        p.thickSlices = thickSlices
        p.margin = margin
        return p
    }

    /// The options as flat text, for `subject.json` and `dataset_description.json`; two runs whose
    /// configurations are equal make the same session from the same inputs.
    public var configuration: [String: String] {
        [
            "target_spacing_mm": String(targetSpacing), "reference_order": referenceOrder.joined(separator: ","),
            "registration": registration.rawValue + " (Mattes MI 32 bins, 10% regular sampling, inside the reference's mask grown by 10 mm)",
            "registration_resolution_mm": String(registrationResolution), "bias_correction": biasCorrection ? "N4" : "none",
            "ct_window_hu": ctWindow.map { String($0) }.joined(separator: ","), "thick_slices": thickSlices.rawValue,
            "margin_mm": String(margin), "keep_diffusion": String(keepDiffusion),
            "missing_slice_tolerance": String(missingSliceTolerance), "rules_sha256": rulesDigest,
            "mask": "10% of the reference's 99th percentile, largest component, holes filled",
            "normalisation": "MR and PET: z-score inside the mask; CT: window then [0, 1]",
        ]
    }
}

/// A failure of `taco prep` as a whole (bad options, an unusable output or key folder), with its reason.
public struct PrepFailure: Error, CustomStringConvertible, Sendable {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
