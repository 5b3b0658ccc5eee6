import ArgumentParser
import Foundation
import Imaging
import Synth

/// `taco synth`: a synthetic multi-modal cohort with known ground truth, made from the bundled atlas.
struct SynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Make a synthetic multi-modal cohort (DICOM dump + BIDS) with ground truth.",
        discussion: """
            Writes OUT/dicom (a hospital-like DICOM export with junk series and fake patient data), OUT/bids \
            and OUT/truth (subject<->atlas maps, tissue labels, planted PHI, the expected fate of every series). \
            The same seed gives byte-identical files. See docs/synth.md.
            """
    )

    @Option(name: .long, help: "Output folder (must not exist unless --force).")
    var out: String

    @Option(name: .long, help: "Number of subjects.")
    var subjects: Int = 6

    @Option(name: .long, help: "Random seed.")
    var seed: UInt64 = 1

    @Option(name: .long, help: "Bundled atlas name, or an atlas folder.")
    var atlas: String = "mni152-2009a-sym"

    @Option(name: .long, help: "default (clinical voxel sizes) or small (3-4 mm voxels, for tests).")
    var size: SynthOptions.Size = .default

    @Option(name: .long, help: "Comma-separated formats to write: dicom, bids.")
    var formats: String = "dicom,bids"

    @Flag(name: .long, help: "Replace OUT if it exists (the old folder is removed only once the new one is complete).")
    var force = false

    func run() throws {
        var chosen = Set<SynthOptions.Format>()
        for name in formats.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) where !name.isEmpty {
            guard let format = SynthOptions.Format(rawValue: name) else { throw ValidationError("unknown format '\(name)' (dicom, bids)") }
            chosen.insert(format)
        }
        let options = SynthOptions(subjects: subjects, seed: seed, atlas: atlas, size: size, formats: chosen)
        let started = Date()
        do {
            let truth = try CohortSynthesizer(options: options, version: TacoVersion.current)
                .run(into: URL(fileURLWithPath: out), replace: force) { print($0) }
            let used = truth.series.filter { $0.expectedFate == "used" }.count
            print(String(format: "wrote %d subjects (%d series, %d to use, %d junk) to %@ in %.1f s", truth.subjects.count,
                         truth.series.count, used, truth.series.count - used, out, Date().timeIntervalSince(started)))
        } catch {
            throw CommandFailure(message: "\(error)")
        }
    }
}

extension SynthOptions.Size: ExpressibleByArgument {}
