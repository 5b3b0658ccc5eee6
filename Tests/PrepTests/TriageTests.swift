import Foundation
import Testing
@testable import Imaging
@testable import Prep
@testable import Synth

/// A discovered series made from tags alone, for rule tests.
func series(_ tags: [DICOMTag: String], files: Int = 20, study: String = "1.2.3", number: String = "1",
            pixel: String = "1\\1", spacing: Double = 1) -> DiscoveredSeries {
    var values = tags
    values[.seriesNumber] = number
    values[.pixelSpacing] = pixel
    let header = DICOMHeader(url: URL(fileURLWithPath: "/x"), failure: nil, values: values)
    return DiscoveredSeries(studyInstanceUID: study, seriesInstanceUID: study + "." + number, part: 0,
                            files: (0..<files).map { URL(fileURLWithPath: "/x/\($0)") }, headers: Array(repeating: header, count: files),
                            duplicateFiles: [], orientation: [1, 0, 0, 0, 1, 0], sliceSpacing: spacing, missingSlices: 0,
                            spacingDeviation: 0, repeatedPositions: 0, frames: nil)
}

@Suite struct TriageTests {
    static let rules = try! ClassificationRules.load(Dump.atlas.deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("rules/classification.yaml"))

    @Test func everySeriesOfTheSyntheticDumpGetsTheFateTheTruthExpects() throws {
        let truth = Dump.truth, found = Dump.found
        let decisions = SeriesTriage(rules: Self.rules).decideAll(found.series)
        for series in truth.series where series.kind != "duplicate" {
            let id = truth.subjects.first { $0.label == series.subject }!.phi["PatientID"]!
            let matches = found.series.indices.filter {
                found.series[$0][.patientID] == id && found.series[$0][.seriesNumber] == String(series.seriesNumber)
            }
            #expect(!matches.isEmpty)
            for i in matches {
                let d = decisions[i]
                #expect(d.fate.rawValue == series.expectedFate, "\(series.kind) of \(series.subject): \(d.reason)")
                if let modality = series.expectedModality { #expect(d.modality == modality, "\(series.kind): classified \(d.modality ?? "none")") }
                switch series.kind {
                case "localizer": #expect(d.reason == "localizer")
                case "secondary-capture": #expect(d.reason == "secondary capture or screenshot")
                case "missing-slice": #expect(d.reason.hasPrefix("missing slices"))
                default: break
                }
            }
        }
        // The exported-twice T1w is used once; its copies are known as duplicates.
        let duplicated = truth.series.filter { $0.kind == "duplicate" }
        #expect(!duplicated.isEmpty)
        for copy in duplicated {
            let id = truth.subjects.first { $0.label == copy.subject }!.phi["PatientID"]!
            let i = try #require(found.series.indices.first {
                found.series[$0][.patientID] == id && found.series[$0][.seriesNumber] == String(copy.seriesNumber)
            })
            #expect(decisions[i].fate == .used && found.series[i].duplicateFiles.count == copy.files)
        }
    }

    @Test(arguments: [
        ("t1_mprage_sag_p2_iso", "T1w"), ("Sag 3D BRAVO", "T1w"), ("T1W_3D_TFE SENSE", "T1w"), ("sag T1 FSPGR BRAVO", "T1w"),
        ("t2_tse_tra_p2", "T2w"), ("Ax T2 FSE", "T2w"), ("T2W_TSE SENSE", "T2w"), ("t2_space_sag_p2_iso", "T2w"),
        ("t2_tirm_cor_dark-fluid", "FLAIR"), ("Cor T2 FLAIR", "FLAIR"), ("FLAIR_longTR SENSE", "FLAIR"), ("3D_Brain_VIEW_FLAIR", "FLAIR"),
        ("pd_tse_tra", "PDw"), ("Ax PD FSE", "PDw"), ("PDW_TSE SENSE", "PDw"),
        ("ep2d_diff_3scan_trace_p2", "DWI"), ("ep2d_diff_3scan_trace_p2_ADC", "ADC"), ("Ax DWI 1000b", "DWI"),
        ("AX T1 POST GAD", "T1w-CE"), ("t1_mprage_tra_Gd", "T1w-CE"),
    ])
    func vendorStyleNamesAreClassified(description: String, modality: String) {
        #expect(SeriesTriage(rules: Self.rules).classify(series([.seriesDescription: description, .modality: "MR"])) == modality)
    }

    /// Echo-planar series (BOLD, perfusion, diffusion) are not anatomical inputs, whatever their timing says;
    /// diffusion named as such keeps its class. The real case: dcm_qa's single-volume Siemens EPI.
    @Test func echoPlanarSeriesAreRejectedAsFunctionalOrDiffusion() throws {
        let triage = SeriesTriage(rules: Self.rules)
        let timing: [DICOMTag: String] = [.seriesDescription: "Series 9", .repetitionTime: "3000", .echoTime: "30", .modality: "MR"]
        #expect(triage.classify(series(timing)) == "PDw")      // what the timing alone says
        let epi = triage.decide(series(timing.merging([.scanningSequence: "EP", .sequenceVariant: "SK"]) { $1 }))
        #expect(epi.fate == .rejected && epi.reason == "EPI (functional or diffusion): not an anatomical input", "\(epi.reason)")
        let mosaic = triage.decide(series(timing.merging([.imageType: "ORIGINAL\\PRIMARY\\M\\ND\\MOSAIC"]) { $1 }))
        #expect(mosaic.reason.hasPrefix("EPI"))
        let diffusion = series([.seriesDescription: "ep2d_diff_3scan_trace_p2", .scanningSequence: "EP", .modality: "MR"])
        #expect(triage.decide(diffusion).modality == "DWI" && triage.decide(diffusion).reason.contains("kept out of 3D stacks"))
        var keeping = triage
        keeping.keepDiffusion = true
        #expect(keeping.decide(diffusion).fate == .used)
        #expect(triage.decide(series([.seriesDescription: "t1_mprage_sag", .scanningSequence: "GR\\IR", .modality: "MR"])).fate == .used)

        let real = try DICOMDiscovery.discover([try RealData.dicom("transfer_syntaxes")])
        #expect(real.series.count == 1 && real.series[0].files.count == 9)   // one image in nine transfer syntaxes
        for decision in triage.decideAll(real.series) {
            #expect(decision.fate == .rejected && decision.reason.hasPrefix("EPI"), "\(decision.reason)")
        }
    }

    /// Of two series of one class in a study, one with a file that cannot be read (here truncated) is never
    /// chosen over a complete one, even when preferred otherwise; it becomes nobody's fallback.
    @Test func aDefectiveSeriesIsNotChosenOverACompleteOne() {
        var copy = series([.seriesDescription: "t2_tirm_tra_dark-fluid"], number: "12")
        copy.defects = ["file 25 of 72: truncated: the pixel data holds 10 of the 100 bytes its header promises"]
        let original = series([.seriesDescription: "t2_tirm_tra_dark-fluid"], number: "7")
        let third = series([.seriesDescription: "t2_tirm_tra_dark-fluid"], number: "3")
        #expect(SeriesTriage.preference(copy, original))           // the later series number would win
        let decisions = SeriesTriage(rules: Self.rules).decideAll([copy, original, third])
        #expect(decisions[1].fate == .used && decisions[0].fate == .rejected && decisions[2].fate == .rejected)
        #expect(decisions[0].reason.contains("series 7") && decisions[0].reason.contains("could not be read: file 25 of 72: truncated"))
        #expect(decisions[2].duplicate?.of == 1 && decisions[2].duplicate?.rank == 1 && decisions[0].duplicate?.rank == 2)
    }

    @Test func tagsBeyondTheNameDecideWhenNamesSayNothing() {
        let triage = SeriesTriage(rules: Self.rules)
        #expect(triage.classify(series([.seriesDescription: "t1_mprage_sag", .contrastBolusAgent: "Gadovist"])) == "T1w-CE")
        #expect(triage.classify(series([.seriesDescription: "Series 5", .repetitionTime: "9000", .echoTime: "120", .inversionTime: "2500"])) == "FLAIR")
        #expect(triage.classify(series([.seriesDescription: "Series 6", .repetitionTime: "2300", .echoTime: "2.98"])) == "T1w")
        #expect(triage.classify(series([.seriesDescription: "Series 7", .repetitionTime: "5000", .echoTime: "95"])) == "T2w")
        #expect(triage.classify(series([.seriesDescription: "abdomen", .modality: "CT"])) == "CT")
        #expect(triage.classify(series([.seriesDescription: "calibration"])) == nil)
        let unknown = triage.decide(series([.seriesDescription: "calibration"]))
        #expect(unknown.fate == .rejected && unknown.reason == "unknown modality")
        let dwi = triage.decide(series([.seriesDescription: "Ax DWI"]))
        #expect(dwi.fate == .rejected && dwi.modality == "DWI" && dwi.reason.contains("kept out of 3D stacks"))
        var keeping = triage
        keeping.keepDiffusion = true
        #expect(keeping.decide(series([.seriesDescription: "Ax DWI"])).fate == .used)
    }

    @Test func geometryProblemsAreRejectedWithReasons() {
        let triage = SeriesTriage(rules: Self.rules)
        let base = series([.seriesDescription: "t1_mprage"])
        #expect(triage.decide(base).fate == .used)
        #expect(triage.decide(series([.seriesDescription: "t1_mprage"], files: 2)).reason.hasPrefix("too few slices"))
        func altered(_ change: (inout (Int, Double, Int)) -> Void) -> DiscoveredSeries {
            var v = (base.missingSlices, base.spacingDeviation, base.repeatedPositions)
            change(&v)
            return DiscoveredSeries(studyInstanceUID: base.studyInstanceUID, seriesInstanceUID: base.seriesInstanceUID, part: 0,
                                    files: base.files, headers: base.headers, duplicateFiles: [], orientation: base.orientation,
                                    sliceSpacing: base.sliceSpacing, missingSlices: v.0, spacingDeviation: v.1, repeatedPositions: v.2, frames: nil)
        }
        #expect(triage.decide(altered { $0.0 = 2 }).reason == "missing slices: 2 gap(s) in the slice positions")
        #expect(triage.decide(altered { $0.1 = 0.3 }).reason == "inconsistent geometry: slice spacing varies by 30%")
        #expect(triage.decide(altered { $0.2 = 19 }).reason.contains("4D"))
        #expect(triage.decide(series([.seriesDescription: "t1 mpr", .imageType: "DERIVED\\PRIMARY\\MPR"])).reason == "derived or reformatted")
    }

    @Test func oneSeriesPerClassAndSessionIsUsedByTheDocumentedPreference() {
        let triage = SeriesTriage(rules: Self.rules)
        let coarse = series([.seriesDescription: "t1_se_tra"], files: 30, number: "3", pixel: "1\\1", spacing: 5)
        let fine = series([.seriesDescription: "t1_mprage"], files: 176, number: "2", pixel: "1\\1", spacing: 1)
        let repeatOfFine = series([.seriesDescription: "t1_mprage"], files: 176, number: "8", pixel: "1\\1", spacing: 1)
        let otherStudy = series([.seriesDescription: "t1_mprage"], files: 176, study: "1.2.9", number: "2")
        let d = triage.decideAll([coarse, fine, repeatOfFine, otherStudy])
        #expect(d.map(\.fate) == [.rejected, .rejected, .used, .used])
        #expect(d[0].reason == "another T1w series of this session was used (series 8)")
    }

    @Test func customRulesReplaceTheShippedOnesAndBadFilesAreNamed() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let custom = folder.appendingPathComponent("rules.yaml")
        try """
            version: 1
            reject: []
            classes:
              - class: T2w
                match:
                  series_description: [weird]
            """.write(to: custom, atomically: true, encoding: .utf8)
        let rules = try ClassificationRules.load(custom)
        #expect(SeriesTriage(rules: rules).classify(series([.seriesDescription: "my weird sequence"])) == "T2w")
        #expect(SeriesTriage(rules: rules).classify(series([.seriesDescription: "t1_mprage"])) == nil)
        try "version: 1\nreject: []\nclasses:\n  - class: T1w\n    match:\n      colour: [red]\n".write(to: custom, atomically: true, encoding: .utf8)
        #expect { try ClassificationRules.load(custom) } throws: { "\($0)".contains(custom.path) && "\($0)".contains("unknown field 'colour'") }
        try "version: 2\nreject: []\nclasses: []\n".write(to: custom, atomically: true, encoding: .utf8)
        #expect { try ClassificationRules.load(custom) } throws: { "\($0)".contains("version 2") }
        try "{ not yaml: [".write(to: custom, atomically: true, encoding: .utf8)
        #expect { try ClassificationRules.load(custom) } throws: { "\($0)".contains(custom.path) }
    }
}
