import Crypto
import Foundation
import TacoCore
import Imaging
import Yams

/// The triage and modality rules of rules/classification.yaml (format documented in that file).
///
/// ```swift
/// let rules = try ClassificationRules.load()                 // the shipped file
/// let custom = try ClassificationRules.load(URL(fileURLWithPath: "my-rules.yaml"))
/// ```
/// A user file with `extends: shipped` adds its rules in front of the shipped ones (first rule wins, so
/// its rules take precedence); without it, the file replaces the shipped rules.
public struct ClassificationRules: Sendable, Decodable {
    /// One rule: patterns to match, patterns that veto, numeric ranges, fields that must be present.
    public struct Rule: Sendable, Decodable {
        public struct Range: Sendable, Decodable {
            public let min: Double?
            public let max: Double?
        }

        /// For reject rules: why the series is rejected.
        public let reason: String?
        /// For class rules: the modality class it names.
        public let `class`: String?
        public let match: [String: [String]]?
        public let unless: [String: [String]]?
        public let range: [String: Range]?
        public let present: [String]?
    }

    public let version: Int
    public private(set) var reject: [Rule]
    public private(set) var classes: [Rule]
    /// `shipped` to put this file's rules in front of the shipped ones.
    public let extends: String?
    /// SHA-256 (hexadecimal) of the rule text(s) in effect: a change of rules changes it.
    public private(set) var digest = ""

    enum CodingKeys: String, CodingKey { case version, reject, classes, extends }

    /// A rules file that cannot be used, with the file and the reason.
    public struct LoadError: Error, CustomStringConvertible, Sendable {
        public let path: String
        public let reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// Loads `url`, or the shipped rules (``ShippedResources/rules()``) when nil.
    public static func load(_ url: URL? = nil) throws -> ClassificationRules {
        let file: URL
        if let url {
            file = url
        } else {
            do { file = try ShippedResources.rules() } catch {
                throw LoadError(path: "rules/classification.yaml", reason: "\(error)")
            }
        }
        let text: String
        do { text = try String(contentsOf: file, encoding: .utf8) } catch {
            throw LoadError(path: file.path, reason: "unreadable: \(error.localizedDescription)")
        }
        var rules: ClassificationRules
        do { rules = try YAMLDecoder().decode(ClassificationRules.self, from: text) } catch {
            throw LoadError(path: file.path, reason: "not a valid rules file: \(error)")
        }
        guard rules.version == 1 else { throw LoadError(path: file.path, reason: "rules version \(rules.version); this TacoKit reads version 1") }
        var digestText = text
        switch rules.extends {
        case nil: break
        case "shipped"?:
            guard url != nil else { throw LoadError(path: file.path, reason: "the shipped rules cannot extend themselves") }
            let shipped = try load()
            rules.reject += shipped.reject
            rules.classes += shipped.classes
            digestText += shipped.digest
        case let other?:
            throw LoadError(path: file.path, reason: "extends: '\(other)' (only 'shipped' is known)")
        }
        rules.digest = SHA256.hash(data: Data(digestText.utf8)).map { String(format: "%02x", $0) }.joined()
        for rule in rules.reject where rule.reason == nil { throw LoadError(path: file.path, reason: "a reject rule has no reason") }
        for rule in rules.classes where rule.class == nil { throw LoadError(path: file.path, reason: "a class rule has no class") }
        for rule in rules.reject + rules.classes {
            for field in Array((rule.match ?? [:]).keys) + Array((rule.unless ?? [:]).keys) + Array((rule.range ?? [:]).keys) + (rule.present ?? [])
            where SeriesFields.tag(field) == nil {
                throw LoadError(path: file.path, reason: "unknown field '\(field)'")
            }
        }
        return rules
    }
}

/// The fields rules can test, and how their text is compared.
enum SeriesFields {
    static let tags: [String: DICOMTag] = [
        "series_description": .seriesDescription, "protocol_name": .protocolName, "sequence_name": .sequenceName,
        "scanning_sequence": .scanningSequence, "sequence_variant": .sequenceVariant, "image_type": .imageType,
        "modality": .modality, "sop_class_uid": .sopClassUID, "contrast_bolus_agent": .contrastBolusAgent,
        "repetition_time": .repetitionTime, "echo_time": .echoTime, "inversion_time": .inversionTime,
    ]

    static func tag(_ field: String) -> DICOMTag? { tags[field] }

    /// Lower case, every non-alphanumeric character a space, one space before and after.
    static func words(_ text: String) -> String {
        " " + String(text.lowercased().map { $0.isLetter || $0.isNumber ? $0 : " " }) + " "
    }

    /// Whether `value` of `field` matches `pattern` (word-prefix for text, dotted prefix for UIDs).
    static func matches(_ value: String, pattern: String, field: String) -> Bool {
        if field.hasSuffix("_uid") { return value == pattern || value.hasPrefix(pattern + ".") }
        return words(value).contains(" " + words(pattern).trimmingCharacters(in: .whitespaces))
    }
}
