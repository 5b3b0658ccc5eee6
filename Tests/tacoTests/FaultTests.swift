import Foundation
import Shards
import TacoCore
import Testing

/// Faults a batch meets on a cluster: SIGTERM at a time limit, a second run on the same folder, a full disk,
/// a folder that cannot be read. Each ends with a clear message, leaves nothing partial that could be taken
/// as complete, and a rerun completes.
@Suite(.serialized) struct FaultTests {
    /// Folders under `out` that hold a session, and whether each is complete (has subject.json).
    static func sessionFolders(_ out: URL) throws -> [(URL, Bool)] {
        let fm = FileManager.default
        var found: [(URL, Bool)] = []
        for subject in (try? fm.contentsOfDirectory(at: out, includingPropertiesForKeys: nil)) ?? [] where subject.lastPathComponent.hasPrefix("sub-") {
            for session in try fm.contentsOfDirectory(at: subject, includingPropertiesForKeys: nil) {
                found.append((session, fm.fileExists(atPath: session.appendingPathComponent("subject.json").path)))
            }
        }
        return found
    }

    /// Every name under `out` that marks unfinished work (temporary files and folders of atomic writes).
    static func partialNames(_ out: URL) throws -> [String] {
        let all = (FileManager.default.enumerator(atPath: out.path)?.allObjects as? [String]) ?? []
        return all.filter { $0.contains(".partial") || $0.contains(".incoming") || $0.contains(".aside") }
    }

    @Test func sigtermStopsPrepCleanlyAndTheRerunResumes() throws {
        let out = PrepFixture.output("sigterm")
        var sentAt: Date?
        let r = try PrepFixture.prep([PrepFixture.dicom], out: out, ["--jobs", "1"]) { prep in
            // The second session's worker running: one session done, one in flight.
            let deadline = Date().addingTimeInterval(90)
            var seen = Set<Int32>()
            while Date() < deadline {
                if let pid = workerProcess(parent: prep.processIdentifier) {
                    seen.insert(pid)
                    if seen.count == 2 { usleep(200_000); kill(prep.processIdentifier, SIGTERM); sentAt = Date(); return }
                }
                usleep(20_000)
            }
        }
        #expect(sentAt != nil, "no second worker seen")
        #expect(r.status == 143 && r.err.contains("stopped by SIGTERM") && r.err.contains("rerun"), "\(r.status)\n\(r.out)\n\(r.err)")
        #expect(workerProcess(parent: getpid()) == nil)
        let sessions = try Self.sessionFolders(out)
        let incomplete = sessions.filter { !$0.1 }.map(\.0.lastPathComponent)
        #expect(incomplete.isEmpty, "incomplete session folders: \(incomplete)")
        let partial = try Self.partialNames(out)
        #expect(partial.isEmpty, "\(partial)")
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("prep-report.json").path), "an interrupted run wrote the report")
        let rerun = try PrepFixture.prep([PrepFixture.dicom], out: out)
        #expect(rerun.status == 0 && rerun.out.contains("up to date"), "\(rerun.out)")
        #expect(try Self.sessionFolders(out).count == 3)
    }

    @Test func aSecondRunOnTheSameFolderIsRefusedWhileTheFirstRuns() throws {
        let out = PrepFixture.output("lock")
        var second: (status: Int32, out: String, err: String)?
        let first = try PrepFixture.prep([PrepFixture.dicom], out: out, ["--jobs", "1"]) { prep in
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline && workerProcess(parent: prep.processIdentifier) == nil { usleep(20_000) }
            second = try? PrepFixture.prep([PrepFixture.dicom], out: out)
        }
        #expect(first.status == 0, "\(first.out)\n\(first.err)")
        let refused = try #require(second)
        #expect(refused.status == 1 && refused.err.contains("in use by another run") && refused.err.contains("taco prep, process"), "\(refused.err)")
        // Another part of the same folder is not held up (an array job's tasks share --out).
        let part = try PrepFixture.prep([PrepFixture.dicom], out: out, ["--shard-index", "1", "--shard-count", "2"])
        #expect(part.status == 0, "\(part.err)")
    }

    /// As an unprivileged user (tests run as root, who reads everything): a folder of the input that cannot be
    /// read is named as a failure, and the rest is prepared.
    @Test func anUnreadableInputFolderIsNamedAndTheRestGoesOn() throws {
        let fm = FileManager.default
        let work = PrepFixture.output("unreadable")
        try fm.createDirectory(at: work, withIntermediateDirectories: true)
        let dump = work.appendingPathComponent("dump"), out = work.appendingPathComponent("out"), key = work.appendingPathComponent("key")
        try fm.copyItem(at: PrepFixture.dicom, to: dump)
        let hidden = try #require(try fm.contentsOfDirectory(at: dump, includingPropertiesForKeys: nil).sorted { $0.path < $1.path }.first)
        for folder in [work, out, key] {
            try fm.createDirectory(at: folder, withIntermediateDirectories: true)
            chmod(folder.path, 0o777)
        }
        chmod(PrepFixture.root.path, 0o755)
        chmod(hidden.path, 0o000)
        defer { chmod(hidden.path, 0o755) }
        let r = try TacoProcess.runAs(user: 65534, ["prep", dump.path, "--out", out.path, "--key-file", key.appendingPathComponent("k").path,
                                                    "--spacing", "3", "--progress", "plain"])
        #expect(r.status == 1 && r.out.contains("cannot be read (Permission denied)"), "\(r.out)\n\(r.err)")
        let report = try PrepFixture.json(out.appendingPathComponent("prep-report.json"))
        #expect((report["unusable_files"] as! [[String: Any]]).contains { ($0["reason"] as? String ?? "").contains("cannot be read") })
        #expect((report["sessions"] as! [[String: Any]]).contains { $0["status"] as? String == "prepared" })
    }

    /// A full disk (a small tmpfs in a private mount namespace): prep fails naming the file and the reason,
    /// leaves no partial session, and completes once there is space.
    @Test func aFullDiskFailsClearlyAndTheRerunCompletesOnceThereIsSpace() throws {
        let work = PrepFixture.output("full-disk")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let disk = work.appendingPathComponent("disk")
        try FileManager.default.createDirectory(at: disk, withIntermediateDirectories: true)
        let prep = "\(TacoProcess.binary.path) prep \(PrepFixture.dicom.path) --out \(disk.path)/out --key-file \(work.path)/key --spacing 3 --progress plain --jobs 1"
        let script = """
            set -u
            mount -t tmpfs -o size=400k tmpfs \(disk.path) || exit 99
            \(prep) > \(work.path)/first.out 2>&1; echo "first $?"
            find \(disk.path)/out -name subject.json | wc -l | sed 's/^/complete /'
            find \(disk.path)/out -name '*.partial*' | wc -l | sed 's/^/partial /'
            mount -o remount,size=64m \(disk.path)
            \(prep) > \(work.path)/second.out 2>&1; echo "second $?"
            find \(disk.path)/out -name subject.json | wc -l | sed 's/^/complete /'
            """
        let r = try TacoProcess.runTool("/usr/bin/unshare", ["--mount", "/bin/sh", "-c", script])
        #expect(!r.out.isEmpty && !r.out.contains("99"), "cannot mount a tmpfs here: \(r.out) \(r.err)")
        let first = (try? String(contentsOf: work.appendingPathComponent("first.out"), encoding: .utf8)) ?? ""
        let lines = r.out.split(separator: "\n").map(String.init)
        #expect(lines.first == "first 1", "\(r.out)\n\(first)")
        #expect(first.contains("no space left on the device"), "\(first)")
        #expect(lines.count > 2 && lines[2] == "partial 0", "\(r.out)")
        let second = (try? String(contentsOf: work.appendingPathComponent("second.out"), encoding: .utf8)) ?? ""
        #expect(lines.count > 4 && lines[3] == "second 0" && lines[4] == "complete 3", "\(r.out)\n\(second)")
    }

    /// Three small subjects in one shard (24^3 voxels, FLAIR and T1w, token stride 4) and its manifest.
    static func smallShards(in folder: URL) throws -> URL {
        let shards = folder.appendingPathComponent("shards")
        try FileManager.default.createDirectory(at: shards, withIntermediateDirectories: true)
        let url = shards.appendingPathComponent("shard-00001.h5")
        let writer = try ShardWriter(url: url, atlas: "test-atlas", tokenStride: 4, createdBy: "FaultTests")
        let size = SIMD3(24, 24, 24), voxels = 24 * 24 * 24, grid = SIMD3(6, 6, 6), tokens = 216
        var rng = SeededGenerator(seed: 3)
        for s in 0..<3 {
            let image = (0..<2 * voxels).map { _ in Float(Float16(rng.gaussian())) }
            var mask = [UInt8](repeating: 0, count: voxels)
            for z in 4..<20 { for y in 4..<20 { for x in 4..<20 { mask[(z * 24 + y) * 24 + x] = 1 } } }
            var coords = [Float](repeating: 0, count: 3 * tokens)
            for t in 0..<tokens {
                let v = SIMD3(Double(t % 6), Double((t / 6) % 6), Double(t / 36)) * 4
                for c in 0..<3 { coords[c * tokens + t] = Float(v[c] + Double(s)) }
            }
            try writer.add(ShardSubject(key: "sub-0\(s)_ses-1", modalities: ["FLAIR", "T1w"], size: size, image: image, mask: mask,
                                        affine: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1], spacing: [1, 1, 1], tokenGridSize: grid,
                                        atlasCoords: coords, atlasLabels: (0..<tokens).map { UInt8($0 % 4) }, confidence: [Float](repeating: 1, count: tokens)))
        }
        _ = try writer.finish()
        try ShardManifest.build(shards: [url], configuration: [:]).write(to: shards.appendingPathComponent(ShardManifest.fileName))
        return shards
    }

    /// SIGTERM (a Slurm time limit) during `taco train`: the step in progress finishes, a checkpoint of it is
    /// written, the command exits 143 without final weights; `--resume` continues from that step to the end,
    /// and a second trainer on the same run folder meanwhile is refused.
    @Test func sigtermCheckpointsTrainAndTheRunResumesFromThere() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("taco-train-fault-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let shards = try Self.smallShards(in: folder)
        let config = folder.appendingPathComponent("train.yaml")
        try "model:\n  channels: [4, 8, 8]\n  groups: 4\n".write(to: config, atomically: true, encoding: .utf8)
        let run = folder.appendingPathComponent("run")
        let arguments = ["train", shards.path, "--out", run.path, "--config", config.path, "--steps", "400", "--crop", "16",
                         "--batch-size", "2", "--checkpoint-every", "1000", "--threads", "1", "--progress", "plain"]
        var concurrent: (status: Int32, out: String, err: String)?
        let r = try TacoProcess.run(arguments) { train in
            let metrics = run.appendingPathComponent("metrics.jsonl")
            let deadline = Date().addingTimeInterval(120)
            while Date() < deadline {
                let lines = (try? String(contentsOf: metrics, encoding: .utf8))?.split(separator: "\n").count ?? 0
                if lines >= 3 {
                    concurrent = try? TacoProcess.run(arguments + ["--resume"])
                    kill(train.processIdentifier, SIGTERM)
                    return
                }
                usleep(20_000)
            }
        }
        #expect(r.status == 143 && r.err.contains("stopped by SIGTERM"), "\(r.status)\n\(r.out)\n\(r.err)")
        #expect(concurrent?.status == 1 && (concurrent?.err ?? "").contains("in use by another run"), "\(concurrent?.err ?? "none")")
        let metrics = run.appendingPathComponent("metrics.jsonl"), weights = run.appendingPathComponent("model.safetensors")
        let checkpoints = try FileManager.default.contentsOfDirectory(atPath: run.appendingPathComponent("checkpoints").path).filter { !$0.hasPrefix(".") }
        let steps = (try? String(contentsOf: metrics, encoding: .utf8))?.split(separator: "\n").count ?? 0
        #expect(checkpoints == [String(format: "step-%07d.safetensors", steps)], "\(checkpoints) after \(steps) logged steps")
        #expect(!FileManager.default.fileExists(atPath: weights.path) && steps < 400)
        let resumed = try TacoProcess.run(arguments + ["--resume"])
        #expect(resumed.status == 0, "\(resumed.out)\n\(resumed.err)")
        #expect(FileManager.default.fileExists(atPath: weights.path))
        #expect((try? String(contentsOf: metrics, encoding: .utf8))?.split(separator: "\n").count == 400)
    }

    /// A full disk under `taco train`'s run folder (a tmpfs smaller than a checkpoint): the run fails naming the
    /// file and the reason, no partial checkpoint remains, and once there is space the same command (with
    /// `--resume` when a checkpoint was written) completes.
    @Test func aFullDiskStopsTrainClearlyAndTheRunCompletesOnceThereIsSpace() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("taco-train-disk-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let shards = try Self.smallShards(in: folder)
        let config = folder.appendingPathComponent("train.yaml")
        try "model:\n  channels: [4, 8, 8]\n  groups: 4\n".write(to: config, atomically: true, encoding: .utf8)
        let disk = folder.appendingPathComponent("disk")
        try FileManager.default.createDirectory(at: disk, withIntermediateDirectories: true)
        let train = "\(TacoProcess.binary.path) train \(shards.path) --out \(disk.path)/run --config \(config.path) --steps 12 --crop 16 --batch-size 2 --checkpoint-every 4 --threads 1 --progress plain"
        let script = """
            mount -t tmpfs -o size=48k tmpfs \(disk.path) || exit 99
            \(train) > \(folder.path)/first.out 2>&1; echo "first $?"
            find \(disk.path)/run -name '*.partial*' | wc -l | sed 's/^/partial /'
            mount -o remount,size=16m \(disk.path)
            if ls \(disk.path)/run/checkpoints | grep -q step; then resume=--resume; else resume=; fi
            \(train) $resume > \(folder.path)/second.out 2>&1; echo "second $?"
            test -f \(disk.path)/run/model.safetensors && echo "weights written"
            """
        let r = try TacoProcess.runTool("/usr/bin/unshare", ["--mount", "/bin/sh", "-c", script])
        let first = (try? String(contentsOf: folder.appendingPathComponent("first.out"), encoding: .utf8)) ?? ""
        let second = (try? String(contentsOf: folder.appendingPathComponent("second.out"), encoding: .utf8)) ?? ""
        let lines = r.out.split(separator: "\n").map(String.init)
        #expect(lines.first == "first 1" && first.contains("\(disk.path)/run") && first.lowercased().contains("space"), "\(r.out)\n\(first)")
        #expect(lines.count > 1 && lines[1] == "partial 0", "\(r.out)")
        #expect(lines.count > 3 && lines[2] == "second 0" && lines[3] == "weights written", "\(r.out)\n\(second)")
    }
}
