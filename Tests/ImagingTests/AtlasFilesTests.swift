import Foundation
import Testing
@testable import Imaging
import TacoCore

/// The bundled atlas folder is complete: its descriptor names files that exist, share one grid and
/// carry the licence.
@Suite struct AtlasFilesTests {
    @Test func descriptorNamesExistingFilesOnTheDeclaredGrid() throws {
        let folder = Fixtures.atlasFolder
        let data = try Data(contentsOf: folder.appendingPathComponent("atlas.json"))
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(json["space"] as? String == "MNI152NLin2009aSym")
        let grid = try #require(json["grid"] as? [String: Any])
        let size = try #require(grid["size"] as? [Int])
        let templates = try #require(json["templates"] as? [String: String])
        let tissues = try #require(json["tissue_maps"] as? [String: String])
        #expect(Set(tissues.keys) == ["GM", "WM"] && templates["T1w"] != nil)
        var geometries: [Geometry] = []
        for name in templates.values.sorted() + tissues.values.sorted() {
            let (volume, _) = try NIfTIFile.read(folder.appendingPathComponent(name))
            #expect(volume.geometry.size == SIMD3(size[0], size[1], size[2]), "\(name)")
            #expect(volume.geometry.orientationCode == grid["orientation"] as? String)
            geometries.append(volume.geometry)
        }
        #expect(geometries.allSatisfy { $0.isClose(to: geometries[0], tolerance: 1e-6) })
        for file in [json["license"] as? String, json["source"] as? String] {
            let name = try #require(file)
            #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent(name).path))
        }
        let license = try String(contentsOf: folder.appendingPathComponent("LICENSE"), encoding: .utf8)
        #expect(license.contains("McConnell Brain Imaging Centre"))
    }
}
