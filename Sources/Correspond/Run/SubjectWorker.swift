import Foundation
import Imaging
import TacoCore
import Shards

/// Maps one prepared session inside a worker process: read it, register it to the atlas
/// (``AtlasMapping``), write it as a one-subject shard in the work folder, draw its picture. Never
/// throws: what goes wrong becomes the outcome's reason. The outcome file is written last, so a work
/// shard without one is an interrupted subject.
public enum SubjectWorker {
    /// The shard's `created_by` attribute.
    public static func createdBy(version: String) -> String { "taco \(version)" }

    public static func run(_ job: SubjectJob, version: String) -> SubjectOutcome {
        var outcome = map(job, version: version)
        outcome.fingerprint = job.fingerprint
        outcome.peakMemoryBytes = ProcessMemory.peakResidentBytes()
        return outcome
    }

    static func map(_ job: SubjectJob, version: String) -> SubjectOutcome {
        var outcome = SubjectOutcome(status: .failed)
        func clock() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
        let layout = job.layout
        var start = clock()
        let session: PreparedSession, atlas: Atlas
        do {
            session = try PreparedSession(folder: URL(fileURLWithPath: job.folder))
            atlas = try Atlas(folder: URL(fileURLWithPath: job.atlasFolder))
        } catch {
            outcome.reason = "\(error)"
            return outcome
        }
        outcome.seconds["read"] = clock() - start

        let result: AtlasMapping.Result
        do {
            result = try job.options.mapping.map(reference: session.volumes[session.reference]!, mask: session.mask, atlas: atlas)
        } catch {
            outcome.reason = "the registration to the atlas failed: \(error)"
            return outcome
        }
        outcome.seconds.merge(result.seconds) { _, new in new }

        start = clock()
        let fm = FileManager.default
        do {
            try fm.createDirectory(at: layout.work, withIntermediateDirectories: true)
            let writer = try ShardWriter(url: layout.workShard(job.key), atlas: atlas.name, tokenStride: job.options.tokenStride,
                                         createdBy: createdBy(version: version),
                                         imageCompression: job.options.imageCompression)
            do {
                try writer.add(ShardSubjectBuilder.subject(session, map: result))
                outcome.bytes = try writer.finish()
            } catch {
                writer.discard()
                throw error
            }
        } catch {
            outcome.reason = "could not write the subject's work file: \(error)"
            return outcome
        }
        outcome.seconds["write"] = clock() - start

        start = clock()
        do {
            try fm.createDirectory(at: layout.qc, withIntermediateDirectories: true)
            let pictures = try AtlasPictures(atlas: atlas)
            let warped = try pictures.brainInAtlasSpace(session.volumes[session.reference]!, mask: session.mask, map: result)
            try AtomicFile.write(to: layout.warpedReference(job.key)) { try NIfTIFile.write(warped, to: $0) }
            try pictures.subject(warped).write(to: layout.subjectPicture(job.key))
        } catch {
            outcome.reason = "could not draw the subject's atlas picture: \(error)"
            return outcome
        }
        outcome.seconds["pictures"] = clock() - start

        outcome.status = .mapped
        outcome.flags = result.flags
        outcome.metrics = result.metrics
        do {
            var saved = outcome
            saved.fingerprint = job.fingerprint
            saved.peakMemoryBytes = ProcessMemory.peakResidentBytes()
            try AtomicFile.write(to: layout.workOutcome(job.key)) { try JSONEncoder().encode(saved).write(to: $0) }
        } catch {
            outcome.status = .failed
            outcome.reason = "could not write the subject's work file: \(error)"
        }
        return outcome
    }

    /// The saved outcome of a mapped subject whose work shard is present and whose fingerprint is
    /// `fingerprint`, else nil.
    public static func finished(_ key: String, fingerprint: String, layout: CorrespondLayout) -> SubjectOutcome? {
        guard FileManager.default.fileExists(atPath: layout.workShard(key).path),
              let data = FileManager.default.contents(atPath: layout.workOutcome(key).path),
              let outcome = try? JSONDecoder().decode(SubjectOutcome.self, from: data),
              outcome.fingerprint == fingerprint, outcome.status == .mapped else { return nil }
        return outcome
    }
}
