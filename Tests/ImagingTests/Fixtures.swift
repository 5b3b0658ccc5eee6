import Foundation
@testable import Imaging
import TacoCore

/// Shared test data: the bundled atlas, temporary folders, Python cross-check runner.
enum Fixtures {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let atlasFolder = packageRoot.appendingPathComponent("atlases/mni152-2009a-sym")
    static let atlasT1 = atlasFolder.appendingPathComponent("mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz")

    /// A fresh temporary folder, removed when the process ends is not guaranteed: tests clean up via `defer`.
    static func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("taco-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// The atlas T1 resampled (linear) to isotropic `spacing` mm over the same field of view.
    static func atlas(spacing: Double) throws -> Volume {
        let (atlas, _) = try NIfTIFile.read(atlasT1)
        return try Resampler.resample(atlas, onto: atlas.geometry.downsampled(by: spacing), interpolation: .linear)
    }

    /// The Python interpreter with nibabel and pydicom (`make test` sets TACO_PYTHON), if any.
    static var python: String? { ProcessInfo.processInfo.environment["TACO_PYTHON"] }

    /// Runs a Python snippet with arguments; returns its standard output, or throws with its standard error.
    static func runPython(_ code: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python ?? "/usr/bin/python3")
        process.arguments = ["-c", code] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let error = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: String(decoding: error, as: UTF8.self)])
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// A volume of zeros with a single marker voxel of value `value`.
    static func marker(at index: SIMD3<Int>, on geometry: Geometry, value: Float = 100) -> Volume {
        var v = Volume(geometry: geometry)
        v[index.x, index.y, index.z] = value
        return v
    }

    /// A smooth test pattern (distinct values everywhere, no symmetry) on `geometry`.
    static func pattern(on geometry: Geometry) -> Volume {
        var v = Volume(geometry: geometry)
        let s = geometry.size
        for z in 0..<s.z { for y in 0..<s.y { for x in 0..<s.x {
            v[x, y, z] = Float(x) + 10 * Float(y) + 100 * Float(z)
        } } }
        return v
    }
}

/// Mean of a sequence of doubles.
func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(max(values.count, 1)) }
