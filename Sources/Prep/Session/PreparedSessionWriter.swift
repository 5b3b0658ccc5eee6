import Crypto
import Foundation
import Imaging
import TacoCore

/// Writes one prepared session in the prepared layout (``PreparedLayout``: volumes, technical sidecars,
/// mask, `subject.json`, `qc.png`), atomically: the session folder is built under a temporary name beside
/// its final place and renamed when complete. Names are built from pseudonymous labels and modality names
/// only, never from DICOM text.
public struct PreparedSessionWriter: Sendable {
    /// QC thresholds: a flag is raised when a registration's final metric is above `weakMetric`
    /// (Mattes MI is negative; near 0 means little shared information), when the rotation it found
    /// exceeds `largeRotationDegrees`, or when the mask is smaller than `tinyMaskML` millilitres.
    public var weakMetric = -0.2
    /// Series of one session moved by up to 21° against each other were aligned correctly on real anatomy
    /// (ClinicalCoRegistrationTests); beyond 25° a rotation found is more likely a failed registration.
    public var largeRotationDegrees = 25.0
    public var tinyMaskML = 100.0

    public init() {}

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let reason: String
        public var description: String { reason }
    }

    /// Writes `result` for subject `subject` and session `session` (pseudonymous labels) under `root`.
    /// `fingerprint` identifies the inputs (see ``fingerprint(of:)``); `configuration` is recorded as is;
    /// `sidecars` holds each modality's technical sidecar (JSON, see ``TechnicalSidecar``);
    /// `inputFailures` names the modalities whose input could not be read, with the reason.
    /// Returns the session folder.
    @discardableResult
    public func write(_ result: SessionPreparation.Result, subject: String, session: String, fingerprint: String,
                      configuration: [String: String], sidecars: [String: Data] = [:], inputFailures: [String: String] = [:],
                      under root: URL) throws -> URL {
        for label in [subject, session] where label.isEmpty || !label.allSatisfy({ $0.isLetter || $0.isNumber }) {
            throw Failure(reason: "'\(label)' is not a BIDS label (letters and digits only)")
        }
        let fm = FileManager.default
        let layout = PreparedLayout(root: root), labels = PreparedLayout.Session(subject: subject, session: session)
        let final = layout.folder(labels)
        let staging = layout.stagingFolder(labels)
        try fm.createDirectory(at: staging.appendingPathComponent(PreparedLayout.Session.anatPath), withIntermediateDirectories: true)
        do {
            // The volumes are compressed in parallel (gzip is the write's cost); the first error wins.
            let volumes = result.volumes.sorted(by: { $0.key < $1.key })
            let firstError = Locked<(any Error)?>(nil)
            DispatchQueue.concurrentPerform(iterations: volumes.count + 1) { i in
                do {
                    if i == volumes.count {
                        try NIfTIFile.write(result.mask, to: staging.appendingPathComponent(labels.maskPath),
                                            storage: .int16(slope: 1, intercept: 0), description: "taco prep mask")
                    } else {
                        let (modality, volume) = volumes[i]
                        try NIfTIFile.write(volume, to: staging.appendingPathComponent(labels.volumePath(modality)),
                                            description: "taco prep \(modality)")
                    }
                } catch {
                    firstError.withLock { if $0 == nil { $0 = error } }
                }
            }
            if let error = firstError.value { throw error }
            for (modality, sidecar) in sidecars where result.volumes[modality] != nil {
                try sidecar.write(to: staging.appendingPathComponent(labels.sidecarPath(modality)))
            }
            var summary = self.summary(result, fingerprint: fingerprint, configuration: configuration)
            summary["input_failures"] = inputFailures
            try JSONSerialization.data(withJSONObject: summary, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
                .write(to: staging.appendingPathComponent(PreparedLayout.Session.summaryPath))
            try Self.qcPicture(result).write(to: staging.appendingPathComponent(PreparedLayout.Session.picturePath))
            // A rewrite: the old session steps aside (still complete) until the new one is in place.
            let old = layout.asideFolder(labels)
            let replacing = fm.fileExists(atPath: final.path)
            if replacing { try fm.moveItem(at: final, to: old) }
            do {
                try fm.moveItem(at: staging, to: final)
            } catch {
                if replacing { try? fm.moveItem(at: old, to: final) }
                throw error
            }
            if replacing { try? fm.removeItem(at: old) }
            return final
        } catch {
            try? fm.removeItem(at: staging)
            throw error
        }
    }

    /// Removes what an interrupted write of this session left behind (its temporary folders), e.g. after
    /// its worker was killed; a complete session folder is kept. Returns how many were removed.
    @discardableResult
    public static func removeLeftovers(subject: String, session: String, under root: URL) -> Int {
        let fm = FileManager.default
        let layout = PreparedLayout(root: root), labels = PreparedLayout.Session(subject: subject, session: session)
        var removed = 0
        for (url, isAside) in layout.leftovers(labels) {
            if isAside && !fm.fileExists(atPath: layout.folder(labels).path) {
                // Killed between the two renames: the old session is the complete one.
                try? fm.moveItem(at: url, to: layout.folder(labels))
            } else if (try? fm.removeItem(at: url)) != nil {
                removed += 1
            }
        }
        return removed
    }

    /// A fingerprint of a session's inputs that reveals nothing of them: SHA-256 over the sorted SOP
    /// instance UIDs (DICOM) or file contents' names and sizes, hexadecimal.
    public static func fingerprint(of parts: [String]) -> String {
        SHA256.hash(data: Data(parts.sorted().joined(separator: "\n").utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// The session's QC flags: a tiny mask, a thick-slice reference, and per modality a weak final metric or a
    /// large rotation.
    func flags(_ result: SessionPreparation.Result) -> [String] {
        let g = result.grid
        let maskML = Double(result.mask.voxels.filter { $0 > 0 }.count) * g.spacing.x * g.spacing.y * g.spacing.z / 1000
        var flags: [String] = []
        if maskML < tinyMaskML { flags.append(String(format: "tiny mask (%.0f mL)", maskML)) }
        if result.referenceAnisotropy > SessionPreparation.anisotropyRatio {
            flags.append(String(format: "thick-slice reference (spacing ratio %.1f)", result.referenceAnisotropy))
        }
        for (modality, r) in result.registrations.sorted(by: { $0.key < $1.key }) {
            let degrees = r.transform.linear.rotationAngle * 180 / .pi
            if r.metric > weakMetric { flags.append(String(format: "%@: low final metric (%.3f)", modality, r.metric)) }
            if degrees > largeRotationDegrees { flags.append(String(format: "%@: large rotation found (%.1f°)", modality, degrees)) }
        }
        return flags
    }

    /// subject.json's content.
    func summary(_ result: SessionPreparation.Result, fingerprint: String, configuration: [String: String]) -> [String: Any] {
        let g = result.grid
        let affine = g.indexToRAS.rowMajor4x4
        let voxelML = g.spacing.x * g.spacing.y * g.spacing.z / 1000
        let maskML = Double(result.mask.voxels.filter { $0 > 0 }.count) * voxelML
        var registrations: [String: Any] = [:]
        for (modality, r) in result.registrations.sorted(by: { $0.key < $1.key }) {
            let degrees = r.transform.linear.rotationAngle * 180 / .pi
            let shift = length(r.transform.apply(to: g.center) - g.center)
            registrations[modality] = ["metric": r.metric, "iterations": r.iterations, "rotation_degrees": degrees,
                                       "shift_at_centre_mm": shift, "to_reference_lps": r.transform.rowMajor4x4]
        }
        let flags = flags(result)
        return [
            "modalities": result.volumes.keys.sorted(), "reference": result.reference,
            "grid": ["size": [g.size.x, g.size.y, g.size.z], "spacing_mm": [g.spacing.x, g.spacing.y, g.spacing.z],
                     "affine_ras": (0..<4).map { r in (0..<4).map { affine[4 * r + $0] } }],
            "mask_ml": maskML, "registration": registrations, "qc_flags": flags,
            "input_fingerprint": fingerprint, "configuration": configuration,
            "reference_anisotropy": result.referenceAnisotropy,
        ]
    }

    /// Mid-slices (axial, coronal, sagittal) of every modality, one row each, grey from the 1st to the
    /// 99th percentile inside the mask (black outside), the mask outline in red. Neurological convention: the patient's
    /// right (+x in RAS) on the picture's right, anterior and superior up.
    static func qcPicture(_ result: SessionPreparation.Result) -> PNGImage {
        let inside = result.mask.voxels.map { $0 > 0 }
        let outline = result.mask.voxels.map { $0 > 0 ? UInt8(1) : 0 }
        return MidSliceMontage.render(result.volumes.keys.sorted().map { modality in
            MidSliceMontage.Row.windowed(result.volumes[modality]!, inside: inside, outline: outline)
        })
    }
}
