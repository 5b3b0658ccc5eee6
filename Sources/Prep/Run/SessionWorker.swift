import Foundation
import Imaging
import TacoCore

/// Prepares one session inside a worker process: decode every source, prepare (``SessionPreparation``),
/// write (``PreparedSessionWriter``). Never throws: whatever goes wrong becomes the outcome's reason,
/// with input paths replaced by "file k".
///
/// A source that cannot be decoded hands its modality to its next fallback (another series of the class);
/// when none decodes, the modality is left out (named in `inputFailures`) and the session goes on with the
/// others. A failure of the preparation or the write fails the session.
public enum SessionWorker {
    public static func run(_ job: SessionJob) -> SessionOutcome {
        var outcome = prepare(job)
        outcome.peakMemoryBytes = ProcessMemory.peakResidentBytes()
        return outcome
    }

    static func prepare(_ job: SessionJob) -> SessionOutcome {
        var outcome = SessionOutcome(status: .failed)
        let allPaths = job.sources.flatMap { ([$0] + $0.fallbacks).flatMap { $0.files.map { URL(fileURLWithPath: $0) } } }
        func redacted(_ error: Error) -> String { PreparedDataset.redacting("\(error)", paths: allPaths) }
        func clock() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

        var inputs: [SessionPreparation.Input] = []
        var sidecars: [String: Data] = [:]
        let decodeStart = clock()
        for source in job.sources {
            for (attempt, candidate) in ([source] + source.fallbacks).enumerated() {
                do {
                    let urls = candidate.files.map { URL(fileURLWithPath: $0) }
                    let volume = candidate.kind == .dicom ? try DICOMSeries.readOrdered(urls) : try ImageFile.read(urls[0])
                    guard volume.geometry.voxelCount > 0 else { throw PrepFailure("an empty image") }
                    inputs.append(.init(modality: source.modality, volume: volume))
                    if let sidecar = candidate.sidecar { sidecars[source.modality] = Data(sidecar.utf8) }
                    if attempt > 0 { outcome.fallbackUsed[source.modality] = candidate.reportIndex }
                    break
                } catch {
                    let reason = PreparedDataset.redacting("\(error)", paths: candidate.files.map { URL(fileURLWithPath: $0) })
                    outcome.readFailures[String(candidate.reportIndex)] = reason
                    if attempt == 0 { outcome.inputFailures[source.modality] = reason }
                }
            }
            if outcome.fallbackUsed[source.modality] != nil { outcome.inputFailures[source.modality] = nil }
        }
        outcome.seconds["decode"] = clock() - decodeStart
        guard !inputs.isEmpty else {
            outcome.reason = "no input of this session could be read"
            return outcome
        }

        let result: SessionPreparation.Result
        do {
            result = try job.options.sessionPreparation.prepare(inputs)
        } catch {
            outcome.reason = "preparation failed: " + redacted(error)
            return outcome
        }
        inputs.removeAll()  // the acquisitions are no longer needed: keep the worker's peak low
        let t = result.times
        for (name, value) in [("resample", t.resample), ("register", t.register), ("mask", t.mask),
                              ("bias_correction", t.biasCorrection), ("normalise", t.normalise)] { outcome.seconds[name] = value }

        let writeStart = clock()
        do {
            let writer = PreparedSessionWriter()
            let folder = try writer.write(result, subject: job.subject, session: job.session, fingerprint: job.fingerprint,
                                          configuration: job.options.configuration, sidecars: sidecars,
                                          inputFailures: outcome.inputFailures, under: URL(fileURLWithPath: job.output))
            outcome.qcFlags = PreparedSummary(contentsOf: folder.appendingPathComponent(PreparedLayout.Session.summaryPath))?.qcFlags ?? []
        } catch {
            outcome.reason = "could not write the session: " + Self.describe(error, under: job.output)
            return outcome
        }
        outcome.seconds["write"] = clock() - writeStart
        outcome.status = .prepared
        outcome.modalities = result.volumes.keys.sorted()
        outcome.reference = result.reference
        return outcome
    }

    /// A file-system error as "path (relative to the output): reason"; other errors as they describe themselves.
    static func describe(_ error: Error, under output: String) -> String {
        let ns = error as NSError
        guard let path = ns.userInfo[NSFilePathErrorKey] as? String ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path else { return "\(error)" }
        let reason = (ns.userInfo[NSUnderlyingErrorKey] as? NSError)?.localizedDescription ?? ns.localizedDescription
        let relative = path.hasPrefix(output + "/") ? String(path.dropFirst(output.count + 1)) : path
        return "\(relative): \(reason)"
    }

    /// The outcome of an existing session whose inputs and configuration match `job`, else nil.
    public static func upToDate(_ job: SessionJob) -> SessionOutcome? {
        let layout = PreparedLayout(root: URL(fileURLWithPath: job.output)), labels = job.labels
        guard let summary = PreparedSummary(contentsOf: layout.summary(labels)),
              summary.inputFingerprint == job.fingerprint, summary.configuration == job.options.configuration,
              !summary.modalities.isEmpty else { return nil }
        let expected = summary.modalities.map { layout.volume(labels, modality: $0) } + [layout.mask(labels)]
        guard expected.allSatisfy({ FileManager.default.fileExists(atPath: $0.path) }) else { return nil }
        var outcome = SessionOutcome(status: .skipped)
        outcome.modalities = summary.modalities
        outcome.reference = summary.reference
        outcome.qcFlags = summary.qcFlags
        outcome.inputFailures = summary.inputFailures
        return outcome
    }
}
