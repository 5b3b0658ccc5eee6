import Foundation
import Testing
@testable import Shards

/// The shard format against independent readers: round trip in Swift, h5py with the documented schema,
/// and a damaged byte caught by the checksums.
@Suite struct ShardTests {
    static let python: String? = ProcessInfo.processInfo.environment["TACO_PYTHON"]

    /// A subject with recognisable values: voxel value = modality * 1000 + x + 10 y + 100 z (exact in float16
    /// up to 2048, so kept small), mask = 1 where x > y.
    static func subject(_ key: String, size: SIMD3<Int> = [40, 36, 20]) -> ShardSubject {
        let modalities = ["T1w", "FLAIR"]
        var image: [Float] = []
        for m in modalities.indices { for z in 0..<size.z { for y in 0..<size.y { for x in 0..<size.x {
            image.append(Float(m * 1000 + (x + 10 * y + 100 * z) % 997))
        } } } }
        var mask: [UInt8] = []
        for _ in 0..<size.z { for y in 0..<size.y { for x in 0..<size.x { mask.append(x > y ? 1 : 0) } } }
        let tokens = SIMD3<Int>((size.x + 3) / 4, (size.y + 3) / 4, (size.z + 3) / 4)
        let count = tokens.x * tokens.y * tokens.z
        let coords = (0..<(3 * count)).map { Float($0) * 0.5 - 20 }
        return ShardSubject(key: key, modalities: modalities, size: size, image: image, mask: mask,
                            affine: [1, 0, 0, -20, 0, 1, 0, -18, 0, 0, 1, -10, 0, 0, 0, 1], spacing: [1, 1, 1], tokenGridSize: tokens,
                            atlasCoords: coords, atlasLabels: (0..<count).map { UInt8($0 % 4) },
                            confidence: (0..<count).map { Float($0 % 5) / 4 }, metrics: ["final_metric": -0.52, "folded_fraction": 0.001],
                            flags: key.hasSuffix("b") ? ["folding above 1%"] : [])
    }

    static func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("taco-shards-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func aSubjectCopiedFromAnotherShardReadsBackExactlyAndKeepsItsChecksums() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = Self.subject("sub-aa_ses-01a"), b = Self.subject("sub-bb_ses-01b", size: [24, 20, 12])
        let source = try ShardWriter(url: dir.appendingPathComponent("work.h5"), atlas: "a", tokenStride: 4, createdBy: "test")
        try source.add(b)
        try source.finish()
        let writer = try ShardWriter(url: dir.appendingPathComponent("packed.h5"), atlas: "a", tokenStride: 4, createdBy: "test")
        try writer.add(a)
        let reader = try ShardReader(url: dir.appendingPathComponent("work.h5"))
        try writer.copySubject(b.key, from: reader)
        #expect(throws: ShardError.self) { try writer.copySubject(b.key, from: reader) }
        #expect(throws: ShardError.self) { try writer.copySubject("sub-zz_ses-01", from: reader) }
        try writer.finish()
        let packed = try ShardReader(url: dir.appendingPathComponent("packed.h5"))
        #expect(try packed.keys() == [a.key, b.key])
        #expect(try packed.subject(a.key) == a && packed.subject(b.key) == b)
        #expect(try packed.verify().isEmpty)
        // A shard of another token stride cannot lend its subjects.
        let other = try ShardWriter(url: dir.appendingPathComponent("other.h5"), atlas: "a", tokenStride: 2, createdBy: "test")
        #expect(throws: ShardError.self) { try other.copySubject(b.key, from: reader) }
        other.discard()
    }

    @Test func subjectsReadBackExactlyAndBoxesCutTheRightVoxels() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("shard-0001.h5")
        let writer = try ShardWriter(url: url, atlas: "mni152-2009a-sym", tokenStride: 4, createdBy: "test")
        let a = Self.subject("sub-aa_ses-01a"), b = Self.subject("sub-bb_ses-01b", size: [24, 20, 12])
        try writer.add(a)
        #expect(!FileManager.default.fileExists(atPath: url.path), "the shard appears only when finished")
        try writer.add(b)
        #expect(throws: ShardError.self) { try writer.add(a) }
        #expect(try writer.finish() > 0)

        let reader = try ShardReader(url: url)
        #expect(reader.atlas == "mni152-2009a-sym" && reader.tokenStride == 4)
        #expect(try reader.keys() == [a.key, b.key])
        #expect(try reader.subject(a.key) == a && reader.subject(b.key) == b)
        // A box: modality 1 at (x, y, z) = (5 + i, 7 + j, 3 + k).
        let box = try reader.imageBox(a.key, origin: [5, 7, 3], size: [4, 3, 2])
        #expect(box.count == 2 * 24)
        let index: Int = 24 + 5 * 4 + 3   // modality 1 (24 values each), row k = 1, j = 2 (1 * 3 + 2), i = 3: voxel (8, 9, 4)
        let value = box[index]
        let expected: Float = 1498   // 1000 + (8 + 10 * 9 + 100 * 4) % 997
        #expect(value == expected)
        #expect(try reader.verify().isEmpty)
    }

    @Test func aSubjectWithWrongBufferSizesIsRefusedByName() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        var bad = Self.subject("sub-cc_ses-1")
        bad.mask.removeLast()
        let writer = try ShardWriter(url: dir.appendingPathComponent("s.h5"), atlas: "a", tokenStride: 4, createdBy: "test")
        #expect { try writer.add(bad) } throws: { "\($0)".contains("mask has") }
        writer.discard()
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty, "nothing is left behind")
    }

    @Test func aFlippedByteIsDetectedOnRead() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("shard.h5")
        let writer = try ShardWriter(url: url, atlas: "a", tokenStride: 4, createdBy: "test")
        let a = Self.subject("sub-dd_ses-1")
        try writer.add(a)
        try writer.finish()
        let location = try HDF5File.open(url).chunkLocation(of: "/subjects/\(a.key)/image", index: 0)
        var bytes = try Data(contentsOf: url)
        bytes[location.offset + location.size / 2] ^= 0x40
        try bytes.write(to: url)
        let reader = try ShardReader(url: url)
        let problems = try reader.verify()
        #expect(problems.count == 1 && problems[0].hasPrefix("shard.h5: /subjects/\(a.key)/image"), "\(problems)")
        // Whole reads and boxes over the damaged chunk fail with the shard and the subject named; other boxes still read.
        let whole = #expect(throws: ShardError.self) { try reader.subject(a.key) }
        #expect(whole?.reason.hasPrefix("shard.h5, subject \(a.key): cannot read its volumes: damaged data") == true, "\(whole?.reason ?? "")")
        let box = #expect(throws: ShardError.self) { try reader.imageBox(a.key, modality: 0, origin: .zero, size: SIMD3(8, 8, 8)) }
        #expect(box?.reason.contains("shard.h5, subject \(a.key): cannot read its image") == true && box?.reason.contains("damaged data") == true,
                "\(box?.reason ?? "")")
        #expect(try reader.imageBox(a.key, modality: 1, origin: .zero, size: SIMD3(8, 8, 8)).count == 512)
    }

    /// Images stored without gzip (`--image-compression none`): the same voxels, only Fletcher32 in the pipeline, a
    /// larger file, and a damaged byte still caught.
    @Test func uncompressedImagesReadTheSameAndKeepTheirChecksums() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = Self.subject("sub-ff_ses-1")
        var sizes: [Int] = []
        for compression in ShardFormat.ImageCompression.allCases {
            let url = dir.appendingPathComponent("shard-\(compression).h5")
            let writer = try ShardWriter(url: url, atlas: "a", tokenStride: 4, createdBy: "test", imageCompression: compression)
            try writer.add(a)
            sizes.append(try writer.finish())
            let reader = try ShardReader(url: url)
            #expect(try reader.imageFilters(a.key) == (compression == .gzip ? [.fletcher32, .shuffle(elementSize: 2), .deflate] : [.fletcher32]))
            let box = try reader.imageBox(a.key, modality: 1, origin: SIMD3(5, 6, 7), size: SIMD3(30, 20, 10))
            for (z, y, x) in [(0, 0, 0), (9, 19, 29), (4, 11, 3)] {
                let voxel = ((z + 7) * a.size.y + y + 6) * a.size.x + x + 5
                #expect(box[(z * 20 + y) * 30 + x] == Float(Float16(a.image[a.size.x * a.size.y * a.size.z + voxel])))
            }
        }
        #expect(sizes[1] > 2 * sizes[0], "\(sizes)")
        let url = dir.appendingPathComponent("shard-none.h5")
        let location = try HDF5File.open(url).chunkLocation(of: "/subjects/\(a.key)/image", index: 1)
        var bytes = try Data(contentsOf: url)
        bytes[location.offset + 100] ^= 0x10
        try bytes.write(to: url)
        let damaged = #expect(throws: ShardError.self) { try ShardReader(url: url).imageBox(a.key, modality: 0, origin: .zero, size: SIMD3(40, 36, 20)) }
        #expect(damaged?.reason.contains("Fletcher32 checksum failed") == true, "\(damaged?.reason ?? "")")
    }

    /// Boxes that overhang the volume read the inside and pad with 0; atlas boxes are clipped to the grid.
    @Test func boxesOverTheEdgeArePaddedAndAtlasBoxesClipped() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("shard.h5")
        let writer = try ShardWriter(url: url, atlas: "a", tokenStride: 4, createdBy: "test")
        let a = Self.subject("sub-ee_ses-1")
        try writer.add(a)
        try writer.finish()
        let reader = try ShardReader(url: url)
        let origin = SIMD3(-3, 30, 15), size = SIMD3(10, 10, 10)
        let box = try reader.imageBox(a.key, modality: 1, origin: origin, size: size)
        let mask = try reader.maskBox(a.key, origin: origin, size: size)
        for z in 0..<10 { for y in 0..<10 { for x in 0..<10 {
            let v = origin &+ SIMD3(x, y, z)
            let inside = v.x >= 0 && v.y >= 0 && v.z >= 0 && v.x < a.size.x && v.y < a.size.y && v.z < a.size.z
            let voxel = (v.z * a.size.y + v.y) * a.size.x + v.x
            let expected = inside ? Float(Float16(a.image[a.size.x * a.size.y * a.size.z + voxel])) : 0
            #expect(box[(z * 10 + y) * 10 + x] == expected)
            #expect(mask[(z * 10 + y) * 10 + x] == (inside ? a.mask[voxel] : 0))
        } } }
        let atlas = try reader.atlasBox(a.key, origin: SIMD3(-1, 2, 1), size: SIMD3(4, 100, 2))
        #expect(atlas.origin == SIMD3(0, 2, 1) && atlas.size == SIMD3(3, a.tokenGridSize.y - 2, 2))
        let t = a.tokenGridSize, n = t.x * t.y * t.z, k = (1 * t.y + 2) * t.x + 0
        #expect(atlas.coordinates[0] == a.atlasCoords[k] && atlas.coordinates[2 * atlas.labels.count] == a.atlasCoords[2 * n + k])
        #expect(atlas.labels[0] == a.atlasLabels[k])
    }

    /// The same subjects written twice give the same bytes (the manifest's SHA-256 of a rerun's shards is
    /// unchanged): no creation or modification times in the file.
    @Test func aShardIsTheSameBytesWhenWrittenAgain() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        var files: [Data] = []
        for name in ["a.h5", "b.h5"] {
            let writer = try ShardWriter(url: dir.appendingPathComponent(name), atlas: "mni152-2009a-sym", tokenStride: 4, createdBy: "test")
            try writer.add(Self.subject("sub-ee_ses-1"))
            try writer.finish()
            files.append(try Data(contentsOf: dir.appendingPathComponent(name)))
            sleep(1)
        }
        #expect(files[0] == files[1])
    }

    @Test(.enabled(if: ShardTests.python != nil, "needs TACO_PYTHON with h5py (make test sets it)"))
    func h5pyReadsTheDocumentedSchema() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("shard.h5")
        let writer = try ShardWriter(url: url, atlas: "mni152-2009a-sym", tokenStride: 4, createdBy: "test")
        try writer.add(Self.subject("sub-ee_ses-1"))
        try writer.finish()
        let script = """
            import h5py, numpy as np, sys
            f = h5py.File(sys.argv[1], "r")
            assert f.attrs["format"] == b"taco-shard" and int(f.attrs["version"]) == 2, dict(f.attrs)
            assert f.attrs["atlas"] == b"mni152-2009a-sym" and int(f.attrs["token_stride"]) == 4
            assert f.id.get_create_plist().get_version()[0] >= 2, "superblock version 2 or later: checksummed metadata"
            g = f["subjects/sub-ee_ses-1"]
            img = g["image"]
            assert img.dtype == np.float16 and img.shape == (2, 20, 36, 40), (img.dtype, img.shape)
            assert img.chunks == (1, 20, 32, 32) and img.compression == "gzip" and img.shuffle and img.fletcher32  # z is 20 < 32
            z, y, x = 4, 7, 11
            assert img[1, z, y, x] == 1000 + (x + 10 * y + 100 * z) % 997
            assert g["mask"].dtype == np.uint8 and g["mask"][z, y, x] == (1 if x > y else 0)
            assert g["atlas_coords"].dtype == np.float32 and g["atlas_coords"].shape == (3, 5, 9, 10)
            assert g["atlas_labels"].dtype == np.uint8 and g["confidence"].dtype == np.float16
            assert [m.decode() for m in g.attrs["modalities"]] == ["T1w", "FLAIR"]
            # Strings fixed-length in the object header, none in the unchecksummed global heap (taco-fuzz found
            # that a damaged variable-length string crashes HDF5's reader).
            for obj in (f, g):
                for name in obj.attrs:
                    t = obj.attrs.get_id(name).get_type()
                    assert not (isinstance(t, h5py.h5t.TypeStringID) and t.is_variable_str()), name
            assert np.allclose(g.attrs["affine"], [[1, 0, 0, -20], [0, 1, 0, -18], [0, 0, 1, -10], [0, 0, 0, 1]])
            assert abs(g.attrs["metric_final_metric"] + 0.52) < 1e-12
            print("ok")
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.python!)
        process.arguments = ["-c", script, url.path]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0 && String(decoding: o, as: UTF8.self).contains("ok"), "\(String(decoding: e, as: UTF8.self))")
    }

    /// Shards that other code wrote (h5py here) and that break the format's promises: the reader runs inside a
    /// trainer's process, so each must be an error naming the shard, the subject and the dataset, never a crash
    /// and never silently wrong voxels (an int16 image has 2-byte elements like float16).
    @Test(.enabled(if: ShardTests.python != nil, "needs TACO_PYTHON with h5py (make test sets it)"))
    func foreignShardsAreErrorsNamingShardSubjectAndDataset() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = dir.appendingPathComponent("good.h5")
        let writer = try ShardWriter(url: good, atlas: "a", tokenStride: 4, createdBy: "test")
        try writer.add(Self.subject("sub-ee_ses-1"))
        try writer.finish()
        let script = """
            import h5py, numpy as np, shutil, sys
            folder, good = sys.argv[1], sys.argv[2]
            def variant(name, change):
                shutil.copy(good, f"{folder}/{name}.h5")
                with h5py.File(f"{folder}/{name}.h5", "r+") as f:
                    change(f["subjects/sub-ee_ses-1"])
            def image(dtype, shape):
                def change(g):
                    del g["image"]
                    g.create_dataset("image", data=np.ones(shape, dtype=dtype), chunks=(1,) * (len(shape) - 3) + (16, 16, 16), compression="gzip")
                return change
            variant("float32", image(np.float32, (2, 20, 36, 40)))
            variant("int16", image(np.int16, (2, 20, 36, 40)))
            variant("rank3", image(np.float16, (20, 36, 40)))
            variant("nomask", lambda g: g.__delitem__("mask"))
            variant("labels2d", lambda g: (g.__delitem__("atlas_labels"), g.create_dataset("atlas_labels", data=np.zeros((5, 9), np.uint8))))
            def one_modality(g): g.attrs["modalities"] = np.array([b"T1w"], dtype=h5py.string_dtype())
            variant("modalities", one_modality)
            print("ok")
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.python!)
        process.arguments = ["-c", script, dir.path, good.path]
        let err = Pipe()
        process.standardError = err
        try process.run()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "\(String(decoding: e, as: UTF8.self))")

        let key = "sub-ee_ses-1"
        func failure(_ name: String, _ read: (ShardReader) throws -> Void) -> String? {
            do {
                try read(ShardReader(url: dir.appendingPathComponent(name + ".h5")))
                return nil
            } catch {
                return "\(error)"
            }
        }
        func expectNamed(_ message: String?, _ shard: String, _ dataset: String, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(message?.contains(shard + ".h5") == true && message?.contains(key) == true && message?.contains(dataset) == true,
                    "\(message ?? "no error")", sourceLocation: sourceLocation)
        }
        let box = { (reader: ShardReader) in _ = try reader.imageBox(key, modality: 0, origin: [0, 0, 0], size: [8, 8, 8]) }
        expectNamed(failure("float32", box), "float32", "float16")
        expectNamed(failure("int16", box), "int16", "float16")
        expectNamed(failure("rank3", box), "rank3", "image")
        expectNamed(failure("rank3") { _ = try $0.describe(key) }, "rank3", "image")
        expectNamed(failure("nomask") { _ = try $0.describe(key) }, "nomask", "mask")
        expectNamed(failure("nomask") { _ = try $0.maskBox(key, origin: [0, 0, 0], size: [4, 4, 4]) }, "nomask", "mask")
        expectNamed(failure("labels2d") { _ = try $0.atlasBox(key) }, "labels2d", "atlas_labels")
        expectNamed(failure("labels2d") { _ = try $0.describe(key) }, "labels2d", "atlas_labels")
        expectNamed(failure("modalities") { _ = try $0.describe(key) }, "modalities", "modalities")
        // The intact shard still reads.
        #expect(failure("good") { _ = try $0.describe(key); try box($0) } == nil)
    }
}
