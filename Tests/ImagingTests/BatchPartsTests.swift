import Foundation
import Imaging
import Testing

/// The one rule for the parts of split runs (prep and correspond share it).
@Suite struct BatchPartsTests {
    @Test func aPartOfAnotherCountSupersedesAndAMergeNeedsEveryPartOfItsSplit() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("taco-parts-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let parts = BatchParts(folder: folder)
        for index in 0..<3 { try parts.write(Data("\(index) of 4".utf8), index: index, count: 4) }
        #expect(parts.present().map(\.index) == [0, 1, 2] && parts.present().allSatisfy { $0.count == 4 })
        #expect { try parts.complete() } throws: { "\($0)".contains("parts 4 of 4 are missing (rerun with --shard-index 3 --shard-count 4)") }

        try parts.write(Data("unsplit".utf8), index: 0, count: 1)
        #expect(try parts.complete().map(\.url.lastPathComponent) == ["part-1-of-1.json"])

        try parts.write(Data("1 of 2".utf8), index: 0, count: 2)
        #expect { try parts.complete() } throws: { "\($0)".contains("parts 2 of 2 are missing (rerun with --shard-index 1 --shard-count 2)") }
        try parts.write(Data("2 of 2".utf8), index: 1, count: 2)
        let complete = try parts.complete()
        let last = try Data(contentsOf: complete[1].url)
        #expect(complete.map(\.index) == [0, 1] && String(decoding: last, as: UTF8.self) == "2 of 2")

        // Parts of two splits side by side (copied in by hand) are refused, never mixed.
        try Data("stray".utf8).write(to: parts.url(index: 0, count: 3))
        #expect { try parts.complete() } throws: { "\($0)".contains("parts of different splits (of 2, of 3)") }
        // Names that are not parts are not parts.
        try Data().write(to: folder.appendingPathComponent("part-5-of-4.json"))
        try Data().write(to: folder.appendingPathComponent("notes.json"))
        #expect(parts.present().count == 3)
    }
}
