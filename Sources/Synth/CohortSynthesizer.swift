import Foundation
import Imaging
import TacoCore

/// Makes a synthetic multi-modal cohort with known ground truth from an atlas (`taco synth`).
///
/// Output folder:
/// ```
/// dicom/    a hospital-like DICOM dump (opaque nested folders, several subjects per folder, junk series)
/// bids/     the same acquisitions as a BIDS dataset (sub-XX/ses-01/anat/sub-XX_ses-01_<modality>.nii.gz)
/// truth/    cohort.json + per subject: subject<->atlas coordinate maps and tissue labels
/// ```
/// The whole folder is built under a temporary name and renamed when complete.
///
/// ```swift
/// let truth = try CohortSynthesizer(options: SynthOptions(subjects: 2, seed: 7, size: .small), version: "0.1.0")
///     .run(into: URL(fileURLWithPath: "cohort")) { print($0) }
/// ```
public struct CohortSynthesizer: Sendable {
    public let options: SynthOptions
    public let version: String

    public init(options: SynthOptions, version: String) {
        self.options = options
        self.version = version
    }

    /// A cohort that could not be made, with the reason.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let reason: String
        public var description: String { reason }
    }

    /// Makes the cohort in `output` (which must not exist, unless `replace`), reporting progress lines.
    @discardableResult
    public func run(into output: URL, replace: Bool = false, progress: (String) -> Void = { _ in }) throws -> CohortTruth {
        guard options.subjects >= 1 else { throw Failure(reason: "--subjects must be at least 1") }
        guard !options.formats.isEmpty else { throw Failure(reason: "--formats names no format (dicom, bids)") }
        let fm = FileManager.default
        if fm.fileExists(atPath: output.path), !replace {
            throw Failure(reason: "\(output.path) already exists (choose another folder, or --force to replace it)")
        }
        let parent = output.deletingLastPathComponent()
        try fm.createDirectory(at: parent, withIntermediateDirectories: true)
        let staging = parent.appendingPathComponent(".\(output.lastPathComponent).partial-\(UUID().uuidString.prefix(8))")
        try fm.createDirectory(at: staging, withIntermediateDirectories: true)
        do {
            let truth = try make(in: staging, progress: progress)
            if fm.fileExists(atPath: output.path) {
                let old = parent.appendingPathComponent(".\(output.lastPathComponent).old-\(UUID().uuidString.prefix(8))")
                try fm.moveItem(at: output, to: old)
                try fm.moveItem(at: staging, to: output)
                try? fm.removeItem(at: old)
            } else {
                try fm.moveItem(at: staging, to: output)
            }
            return truth
        } catch {
            try? fm.removeItem(at: staging)
            throw error
        }
    }

    /// What every subject is drawn from: the atlas's tissues, ready to be rendered.
    private struct Scene {
        let atlas: Atlas
        let renderer: AcquisitionRenderer
        let atlasCenter: Vector3
        let lesionSites: [Vector3]
    }

    /// Where one cohort is being written, and what it has collected so far.
    private struct Output {
        let root: URL
        let writeDICOM: Bool
        let writeBIDS: Bool
        var dump: DICOMDump
        var bidsRoot: URL { root.appendingPathComponent("bids") }
    }

    /// One subject's study: its identity, UIDs and the study-wide DICOM tags.
    private struct Study {
        let index: Int
        let anatomy: SubjectAnatomy
        let identity: PatientIdentity
        let tags: [DICOMTag: String]
        /// The subject's own random stream (the acquisitions' noise streams derive from it).
        let rng: SeededGenerator
    }

    /// The steps in order: the scene, every subject (acquisitions, junk series, truth maps), the dataset files.
    private func make(in root: URL, progress: (String) -> Void) throws -> CohortTruth {
        let scene = try loadScene()
        let rng = SeededGenerator(seed: options.seed)
        var output = Output(root: root.standardizedFileURL, writeDICOM: options.formats.contains(.dicom), writeBIDS: options.formats.contains(.bids),
                            dump: DICOMDump(root: root.standardizedFileURL.appendingPathComponent("dicom"), folderCount: max(2, options.subjects / 2),
                                            rng: rng.stream(1_000_000)))
        var subjects: [CohortTruth.Subject] = []
        for i in 0..<options.subjects {
            subjects.append(try makeSubject(i, scene: scene, rng: rng.stream(i), output: &output, progress: progress))
        }
        if output.writeBIDS { try BIDSExport.writeDatasetFiles(root: output.bidsRoot, subjects: subjects, version: version) }
        return try writeCohortTruth(subjects: subjects, series: output.dump.series, atlas: scene.atlas, root: output.root)
    }

    private func loadScene() throws -> Scene {
        let atlas = try Atlas.load(options.atlas)
        let template = try atlas.template("T1w")
        let gm = try atlas.tissueMap("GM"), wm = try atlas.tissueMap("WM")
        let brain = Volume(geometry: template.geometry, voxels: template.voxels.map { $0 > 0 ? 1 : 0 })
        let renderer = AcquisitionRenderer(tissues: VolumeStack([gm, wm, brain]), fieldSpacing: options.size == .small ? 6 : 4)
        let (atlasCenter, lesionSites) = Self.brainCenterAndLesionSites(template: template, gm: gm, wm: wm)
        return Scene(atlas: atlas, renderer: renderer, atlasCenter: atlasCenter, lesionSites: lesionSites)
    }

    /// Subject `i`: its anatomy and identity, every modality's acquisition (BIDS and DICOM, with the junk series
    /// the truth describes), the localizer and screenshot, and its truth maps.
    private func makeSubject(_ i: Int, scene: Scene, rng: SeededGenerator, output: inout Output, progress: (String) -> Void) throws
        -> CohortTruth.Subject {
        let small = options.size == .small
        var s = rng
        let anatomy = SubjectAnatomy(index: i, rng: &s, atlasCenter: scene.atlasCenter, warpSpacing: small ? 6 : 4,
                                     lesionRadius: small ? 8...11 : 4...7, atlasLesionSites: scene.lesionSites)
        let identity = PatientIdentity(rng: &s)
        var uids = UIDSource(rng: s.stream(7))
        let studyUID = uids.next(), frameUID = uids.next()
        let plans = Modality.allCases.map { AcquisitionPlan(modality: $0, size: options.size, center: anatomy.center, rng: &s) }
        progress("subject \(anatomy.label): \(plans.map(\.modality.rawValue).joined(separator: ", ")), vendor \(anatomy.vendor.rawValue)"
                 + (anatomy.lesion != nil ? ", lesion" : ""))

        // Study-wide tags: identity, study, scanner.
        var tags: [DICOMTag: String] = [
            .studyInstanceUID: studyUID, .frameOfReferenceUID: frameUID, .modality: "MR",
            .manufacturer: anatomy.vendor.manufacturer, .manufacturerModelName: anatomy.vendor.model,
            .magneticFieldStrength: "3", DICOMTag(0x0008, 0x1030): "MRI BRAIN WITHOUT CONTRAST",
            DICOMTag(0x0020, 0x0010): String(format: "%d", 1000 + i),
        ]
        for tv in identity.tags { tags[tv.tag] = tv.value }
        let study = Study(index: i, anatomy: anatomy, identity: identity, tags: tags, rng: s)

        var acquisitions: [CohortTruth.Acquisition] = []
        var t1Fractions: AcquisitionRenderer.Fractions?
        for (k, plan) in plans.enumerated() {
            let (acquisition, fractions) = try writeAcquisition(k, plan: plan, study: study, renderer: scene.renderer, uids: &uids, output: &output)
            if plan.modality == .t1w { t1Fractions = fractions }
            acquisitions.append(acquisition)
        }
        if output.writeDICOM {
            try writeLocalizer(anatomy: anatomy, renderer: scene.renderer, study: tags, uid: uids.next(), time: identity.studyTime,
                               dump: &output.dump, subjectIndex: i, rng: s.stream(300))
            if i == 0 {
                try writeScreenshot(anatomy: anatomy, renderer: scene.renderer, study: tags, uid: uids.next(), dump: &output.dump,
                                    subjectIndex: i, rng: s.stream(400))
            }
        }
        return try writeTruthMaps(anatomy: anatomy, renderer: scene.renderer, t1: t1Fractions!, identity: identity,
                                  acquisitions: acquisitions, truthRoot: output.root.appendingPathComponent("truth"))
    }

    /// Acquisition `k` of a study: rendered on its plan's grid, quantised, written as BIDS and as a DICOM series
    /// (with the duplicate export and the repeat with a missing slice where the cohort has them).
    private func writeAcquisition(_ k: Int, plan: AcquisitionPlan, study: Study, renderer: AcquisitionRenderer, uids: inout UIDSource,
                                  output: inout Output) throws -> (CohortTruth.Acquisition, AcquisitionRenderer.Fractions) {
        let anatomy = study.anatomy, m = plan.modality, i = study.index, n = options.subjects
        let fractions = try renderer.fractions(on: plan.grid, scannerToSubject: plan.scannerToSubject, anatomy: anatomy)
        // T2w and FLAIR carry a rescale intercept, as some vendors' series do.
        let (volume, rescale) = Self.quantized(renderer.render(m, from: fractions, anatomy: anatomy, noise: study.rng.stream(100 + k)),
                                               interceptSteps: [.t2w, .flair].contains(m) ? 100 : 0)
        let names = anatomy.vendor.names(m)
        let seriesNumber = 2 + k
        var bidsFile: String?
        if output.writeBIDS {
            let file = BIDSExport.path(subject: anatomy.label, modality: m)
            try BIDSExport.write(volume, rescale: rescale, plan: plan, vendor: anatomy.vendor, to: output.bidsRoot.appendingPathComponent(file))
            bidsFile = file
        }
        if output.writeDICOM {
            let compression: DICOMSeries.Compression = (m == .pdw && i == 3 % n) ? .jpeg2000Lossless : .none
            var tags = study.tags.merging(Self.seriesTags(m, names: names, number: seriesNumber, uid: uids.next(),
                                                          time: study.identity.studyTime, minutes: 5 * k)) { $1 }
            tags[.imageType] = "ORIGINAL\\PRIMARY\\M\\ND"
            let folder = output.dump.folder(subject: i, series: k)
            let files = try output.dump.write(volume, tags: tags, rescale: rescale, folder: folder, compression: compression,
                                              truth: .init(subject: anatomy.label, seriesNumber: seriesNumber, seriesDescription: names.description,
                                                           folder: folder, files: volume.geometry.size.z, kind: m.rawValue,
                                                           transferSyntax: DICOMDump.transferSyntax(compression), expectedFate: "used",
                                                           expectedModality: m.rawValue,
                                                           reason: compression == .none ? "complete \(m.rawValue) series"
                                                               : "complete \(m.rawValue) series, JPEG 2000 lossless: must be decoded"))
            if m == .t1w && i == 2 % n {
                try writeDuplicateExport(files, seriesNumber: seriesNumber, description: names.description, k: k, study: study, dump: &output.dump)
            }
            if m == .t2w && i == 1 % n {
                try writeRepeatWithMissingSlice(tags: tags, seriesNumber: seriesNumber, description: names.description, k: k, study: study,
                                                fractions: fractions, renderer: renderer, uids: &uids, dump: &output.dump)
            }
        }
        let acquisition = CohortTruth.Acquisition(modality: m.rawValue, plane: plan.plane.rawValue, tiltDegrees: plan.tilt * 180 / .pi,
                                                  scannerToSubject: plan.scannerToSubject.rasRows, grid: plan.grid.truthGrid,
                                                  rescaleSlope: rescale.slope, rescaleIntercept: rescale.intercept, bidsFile: bidsFile,
                                                  dicomSeriesNumber: output.writeDICOM ? seriesNumber : nil)
        return (acquisition, fractions)
    }

    /// The same files exported again in another folder (same SOP instance UIDs): prep must keep one copy.
    private func writeDuplicateExport(_ files: [URL], seriesNumber: Int, description: String, k: Int, study: Study, dump: inout DICOMDump) throws {
        let copyFolder = dump.folder(subject: study.index, series: k + 1)
        let copies = try dump.files(files.count, in: copyFolder)
        for (source, copy) in zip(files, copies) { try FileManager.default.copyItem(at: source, to: copy) }
        dump.record(.init(subject: study.anatomy.label, seriesNumber: seriesNumber, seriesDescription: description,
                          folder: copyFolder, files: copies.count, kind: "duplicate",
                          transferSyntax: DICOMDump.transferSyntax(.none), expectedFate: "rejected", expectedModality: nil,
                          reason: "second copy of series \(seriesNumber) (same SOP instance UIDs): keep one copy"))
    }

    /// A repeat of a series with one slice missing from the export: prep must reject it for the gap.
    private func writeRepeatWithMissingSlice(tags: [DICOMTag: String], seriesNumber: Int, description: String, k: Int, study: Study,
                                             fractions: AcquisitionRenderer.Fractions, renderer: AcquisitionRenderer,
                                             uids: inout UIDSource, dump: inout DICOMDump) throws {
        let m = Modality.t2w, anatomy = study.anatomy
        let (again, againRescale) = Self.quantized(renderer.render(m, from: fractions, anatomy: anatomy, noise: study.rng.stream(200 + k)))
        var repeatTags = tags
        repeatTags[.seriesInstanceUID] = uids.next()
        repeatTags[.seriesNumber] = String(seriesNumber + 10)
        let repeatFolder = dump.folder(subject: study.index, series: k + 2)
        let slices = again.geometry.size.z
        let written = try dump.write(again, tags: repeatTags, rescale: againRescale, folder: repeatFolder,
                                     truth: .init(subject: anatomy.label, seriesNumber: seriesNumber + 10,
                                                  seriesDescription: description, folder: repeatFolder,
                                                  files: slices - 1, kind: "missing-slice",
                                                  transferSyntax: DICOMDump.transferSyntax(.none), expectedFate: "rejected",
                                                  expectedModality: nil,
                                                  reason: "instance \(slices / 2 + 1) of \(slices) is missing: a gap in the slice positions"))
        try FileManager.default.removeItem(at: written[slices / 2])
    }

    /// `truth/cohort.json`: the generator, the conventions of every coordinate in it, the subjects and every series' expected fate.
    private func writeCohortTruth(subjects: [CohortTruth.Subject], series: [CohortTruth.Series], atlas: Atlas, root: URL) throws -> CohortTruth {
        let truth = CohortTruth(
            generator: .init(name: "taco synth", version: version, seed: options.seed, subjects: options.subjects, size: options.size.rawValue,
                             formats: options.formats.map(\.rawValue).sorted(), atlas: atlas.name),
            conventions: [
                "coordinates": "RAS mm, as nibabel reports them",
                "subject_space": "the scanner frame of the subject's T1w acquisition",
                "subject_to_atlas": "atlas point a = A(p + w(p)); the coordinate maps hold a at each voxel centre p of their grid",
                "atlas_to_subject": "the inverse map: subject point p at each voxel centre a of an atlas-space grid",
                "scanner_to_subject": "maps a point of an acquisition's scanner frame to the subject frame (T1w: identity)",
                "labels": "0 background, 1 CSF, 2 GM, 3 WM, 4 lesion, on the T1w grid",
                "intensity": "value = stored * rescale_slope + rescale_intercept, identical in DICOM and BIDS",
            ],
            subjects: subjects, series: series.sorted { ($0.subject, $0.seriesNumber, $0.folder) < ($1.subject, $1.seriesNumber, $1.folder) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        try AtomicFile.write(to: root.appendingPathComponent("truth/cohort.json")) { try encoder.encode(truth).write(to: $0) }
        return truth
    }

    // MARK: - Pieces

    private static func seriesTags(_ m: Modality, names: (description: String, protocolName: String), number: Int, uid: String,
                                   time: String, minutes: Int) -> [DICOMTag: String] {
        let timing = m.timing, sequence = m.sequence
        var tags: [DICOMTag: String] = [
            .sopClassUID: DICOMDump.mrImageStorage, .seriesInstanceUID: uid, .seriesNumber: String(number),
            .seriesDescription: names.description, .protocolName: names.protocolName,
            .repetitionTime: String(format: "%g", timing.tr), .echoTime: String(format: "%g", timing.te),
            .scanningSequence: sequence.scanning, .sequenceVariant: sequence.variant, .mrAcquisitionType: sequence.acquisition,
            .flipAngle: m == .t1w ? "8" : "150", .seriesTime: Self.time(time, plusMinutes: minutes),
        ]
        if let ti = timing.ti { tags[.inversionTime] = String(format: "%g", ti) }
        return tags
    }

    /// "HHMMSS" moved on by some minutes.
    private static func time(_ hhmmss: String, plusMinutes minutes: Int) -> String {
        let h = Int(hhmmss.prefix(2)) ?? 8, m = Int(hhmmss.dropFirst(2).prefix(2)) ?? 0, s = Int(hhmmss.suffix(2)) ?? 0
        let total = (h * 60 + m + minutes) % (24 * 60)
        return String(format: "%02d%02d%02d", total / 60, total % 60, s)
    }

    /// The volume rounded to int16 steps of a "nice" slope (1, 2 or 5 x 10^k) that keeps stored values
    /// below 30000, with an intercept of `-interceptSteps` slopes (so that readers ignoring it are caught).
    static func quantized(_ volume: Volume, interceptSteps: Int = 0) -> (Volume, Rescale) {
        let top = Double(volume.voxels.max() ?? 1)
        let raw = max(top / 30000, 1e-6)
        let decade = pow(10, (log10(raw)).rounded(.down))
        let slope = [1.0, 2, 5, 10].map { $0 * decade }.first { $0 >= raw }!
        let s = Float(slope)
        var out = volume
        for i in out.voxels.indices { out.voxels[i] = (volume.voxels[i] / s).rounded() * s }
        // A decimal with few digits: DICOM's DS text and NIfTI's float32 both hold it exactly enough.
        let intercept = Double(String(format: "%.6g", -Double(interceptSteps) * slope))!
        return (out, Rescale(slope: slope, intercept: intercept))
    }

    /// The atlas brain's centre (LPS) and WM points deep enough to hold a lesion.
    private static func brainCenterAndLesionSites(template: Volume, gm: Volume, wm: Volume) -> (Vector3, [Vector3]) {
        let g = template.geometry
        var sum = Vector3.zero, count = 0.0
        var sites: [Vector3] = []
        for z in stride(from: 0, to: g.size.z, by: 2) { for y in stride(from: 0, to: g.size.y, by: 2) { for x in stride(from: 0, to: g.size.x, by: 2) {
            let i = g.offset(x, y, z)
            guard template.voxels[i] > 0 else { continue }
            let p = g.point(ofIndex: Vector3(Double(x), Double(y), Double(z)))
            sum += p
            count += 1
            if wm.voxels[i] > 0.95, gm.voxels[i] < 0.02, x % 8 == 0, y % 8 == 0, z % 8 == 0 { sites.append(p) }
        } } }
        return (sum / max(count, 1), sites)
    }

    /// A 3-plane localizer: one axial, one sagittal, one coronal slice through the head, one series.
    private func writeLocalizer(anatomy: SubjectAnatomy, renderer: AcquisitionRenderer, study: [DICOMTag: String], uid: String,
                                time: String, dump: inout DICOMDump, subjectIndex: Int, rng: SeededGenerator) throws {
        let small = options.size == .small
        let n = small ? 64 : 256, spacing = small ? 4.0 : 1.0
        var tags = study
        tags[.sopClassUID] = DICOMDump.mrImageStorage
        tags[.seriesInstanceUID] = uid
        tags[.seriesNumber] = "1"
        tags[.seriesDescription] = anatomy.vendor.localizerName
        tags[.protocolName] = anatomy.vendor.localizerName
        tags[.imageType] = "ORIGINAL\\PRIMARY\\LOCALIZER"
        tags[.seriesTime] = time
        tags[.repetitionTime] = "8.6"
        tags[.echoTime] = "4"
        let folder = dump.folder(subject: subjectIndex, series: 7)
        for (k, plane) in [AcquisitionPlan.Plane.axial, .sagittal, .coronal].enumerated() {
            let d = plane.direction
            let half = Double(n - 1) * spacing / 2
            let grid = Geometry(size: SIMD3(n, n, 1), spacing: Vector3(spacing, spacing, 7),
                                origin: anatomy.center - d * Vector3(half, half, 0), direction: d)
            let fractions = try renderer.fractions(on: grid, scannerToSubject: .identity, anatomy: anatomy)
            let (slice, rescale) = Self.quantized(renderer.render(.t1w, from: fractions, anatomy: anatomy, noise: rng.stream(k)))
            _ = try dump.write(slice, tags: tags, rescale: rescale, folder: folder, firstInstance: k + 1,
                               truth: .init(subject: anatomy.label, seriesNumber: 1, seriesDescription: anatomy.vendor.localizerName,
                                            folder: folder, files: 1, kind: "localizer", transferSyntax: DICOMDump.transferSyntax(.none),
                                            expectedFate: "rejected", expectedModality: nil,
                                            reason: "3-plane localizer (ImageType LOCALIZER, three orientations)"))
        }
    }

    /// A secondary-capture "screen save": one derived 2D picture with burnt-in annotation bars.
    private func writeScreenshot(anatomy: SubjectAnatomy, renderer: AcquisitionRenderer, study: [DICOMTag: String], uid: String,
                                 dump: inout DICOMDump, subjectIndex: Int, rng: SeededGenerator) throws {
        let small = options.size == .small
        let n = small ? 64 : 256, spacing = small ? 4.0 : 1.0
        let d = AcquisitionPlan.Plane.axial.direction
        let half = Double(n - 1) * spacing / 2
        let grid = Geometry(size: SIMD3(n, n, 1), spacing: Vector3(spacing, spacing, 1), origin: anatomy.center - d * Vector3(half, half, 0),
                            direction: d)
        let fractions = try renderer.fractions(on: grid, scannerToSubject: .identity, anatomy: anatomy)
        var picture = renderer.render(.flair, from: fractions, anatomy: anatomy, noise: rng)
        let top = picture.voxels.max() ?? 1
        for y in 0..<(n / 16) { for x in 0..<(n / 2) { picture[x + n / 8, y + n / 32, 0] = top } }
        let (quantized, rescale) = Self.quantized(picture)
        var tags = study
        tags[.sopClassUID] = DICOMDump.secondaryCaptureStorage
        tags[.modality] = "OT"
        tags[.seriesInstanceUID] = uid
        tags[.seriesNumber] = "99"
        tags[.seriesDescription] = "Screen Save"
        tags[.imageType] = "DERIVED\\SECONDARY\\SCREEN SAVE"
        let folder = dump.folder(subject: subjectIndex, series: 9)
        _ = try dump.write(quantized, tags: tags, rescale: rescale, folder: folder,
                           truth: .init(subject: anatomy.label, seriesNumber: 99, seriesDescription: "Screen Save", folder: folder, files: 1,
                                        kind: "secondary-capture", transferSyntax: DICOMDump.transferSyntax(.none), expectedFate: "rejected",
                                        expectedModality: nil, reason: "secondary capture (a screenshot, SOP class 1.2.840.10008.5.1.4.1.1.7)"))
    }

    /// Writes the subject's coordinate maps and labels; returns its truth record.
    private func writeTruthMaps(anatomy: SubjectAnatomy, renderer: AcquisitionRenderer, t1: AcquisitionRenderer.Fractions, identity: PatientIdentity,
                                acquisitions: [CohortTruth.Acquisition], truthRoot: URL) throws -> CohortTruth.Subject {
        let folder = "sub-\(anatomy.label)"
        let dir = truthRoot.appendingPathComponent(folder)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let flip = Vector3(-1, -1, 1)
        // Subject -> atlas on the warp grid; atlas -> subject on a coarse atlas grid. Values in RAS mm.
        let forward = VectorField(geometry: anatomy.warp.geometry) { p in anatomy.atlasPoint(ofSubjectPoint: p) * flip }
        try NIfTIFile.write(forward, to: dir.appendingPathComponent("subject_to_atlas.nii.gz"), space: .scanner,
                            description: "atlas RAS mm of each voxel centre")
        let atlasGrid = renderer.tissues.geometry.downsampled(by: options.size == .small ? 6 : 4)
        let inverse = VectorField(geometry: atlasGrid) { a in anatomy.subjectPoint(ofAtlasPoint: a) * flip }
        try NIfTIFile.write(inverse, to: dir.appendingPathComponent("atlas_to_subject.nii.gz"), space: .mni,
                            description: "subject RAS mm of each voxel centre")
        let labels = renderer.labels(from: t1)
        try NIfTIFile.write(labels, to: dir.appendingPathComponent("labels.nii.gz"), storage: .int16(slope: 1, intercept: 0),
                            description: "0 bg 1 CSF 2 GM 3 WM 4 lesion")
        let warpMax = (0..<anatomy.warp.geometry.voxelCount).map { i -> Double in
            length(Vector3(Double(anatomy.warp.vectors[3 * i]), Double(anatomy.warp.vectors[3 * i + 1]), Double(anatomy.warp.vectors[3 * i + 2])))
        }.max() ?? 0
        let phi = Dictionary(uniqueKeysWithValues: zip(
            ["PatientName", "PatientID", "PatientBirthDate", "InstitutionName", "AccessionNumber", "ReferringPhysicianName", "StudyDate", "StudyTime"],
            identity.plantedStrings))
        return CohortTruth.Subject(
            label: anatomy.label, session: "01", vendor: anatomy.vendor.rawValue, phi: phi,
            subjectToAtlasAffine: anatomy.subjectToAtlas.rasRows, warpMaxMM: warpMax,
            lesion: anatomy.lesion.map { .init(center: [-$0.center.x, -$0.center.y, $0.center.z], radiusMM: $0.radius) },
            subjectToAtlasMap: "\(folder)/subject_to_atlas.nii.gz", atlasToSubjectMap: "\(folder)/atlas_to_subject.nii.gz",
            labels: "\(folder)/labels.nii.gz", acquisitions: acquisitions)
    }
}
