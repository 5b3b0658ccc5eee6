import Foundation
import Imaging

/// What happens to a series, and why.
public struct TriageDecision: Sendable {
    public enum Fate: String, Sendable, Codable { case used, rejected }

    public let fate: Fate
    /// The modality class (T1w, T1w-CE, T2w, FLAIR, PDw, DWI, ADC, CT, PET) when one was recognised.
    public let modality: String?
    public let reason: String
    /// The input file itself is broken (an unreadable header, 4D where 3D is needed): the report counts it
    /// as failed, not as a series rightly set aside.
    public var isMalformedInput = false
    /// For a series set aside as another of its class in its study: the index (in the series given to
    /// ``SeriesTriage/decideAll(_:)``) of the series used, and this one's place in the order of preference
    /// (1: the next to try if the used one cannot be read).
    public var duplicate: (of: Int, rank: Int)?

    public init(fate: Fate, modality: String?, reason: String, isMalformedInput: Bool = false) {
        self.fate = fate
        self.modality = modality
        self.reason = reason
        self.isMalformedInput = isMalformedInput
    }
}

/// Decides the fate of discovered series: geometry checks, then the reject rules, then the class rules;
/// finally, within one study, one series per class is used (see ``choose(_:)``).
///
/// Checks, in order: fewer than `minimumSlices` slices (single-file multi-frame series excepted);
/// several images at one slice position (a 4D series where 3D is needed); missing slices beyond
/// `missingSliceTolerance`; neighbour spacing departing more than `DICOMDiscovery.spacingTolerance`
/// from the median (inconsistent geometry); a reject rule; a class rule (none: unknown modality);
/// DWI and ADC are kept out of 3D stacks unless `keepDiffusion`.
public struct SeriesTriage: Sendable {
    public var rules: ClassificationRules
    public var minimumSlices = 3
    public var missingSliceTolerance = 0
    public var keepDiffusion = false

    public init(rules: ClassificationRules) { self.rules = rules }

    /// The decision for one series, ignoring the other series of its study.
    public func decide(_ series: DiscoveredSeries) -> TriageDecision {
        let modality = classify(series)
        func reject(_ reason: String) -> TriageDecision { TriageDecision(fate: .rejected, modality: modality, reason: reason) }
        for rule in rules.reject where holds(rule, series) { return reject(rule.reason!) }
        if series.frames == nil && series.files.count < minimumSlices {
            return reject("too few slices (\(series.files.count) < \(minimumSlices))")
        }
        if series.repeatedPositions > 0 {
            return reject("images share a slice position (\(series.repeatedPositions) repeats): 4D or repeated acquisition where 3D is needed")
        }
        if series.missingSlices > missingSliceTolerance {
            return reject("missing slices: \(series.missingSlices) gap(s) in the slice positions")
        }
        if series.hasNonUniformSpacing() {
            return reject(String(format: "inconsistent geometry: slice spacing varies by %.0f%%", 100 * series.spacingDeviation))
        }
        guard let modality else { return reject("unknown modality") }
        if ["DWI", "ADC"].contains(modality) && !keepDiffusion {
            return reject("\(modality): kept out of 3D stacks (use --keep-diffusion)")
        }
        return TriageDecision(fate: .used, modality: modality, reason: "complete \(modality) series")
    }

    /// The class named by the first class rule that holds.
    public func classify(_ series: DiscoveredSeries) -> String? {
        rules.classes.first { holds($0, series) }?.class
    }

    /// Decisions for all series; within one study, among used series of one class, the first by
    /// ``preference(_:_:)`` among those whose files all read (no ``DiscoveredSeries/defects``) is used and
    /// the others are rejected naming it, ranked as fallbacks.
    public func decideAll(_ series: [DiscoveredSeries]) -> [TriageDecision] {
        var decisions = series.map(decide)
        let candidates = series.indices.filter { decisions[$0].fate == .used }
        let groups = Dictionary(grouping: candidates) { "\(series[$0].studyInstanceUID)|\(decisions[$0].modality ?? "")" }
        for (_, members) in groups where members.count > 1 {
            let ordered = members.sorted { a, b in
                let (da, db) = (series[a].defects.isEmpty, series[b].defects.isEmpty)
                return da != db ? da : Self.preference(series[a], series[b])
            }
            let chosen = series[ordered[0]]
            for (rank, i) in ordered.enumerated().dropFirst() {
                var reason = "another \(decisions[i].modality!) series of this session was used (series \(chosen[.seriesNumber] ?? "?"))"
                if let defect = series[i].defects.first { reason += "; this one could not be read: " + defect }
                decisions[i] = TriageDecision(fate: .rejected, modality: decisions[i].modality, reason: reason)
                decisions[i].duplicate = (ordered[0], rank)
            }
        }
        return decisions
    }

    /// The documented choice among series of one class: the smaller voxel volume (finer resolution),
    /// then more slices (more coverage), then the later series number (a repeat is usually the better one).
    public static func preference(_ a: DiscoveredSeries, _ b: DiscoveredSeries) -> Bool {
        func voxelVolume(_ s: DiscoveredSeries) -> Double {
            let pixel = s.headers.first?.numbers(.pixelSpacing) ?? [1, 1]
            return pixel.reduce(1, *) * (s.sliceSpacing ?? s.headers.first?.numbers(.sliceThickness)?.first ?? 1)
        }
        let (va, vb) = (voxelVolume(a), voxelVolume(b))
        if abs(va - vb) > 1e-6 * max(va, vb) { return va < vb }
        if a.files.count != b.files.count { return a.files.count > b.files.count }
        return (Int(a[.seriesNumber] ?? "") ?? 0) > (Int(b[.seriesNumber] ?? "") ?? 0)
    }

    /// Whether `rule` holds for the series' first file.
    func holds(_ rule: ClassificationRules.Rule, _ series: DiscoveredSeries) -> Bool {
        func value(_ field: String) -> String? { SeriesFields.tag(field).flatMap { series[$0] } }
        func anyMatch(_ patterns: [String: [String]]?) -> Bool {
            (patterns ?? [:]).contains { field, list in
                guard let v = value(field), !v.isEmpty else { return false }
                return list.contains { SeriesFields.matches(v, pattern: $0, field: field) }
            }
        }
        if anyMatch(rule.unless) { return false }
        var tested = false
        if let match = rule.match, !match.isEmpty {
            guard anyMatch(match) else { return false }
            tested = true
        }
        if let ranges = rule.range, !ranges.isEmpty {
            for (field, range) in ranges {
                guard let v = value(field).flatMap({ Double($0.split(separator: "\\").first ?? "") }) else { return false }
                if let min = range.min, v < min { return false }
                if let max = range.max, v > max { return false }
            }
            tested = true
        }
        if let present = rule.present, !present.isEmpty {
            guard present.allSatisfy({ !(value($0) ?? "").isEmpty }) else { return false }
            tested = true
        }
        return tested
    }
}
