import Foundation
import Imaging
import Testing

/// A `taco` copied out of its build folder, run from an unrelated folder, still finds the shipped rules and
/// the bundled atlas (the path of its source tree is recorded at build time; `make install` puts them in
/// `PREFIX/share/taco` beside `PREFIX/bin`).
@Suite struct ShippedResourcesTests {
    @Test func aCopiedBinaryFindsItsRulesAndAtlasesFromAnyFolder() throws {
        let fm = FileManager.default
        let place = fm.temporaryDirectory.appendingPathComponent("taco-copied-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: place) }
        try fm.createDirectory(at: place.appendingPathComponent("elsewhere/bin"), withIntermediateDirectories: true)
        try fm.createDirectory(at: place.appendingPathComponent("work/empty-export"), withIntermediateDirectories: true)
        let copy = place.appendingPathComponent("elsewhere/bin/taco")
        try fm.copyItem(at: TacoProcess.binary, to: copy)

        func run(_ arguments: [String]) throws -> (status: Int32, text: String) {
            var environment = ProcessInfo.processInfo.environment
            environment["TACO_ATLASES"] = nil
            environment["TACO_RULES"] = nil
            let r = try TacoProcess.runTool(copy.path, arguments, in: place.appendingPathComponent("work"), environment: environment)
            return (r.status, r.out + r.err)
        }

        // The atlas is loaded before the prepared folder is read: failing on the missing folder shows it was found.
        let correspond = try run(["correspond", "missing-prepared", "--out", "shards"])
        #expect(correspond.status == 1 && correspond.text.contains("missing-prepared: no such folder") && !correspond.text.contains("atlas.json"),
                "\(correspond.text)")
        // The rules are loaded before planning: an empty export is planned (nothing to prepare), so they were found.
        let prep = try run(["prep", "empty-export", "--out", "prepared", "--key-file", place.appendingPathComponent("key/prep-key").path])
        #expect(!prep.text.contains("classification.yaml") && prep.text.contains("0 to prepare"), "\(prep.text)")
        // A named atlas that does not exist is reported as such, with where it was looked for.
        let unknown = try run(["correspond", "missing-prepared", "--out", "shards", "--atlas", "no-such-atlas"])
        #expect(unknown.status == 1 && unknown.text.contains("no-such-atlas") && unknown.text.contains("TACO_ATLASES"), "\(unknown.text)")
    }
}
