import Foundation
import Imaging
import TacoCore
import Shards
import Testing

/// The synthetic dump of PrepFixture prepared at 2 mm (once per test process), for `taco correspond`.
enum CorrespondFixture {
    static let prepared: URL = {
        let out = PrepFixture.root.appendingPathComponent("prepared-2mm")
        let r = try! TacoProcess.run(["prep", PrepFixture.dicom.path, "--out", out.path, "--key-file", PrepFixture.keyFile.path,
                                      "--spacing", "2", "--jobs", "2", "--progress", "plain"])
        precondition(r.status == 0, r.out + r.err)
        return out
    }()

    /// Fast settings for CI: the greedy registration at 4 mm, tokens every 2 voxels (4 mm). The accuracy at the
    /// default settings is CorrespondTests' subject; here the geometry through the command and the shards.
    static func correspond(_ prepared: URL, out: URL, _ extra: [String] = [], whileRunning: ((Process) -> Void)? = nil) throws
        -> (status: Int32, out: String, err: String) {
        try TacoProcess.run(["correspond", prepared.path, "--out", out.path, "--deformable-resolution", "4", 
                             "--token-stride", "2", "--jobs", "2", "--progress", "plain"] + extra, whileRunning: whileRunning)
    }

    /// A copy of the prepared dataset that a test may damage.
    static func copy(_ name: String) throws -> URL {
        let url = PrepFixture.output("prepared-" + name)
        try FileManager.default.copyItem(at: prepared, to: url)
        return url
    }

    /// Prepared session folders, sorted by key.
    static func sessions(_ root: URL) throws -> [URL] {
        try FileManager.default.contentsOfDirectory(atPath: root.path).filter { $0.hasPrefix("sub-") }.sorted().flatMap { subject in
            try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent(subject).path).filter { $0.hasPrefix("ses-") }
                .map { root.appendingPathComponent(subject).appendingPathComponent($0) }
        }
    }

    static func key(_ session: URL) -> String { session.deletingLastPathComponent().lastPathComponent + "_" + session.lastPathComponent }
}

/// `taco correspond` as a user runs it, against `taco synth`'s ground truth.
@Suite(.serialized) struct CorrespondCommandTests {
    @Test func mapsEverySubjectIntoShardsWhoseAtlasCoordinatesMatchTheTruth() throws {
        let out = PrepFixture.output("shards")
        let r = try CorrespondFixture.correspond(CorrespondFixture.prepared, out: out, ["--shard-size", "5MB"])
        #expect(r.status == 0, "\(r.out)\n\(r.err)")
        #expect(r.out.contains("3 subjects mapped, 0 up to date, 0 failed"), "\(r.out)")

        // The manifest: every subject once, shards of at most the target size unless one subject alone exceeds it.
        let manifest = try ShardManifest.read(from: out.appendingPathComponent("dataset.json"))
        let sessions = try CorrespondFixture.sessions(CorrespondFixture.prepared)
        #expect(manifest.subjects.map(\.key) == sessions.map(CorrespondFixture.key))
        #expect(manifest.shards.count >= 2, "\(manifest.shards.map(\.bytes))")
        for shard in manifest.shards { #expect(shard.bytes <= 5_000_000 || shard.subjects.count == 1, "\(shard.name): \(shard.bytes) bytes") }
        #expect(manifest.subjects.allSatisfy { $0.modalities.contains("T1w") && $0.flags.isEmpty })
        #expect(manifest.configuration["token_stride"] == "2" && manifest.tokenStride == 2 && manifest.atlas == "mni152-2009a-sym")
        #expect(manifest.configuration["deformable_method"] == "greedy" && manifest.configuration["deformable_iterations"] == "100,60,30,10" && manifest.configuration["deformable_resolution_mm"] == "4.0")
        // The cost of each stage, per subject.
        #expect(["rigid", "affine", "deformable", "maps", "write"].allSatisfy { r.out.contains("\($0) ") } && r.out.contains("seconds per subject"), "\(r.out)")
        #expect(try TacoProcess.run(["inspect", out.appendingPathComponent("dataset.json").path, "--verify"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent(".work").path), "work files are removed once packed")

        // Pictures: one per subject (three mid-slices of the 2 mm atlas grid, drawn twice as large), and the cohort's.
        for subject in manifest.subjects {
            let picture = try ImageFile.info(out.appendingPathComponent("qc/\(subject.key)_atlas.png"))
            #expect(picture.geometry.size.x == 2 * (99 + 99 + 117) && picture.geometry.size.y == 2 * 117, "\(picture.geometry.size)")
        }
        #expect(try ImageFile.info(out.appendingPathComponent("qc/cohort-mean.png")).geometry.size.y == 4 * 117)

        // Atlas coordinates against the true subject -> atlas map, through the shard's own affine.
        let names = try PrepFixture.pseudonyms()
        for truth in PrepFixture.subjects {
            let key = manifest.subjects.first { $0.key.hasPrefix("sub-\(names[truth["label"] as! String]!)_") }!.key
            let reader = try ShardReader(url: out.appendingPathComponent(manifest.subjects.first { $0.key == key }!.shard))
            let subject = try reader.subject(key)
            let map = try NIfTIFile.readVectorField(PrepFixture.root.appendingPathComponent("dump/truth")
                .appendingPathComponent(truth["subject_to_atlas_map"] as! String))
            let toRAS = AffineTransform3D(rowMajor4x4: subject.affine)
            let t = subject.tokenGridSize, n = t.x * t.y * t.z
            var errors: [Double] = []
            for z in 0..<t.z { for y in 0..<t.y { for x in 0..<t.x {
                let index = SIMD3<Int>(x, y, z) &* 2
                guard subject.mask[(index.z * subject.size.y + index.y) * subject.size.x + index.x] > 0 else { continue }
                let ras = toRAS.apply(to: Vector3(Double(index.x), Double(index.y), Double(index.z)))
                let truthAtlas = map.value(at: Vector3(-ras.x, -ras.y, ras.z))       // the truth map takes LPS, gives atlas RAS
                let k = (z * t.y + y) * t.x + x
                let stored = Vector3(Double(subject.atlasCoords[k]), Double(subject.atlasCoords[n + k]), Double(subject.atlasCoords[2 * n + k]))
                errors.append(length(stored - truthAtlas))
            } } }
            let mean = errors.reduce(0, +) / Double(errors.count)
            print(String(format: "%@: atlas coordinate error mean %.2f mm over %d tokens", key, mean, errors.count))
            // At these coarse settings under 2 mm (AtlasMappingTests holds the default's bounds); a wrong
            // affine, axis order or flip in the shard would give 10 mm and more.
            #expect(errors.count > 100 && mean <= 2.5, "\(key): mean \(mean) mm")
        }

        // No planted identifier in any output file's bytes or name.
        let files = FileManager.default.enumerator(atPath: out.path)!.compactMap { $0 as? String }
        for file in files {
            let data = (try? Data(contentsOf: out.appendingPathComponent(file))) ?? Data()
            for phi in PrepFixture.phi where !phi.isEmpty {
                #expect(!file.contains(phi) && data.range(of: Data(phi.utf8)) == nil, "\(file) holds \(phi)")
            }
        }

        // A second run finds everything up to date and leaves the shards as they were.
        let again = try CorrespondFixture.correspond(CorrespondFixture.prepared, out: out, ["--shard-size", "5MB"])
        #expect(again.status == 0 && again.out.contains("0 subjects mapped, 3 up to date"), "\(again.out)")
        #expect(try ShardManifest.read(from: out.appendingPathComponent("dataset.json")).shards == manifest.shards)
    }

    @Test func partsMergedEqualOneRunAndAMissingPartIsNamed() throws {
        let single = PrepFixture.output("single")
        #expect(try CorrespondFixture.correspond(CorrespondFixture.prepared, out: single).status == 0)
        let parted = PrepFixture.output("parted")
        let first = try CorrespondFixture.correspond(CorrespondFixture.prepared, out: parted, ["--shard-index", "0", "--shard-count", "2"])
        #expect(first.status == 0 && first.out.contains("part 1 of 2 written"), "\(first.out)\n\(first.err)")
        let early = try TacoProcess.run(["correspond", "merge", parted.path])
        #expect(early.status == 1 && early.err.contains("parts 2 of 2 are missing"), "\(early.out)\n\(early.err)")
        #expect(try CorrespondFixture.correspond(CorrespondFixture.prepared, out: parted, ["--shard-index", "1", "--shard-count", "2"]).status == 0)
        let merged = try TacoProcess.run(["correspond", "merge", parted.path])
        #expect(merged.status == 0 && merged.out.contains("3 subjects"), "\(merged.out)\n\(merged.err)")

        let a = try ShardManifest.read(from: single.appendingPathComponent("dataset.json"))
        let b = try ShardManifest.read(from: parted.appendingPathComponent("dataset.json"))
        #expect(a.subjects.map(\.key) == b.subjects.map(\.key) && a.subjects.map(\.shape) == b.subjects.map(\.shape)
                && a.subjects.map(\.modalities) == b.subjects.map(\.modalities) && a.configuration == b.configuration)
        #expect(b.shards.count == 2 && b.shards.allSatisfy { $0.name.hasPrefix("shard-1of2-") || $0.name.hasPrefix("shard-2of2-") })
        for subject in a.subjects {
            let x = try ShardReader(url: single.appendingPathComponent(subject.shard)).subject(subject.key)
            let y = try ShardReader(url: parted.appendingPathComponent(b.subjects.first { $0.key == subject.key }!.shard)).subject(subject.key)
            #expect(x.image == y.image && x.mask == y.mask && x.affine == y.affine && x.atlasLabels.count == y.atlasLabels.count)
            let largest = zip(x.atlasCoords, y.atlasCoords).map { abs($0 - $1) }.max() ?? 0
            #expect(largest < 0.01, "\(subject.key): atlas coordinates differ by up to \(largest) mm between the runs")
        }
    }

    @Test func aMissingModalityAndACorruptVolumeFailTheirSubjectsOnly() throws {
        let prepared = try CorrespondFixture.copy("damaged")
        let sessions = try CorrespondFixture.sessions(prepared)
        let anat0 = sessions[0].appendingPathComponent("anat"), anat1 = sessions[1].appendingPathComponent("anat")
        let missing = try FileManager.default.contentsOfDirectory(atPath: anat0.path).first { $0.hasSuffix("desc-preproc_T2w.nii.gz") }!
        try FileManager.default.removeItem(at: anat0.appendingPathComponent(missing))
        let corrupt = try FileManager.default.contentsOfDirectory(atPath: anat1.path).first { $0.hasSuffix("desc-preproc_T1w.nii.gz") }!
        let bytes = try Data(contentsOf: anat1.appendingPathComponent(corrupt))
        try bytes.prefix(bytes.count / 2).write(to: anat1.appendingPathComponent(corrupt))

        let out = PrepFixture.output("damaged-shards")
        // Images stored without gzip here (the option's own check): only Fletcher32 in their pipeline. ITK's SyN, the
        // comparison method, maps the one good subject.
        let r = try CorrespondFixture.correspond(prepared, out: out, ["--image-compression", "none", "--deformable", "syn-itk", "--deformable-metric", "mi"])
        #expect(r.status == 1, "\(r.out)\n\(r.err)")
        #expect(r.out.contains("1 subjects mapped, 0 up to date, 2 failed"), "\(r.out)")
        let lines = r.out.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.contains(CorrespondFixture.key(sessions[0]) + ":") && $0.contains(missing) && $0.contains("missing") }, "\(r.out)")
        #expect(lines.contains { $0.contains(CorrespondFixture.key(sessions[1]) + ":") && $0.contains(corrupt) && $0.contains("unreadable") }, "\(r.out)")
        let manifest = try ShardManifest.read(from: out.appendingPathComponent("dataset.json"))
        #expect(manifest.subjects.map(\.key) == [CorrespondFixture.key(sessions[2])])
        #expect(try TacoProcess.run(["inspect", out.appendingPathComponent("dataset.json").path, "--verify"]).status == 0)
        let shard = try ShardReader(url: out.appendingPathComponent(manifest.subjects[0].shard))
        #expect(try shard.imageFilters(manifest.subjects[0].key) == [.fletcher32])
        #expect(manifest.configuration["image_compression"] == "none")
        #expect(manifest.configuration["deformable_method"] == "syn-itk" && manifest.configuration["deformable_iterations"] == "40,20")
    }

    @Test func anInterruptedRunResumesWithoutRedoingFinishedSubjects() throws {
        let out = PrepFixture.output("interrupted")
        // Kill the run and its workers once the first subject's work files are complete (its outcome file has its
        // final name; `.name.partial-*` files are still being written).
        let process = Process()
        process.executableURL = TacoProcess.binary
        process.arguments = ["correspond", CorrespondFixture.prepared.path, "--out", out.path, "--deformable-resolution", "4",
                             "--token-stride", "2", "--jobs", "1", "--progress", "plain"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let work = out.appendingPathComponent(".work")
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline && ((try? FileManager.default.contentsOfDirectory(atPath: work.path)) ?? []).filter({ $0.hasSuffix(".json") && !$0.hasPrefix(".") }).isEmpty {
            usleep(50_000)
        }
        kill(process.processIdentifier, SIGSTOP)           // no new worker from here on
        for child in Self.children(of: process.processIdentifier) { kill(child, SIGKILL) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("dataset.json").path))

        let r = try CorrespondFixture.correspond(CorrespondFixture.prepared, out: out)
        #expect(r.status == 0, "\(r.out)\n\(r.err)")
        #expect(r.out.contains("2 subjects mapped, 1 up to date, 0 failed"), "\(r.out)")
        #expect(try ShardManifest.read(from: out.appendingPathComponent("dataset.json")).subjects.count == 3)
        #expect(try TacoProcess.run(["inspect", out.appendingPathComponent("dataset.json").path, "--verify"]).status == 0)
    }

    /// SIGTERM (a Slurm time limit) once the first subject is mapped: the running worker is stopped, the run
    /// exits 143 without a part file or manifest and without partial work files, and the rerun packs the
    /// finished subject without mapping it again.
    @Test func sigtermStopsCorrespondCleanlyAndTheRerunResumes() throws {
        let out = PrepFixture.output("correspond-sigterm")
        let work = out.appendingPathComponent(".work")
        var signalled = false
        let r = try CorrespondFixture.correspond(CorrespondFixture.prepared, out: out, ["--jobs", "1"]) { process in
            let deadline = Date().addingTimeInterval(120)
            while Date() < deadline && ((try? FileManager.default.contentsOfDirectory(atPath: work.path)) ?? []).filter({ $0.hasSuffix(".json") && !$0.hasPrefix(".") }).isEmpty {
                usleep(50_000)
            }
            usleep(300_000)
            kill(process.processIdentifier, SIGTERM)
            signalled = true
        }
        #expect(signalled && r.status == 143 && r.err.contains("stopped by SIGTERM"), "\(r.status)\n\(r.out)\n\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("dataset.json").path))
        let left = (FileManager.default.enumerator(atPath: out.path)?.allObjects as? [String] ?? []).filter { $0.contains(".partial") }
        #expect(left.isEmpty, "\(left)")
        let rerun = try CorrespondFixture.correspond(CorrespondFixture.prepared, out: out)
        #expect(rerun.status == 0 && rerun.out.contains(" up to date, 0 failed") && !rerun.out.contains(" 0 up to date"), "\(rerun.out)")
    }

    /// A full disk under the output (a 1 MB tmpfs in a private mount namespace): correspond fails naming the
    /// reason and leaves no partial file; a manifest it wrote lists only what verifies (the subjects that fit);
    /// the same command completes once there is space.
    @Test func aFullDiskFailsCorrespondClearlyAndTheRerunCompletes() throws {
        let work = PrepFixture.output("correspond-disk")
        let disk = work.appendingPathComponent("disk")
        try FileManager.default.createDirectory(at: disk, withIntermediateDirectories: true)
        let command = ([TacoProcess.binary.path, "correspond", CorrespondFixture.prepared.path, "--out", disk.path + "/out", "--deformable-resolution", "4",
                        "--token-stride", "2", "--jobs", "2", "--progress", "plain"]).joined(separator: " ")
        let script = """
            mount -t tmpfs -o size=1m tmpfs \(disk.path) || exit 99
            \(command) > \(work.path)/first.out 2>&1; echo "first $?"
            find \(disk.path)/out -name '*.partial*' | wc -l | sed 's/^/partial /'
            if test -f \(disk.path)/out/dataset.json; then \(TacoProcess.binary.path) inspect \(disk.path)/out/dataset.json --verify > /dev/null 2>&1; echo "verify $?"; else echo "verify 0"; fi
            mount -o remount,size=64m \(disk.path)
            \(command) > \(work.path)/second.out 2>&1; echo "second $?"
            \(TacoProcess.binary.path) inspect \(disk.path)/out/dataset.json --verify > /dev/null 2>&1 && echo "complete"
            """
        let r = try TacoProcess.runTool("/usr/bin/unshare", ["--mount", "/bin/sh", "-c", script])
        let first = (try? String(contentsOf: work.appendingPathComponent("first.out"), encoding: .utf8)) ?? ""
        let second = (try? String(contentsOf: work.appendingPathComponent("second.out"), encoding: .utf8)) ?? ""
        let lines = r.out.split(separator: "\n").map(String.init)
        #expect(lines.first == "first 1" && first.lowercased().contains("space"), "\(r.out)\n\(first)")
        #expect(lines.count > 2 && lines[1] == "partial 0" && lines[2] == "verify 0", "\(r.out)")
        #expect(lines.count > 4 && lines[3] == "second 0" && lines[4] == "complete" && second.contains(" 0 failed"), "\(r.out)\n\(second)")
    }

    /// The processes whose parent is `pid` (from /proc).
    static func children(of pid: Int32) -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { name -> Int32? in
            guard let child = Int32(name), let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 2 && Int32(fields[1]) == pid ? child : nil
        }
    }

    @Test func usageErrorsExitWithTwo() throws {
        let out = PrepFixture.output("usage")
        #expect(try CorrespondFixture.correspond(CorrespondFixture.prepared, out: out, ["--shard-size", "lots"]).status == 2)
        #expect(try CorrespondFixture.correspond(CorrespondFixture.prepared, out: out, ["--shard-index", "2", "--shard-count", "2"]).status == 2)
        // Option values are types: an unknown one is refused while parsing, with the valid ones.
        let metric = try CorrespondFixture.correspond(CorrespondFixture.prepared, out: out, ["--deformable-metric", "demons"])
        #expect(metric.status == 2 && metric.err.contains("'demons' is invalid") && metric.err.contains("'cc' and 'mi'"), "\(metric.err)")
        let method = try CorrespondFixture.correspond(CorrespondFixture.prepared, out: out, ["--deformable", "demons"])
        #expect(method.status == 2 && method.err.contains("'greedy' and 'syn-itk'"), "\(method.err)")
        // SyN's metric with the greedy registration (which has one metric) is refused, not ignored.
        let mismatch = try CorrespondFixture.correspond(CorrespondFixture.prepared, out: out, ["--deformable-metric", "mi"])
        #expect(mismatch.status == 2 && mismatch.err.contains("--deformable syn-itk"), "\(mismatch.err)")
        let counts = try CorrespondFixture.correspond(CorrespondFixture.prepared, out: out, ["--deformable-iterations", "100,x"])
        #expect(counts.status == 2 && counts.err.contains("--deformable-iterations"), "\(counts.err)")
        let codec = try CorrespondFixture.correspond(CorrespondFixture.prepared, out: out, ["--image-compression", "lz4"])
        #expect(codec.status == 2 && codec.err.contains("'gzip' and 'none'"), "\(codec.err)")
        let empty = PrepFixture.output("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let r = try CorrespondFixture.correspond(empty, out: out)
        #expect(r.status == 1 && r.err.contains("no prepared sessions"), "\(r.err)")
        let atlas = try TacoProcess.run(["correspond", CorrespondFixture.prepared.path, "--out", out.path, "--atlas", "/nonexistent-atlas"])
        #expect(atlas.status == 1 && atlas.err.contains("/nonexistent-atlas") && atlas.err.contains("atlas.json"), "\(atlas.err)")
    }
}
