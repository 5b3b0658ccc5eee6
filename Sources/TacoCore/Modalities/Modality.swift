/// The imaging modalities TacoKit knows, by the names its files use (BIDS suffixes where BIDS has one):
/// the one list that options, rules and readers check names against.
///
/// ```swift
/// Modality(rawValue: "FLAIR")        // .flair
/// Modality.anatomical.contains(.dwi)  // false: diffusion is not an anatomical input
/// ```
public enum Modality: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case t1w = "T1w"
    case t1wContrast = "T1w-CE"
    case t2w = "T2w"
    case flair = "FLAIR"
    case pdw = "PDw"
    case t2starw = "T2starw"
    case dwi = "DWI"
    case adc = "ADC"
    case ct = "CT"
    case pet = "PET"

    public var description: String { rawValue }

    /// The modalities a prepared session may hold by default (diffusion only when asked for).
    public static let anatomical: [Modality] = [.t1w, .t1wContrast, .t2w, .flair, .pdw, .t2starw, .ct, .pet]

    /// The default order in which a session's reference modality is chosen (first present wins).
    public static let referenceOrder: [Modality] = [.t1w, .t1wContrast, .t2w, .flair, .pdw, .ct, .pet]

    /// Every name, comma-separated, for messages.
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}
