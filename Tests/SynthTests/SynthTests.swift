import Foundation
import Imaging
import TacoCore
import Testing
@testable import Synth

/// One small cohort shared by the tests (made once per test process).
enum SmallCohort {
    static let options = SynthOptions(subjects: 4, seed: 11, atlas: atlasFolder.path, size: .small)
    static let atlasFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("atlases/mni152-2009a-sym")
    static let root = FileManager.default.temporaryDirectory.appendingPathComponent("taco-synth-\(UUID().uuidString)")
    static let truth: CohortTruth = {
        atexit { try? FileManager.default.removeItem(at: SmallCohort.root) }
        return try! CohortSynthesizer(options: options, version: "test").run(into: root)
    }()

    /// Every DICOM file of the dump with its series tags.
    static let headers: [DICOMHeader] = {
        _ = truth
        let files = try! FileTree.regularFiles(under: root.appendingPathComponent("dicom"))
        return try! DICOMHeaderScan.scan(files, tags: [.seriesInstanceUID, .seriesNumber, .patientName, .sopInstanceUID,
                                                       .sopClassUID, .imageType, .imageOrientationPatient, .transferSyntaxUID,
                                                       .instanceNumber, .patientID, .institutionName, .accessionNumber])
    }()

    /// The files of `series` (subject label, series number), from the headers, in the series' folder.
    static func files(_ series: CohortTruth.Series) -> [URL] {
        let name = truth.subjects.first { $0.label == series.subject }!.phi["PatientName"]!
        let folder = root.appendingPathComponent("dicom").appendingPathComponent(series.folder).standardizedFileURL.path
        return headers.filter {
            $0[.patientName] == name && $0[.seriesNumber] == String(series.seriesNumber)
                && $0.url.deletingLastPathComponent().standardizedFileURL.path == folder
        }.map(\.url)
    }

    /// The LPS geometry of a truth grid (RAS affine).
    static func geometry(_ grid: CohortTruth.Grid) -> Geometry {
        Geometry(size: SIMD3(grid.size[0], grid.size[1], grid.size[2]),
                 indexToRAS: AffineTransform3D(rowMajor4x4: grid.affine.flatMap { $0 }))
    }
}

@Suite(.serialized) struct SynthTests {
    @Test func dicomSeriesReadBackWithTheIntendedGeometry() throws {
        let truth = SmallCohort.truth
        var checked = Set<String>()
        for subject in truth.subjects {
            for acquisition in subject.acquisitions {
                let series = try #require(truth.series.first {
                    $0.subject == subject.label && $0.seriesNumber == acquisition.dicomSeriesNumber && $0.kind == acquisition.modality
                })
                let volume = try DICOMSeries.read(SmallCohort.files(series))
                let expected = SmallCohort.geometry(acquisition.grid)
                #expect(volume.geometry.isClose(to: expected, tolerance: 1e-3), "\(subject.label) \(acquisition.modality): \(volume.geometry) vs \(expected)")
                if acquisition.tiltDegrees > 1 { checked.insert("oblique") }
                if expected.spacing.z >= 4 { checked.insert("thick") }
                checked.insert(acquisition.plane)
            }
        }
        #expect(checked.isSuperset(of: ["oblique", "thick", "sagittal", "axial", "coronal"]))
    }

    @Test func lesionIsBrightAtItsTrueCentreOnFLAIRAndT2w() throws {
        // The lesion centre is known in the subject frame; each acquisition sees it through its own offset.
        let truth = SmallCohort.truth
        let subject = try #require(truth.subjects.first { $0.lesion != nil }, "seed 11 plants at least one lesion")
        let lesion = subject.lesion!
        let centreLPS = Vector3(-lesion.center[0], -lesion.center[1], lesion.center[2])
        for modality in ["FLAIR", "T2w"] {
            let acquisition = subject.acquisitions.first { $0.modality == modality }!
            let (volume, _) = try NIfTIFile.read(SmallCohort.root.appendingPathComponent("bids").appendingPathComponent(acquisition.bidsFile!))
            let scannerToSubject = AffineTransform3D(rowMajor4x4: acquisition.scannerToSubject.flatMap { $0 }).flippedLPSRAS
            let scannerPoint = scannerToSubject.inverse!.apply(to: centreLPS)
            let index = volume.geometry.continuousIndex(ofPoint: scannerPoint)
            let i = SIMD3<Int>(Int(index.x.rounded()), Int(index.y.rounded()), Int(index.z.rounded()))
            let labels = try NIfTIFile.read(SmallCohort.root.appendingPathComponent("truth").appendingPathComponent(subject.labels)).0
            // Mean intensity of white matter in the same image, through the labels on the T1w grid mapped by the offset.
            var wm: [Double] = []
            let lg = labels.geometry
            for z in 0..<lg.size.z { for y in 0..<lg.size.y { for x in 0..<lg.size.x where labels[x, y, z] == 3 {
                let p = scannerToSubject.inverse!.apply(to: lg.point(ofIndex: Vector3(Double(x), Double(y), Double(z))))
                let j = volume.geometry.continuousIndex(ofPoint: p)
                let k = SIMD3<Int>(Int(j.x.rounded()), Int(j.y.rounded()), Int(j.z.rounded()))
                if (0..<3).allSatisfy({ k[$0] >= 0 && k[$0] < volume.geometry.size[$0] }) { wm.append(Double(volume[k.x, k.y, k.z])) }
            } } }
            let wmMean = wm.reduce(0, +) / Double(wm.count)
            #expect(Double(volume[i.x, i.y, i.z]) > 1.4 * wmMean, "\(modality): lesion \(volume[i.x, i.y, i.z]) vs WM \(wmMean)")
        }
    }

    @Test func truthWarpThereAndBackReturnsWithinHalfAMillimetre() throws {
        let truth = SmallCohort.truth
        let flip = Vector3(-1, -1, 1)
        for subject in truth.subjects {
            let forward = try NIfTIFile.readVectorField(SmallCohort.root.appendingPathComponent("truth").appendingPathComponent(subject.subjectToAtlasMap))
            let inverse = try NIfTIFile.readVectorField(SmallCohort.root.appendingPathComponent("truth").appendingPathComponent(subject.atlasToSubjectMap))
            let labels = try NIfTIFile.read(SmallCohort.root.appendingPathComponent("truth").appendingPathComponent(subject.labels)).0
            var errors: [Double] = []
            let g = labels.geometry
            for z in stride(from: 0, to: g.size.z, by: 3) { for y in stride(from: 0, to: g.size.y, by: 3) { for x in stride(from: 0, to: g.size.x, by: 3) where labels[x, y, z] > 0 {
                let p = g.point(ofIndex: Vector3(Double(x), Double(y), Double(z)))          // subject, LPS
                let a = forward.value(at: p) * flip                                          // atlas, LPS
                let back = inverse.value(at: a) * flip                                       // subject, LPS
                errors.append(length(back - p))
            } } }
            #expect(!errors.isEmpty)
            let mean = errors.reduce(0, +) / Double(errors.count)
            #expect(mean < 0.5 && errors.max()! < 1.5, "subject \(subject.label): mean \(mean), max \(errors.max()!)")
            #expect(subject.warpMaxMM > 1 && subject.warpMaxMM < 8)
        }
    }

    @Test func truthMapAgreesWithTheAtlasTissue() throws {
        // A subject voxel labelled WM maps to atlas WM (and GM to GM) for the large majority of voxels.
        let atlas = try Atlas(folder: SmallCohort.atlasFolder)
        let gm = try atlas.tissueMap("GM"), wm = try atlas.tissueMap("WM")
        let subject = SmallCohort.truth.subjects[0]
        let forward = try NIfTIFile.readVectorField(SmallCohort.root.appendingPathComponent("truth").appendingPathComponent(subject.subjectToAtlasMap))
        let labels = try NIfTIFile.read(SmallCohort.root.appendingPathComponent("truth").appendingPathComponent(subject.labels)).0
        var agree = 0, total = 0
        let g = labels.geometry
        for z in 0..<g.size.z { for y in 0..<g.size.y { for x in 0..<g.size.x where labels[x, y, z] == 2 || labels[x, y, z] == 3 {
            let a = forward.value(at: g.point(ofIndex: Vector3(Double(x), Double(y), Double(z)))) * Vector3(-1, -1, 1)
            let j = gm.geometry.continuousIndex(ofPoint: a)
            let k = SIMD3<Int>(Int(j.x.rounded()), Int(j.y.rounded()), Int(j.z.rounded()))
            guard (0..<3).allSatisfy({ k[$0] >= 0 && k[$0] < gm.geometry.size[$0] }) else { continue }
            let atlasLabel: Float = wm[k.x, k.y, k.z] > gm[k.x, k.y, k.z] ? 3 : 2
            total += 1
            if atlasLabel == labels[x, y, z] { agree += 1 }
        } } }
        #expect(total > 1000 && Double(agree) / Double(total) > 0.8, "\(agree) of \(total)")
    }

    @Test func atlasSeenThroughTheTruthMapMatchesTheSubjectsT1w() throws {
        // Independent of how the cohort was made: the atlas template sampled at φ(p) must look like the
        // subject's own T1w at p (bias and noise aside), and much more so than without the map.
        let atlas = try Atlas(folder: SmallCohort.atlasFolder).template("T1w")
        for subject in SmallCohort.truth.subjects {
            let forward = try NIfTIFile.readVectorField(SmallCohort.root.appendingPathComponent("truth").appendingPathComponent(subject.subjectToAtlasMap))
            let t1 = subject.acquisitions.first { $0.modality == "T1w" }!
            let (image, _) = try NIfTIFile.read(SmallCohort.root.appendingPathComponent("bids").appendingPathComponent(t1.bidsFile!))
            var mapped: [Double] = [], unmapped: [Double] = [], own: [Double] = []
            let g = image.geometry
            func atlasValue(_ lps: Vector3) -> Double {
                let j = atlas.geometry.continuousIndex(ofPoint: lps)
                let k = SIMD3<Int>(Int(j.x.rounded()), Int(j.y.rounded()), Int(j.z.rounded()))
                guard (0..<3).allSatisfy({ k[$0] >= 0 && k[$0] < atlas.geometry.size[$0] }) else { return 0 }
                return Double(atlas[k.x, k.y, k.z])
            }
            for z in stride(from: 0, to: g.size.z, by: 2) { for y in stride(from: 0, to: g.size.y, by: 2) { for x in stride(from: 0, to: g.size.x, by: 2) {
                let p = g.point(ofIndex: Vector3(Double(x), Double(y), Double(z)))
                let a = forward.value(at: p) * Vector3(-1, -1, 1)
                let viaMap = atlasValue(a), direct = atlasValue(p)
                guard viaMap > 0 || direct > 0 else { continue }   // inside the brain one way or the other
                mapped.append(viaMap)
                unmapped.append(direct)
                own.append(Double(image[x, y, z]))
            } } }
            let withMap = correlation(mapped, own), withoutMap = correlation(unmapped, own)
            #expect(withMap > 0.9 && withMap - withoutMap > 0.3, "subject \(subject.label): \(withMap) with the map, \(withoutMap) without")
        }
    }

    @Test func bidsAndDICOMDescribeTheSameVoxelsAtTheSamePoints() throws {
        let truth = SmallCohort.truth
        var compressedSeen = false
        for subject in truth.subjects {
            for acquisition in subject.acquisitions {
                let series = truth.series.first {
                    $0.subject == subject.label && $0.seriesNumber == acquisition.dicomSeriesNumber && $0.kind == acquisition.modality
                }!
                compressedSeen = compressedSeen || series.transferSyntax == "1.2.840.10008.1.2.4.90"
                let dicom = try DICOMSeries.read(SmallCohort.files(series))
                let (bids, header) = try NIfTIFile.read(SmallCohort.root.appendingPathComponent("bids").appendingPathComponent(acquisition.bidsFile!))
                #expect(header.voxelType == .int16)
                #expect(Double(header.scaleIntercept ?? 0) == acquisition.rescaleIntercept)
                if ["T2w", "FLAIR"].contains(acquisition.modality) { #expect(acquisition.rescaleIntercept < 0) }
                #expect(dicom.geometry.isClose(to: bids.geometry, tolerance: 1e-3))
                let worst = zip(dicom.voxels, bids.voxels).map { abs($0 - $1) / max(abs($1), 1) }.max()!
                #expect(worst < 1e-5, "\(subject.label) \(acquisition.modality): relative difference \(worst)")
            }
        }
        #expect(compressedSeen)
    }

    @Test func dumpHoldsThePlantedPatientDataAndTheJunkTheTruthDescribes() throws {
        let truth = SmallCohort.truth
        let headers = SmallCohort.headers
        #expect(headers.allSatisfy { $0.failure == nil })
        // Planted PHI is in the headers.
        for subject in truth.subjects {
            let mine = headers.filter { $0[.patientName] == subject.phi["PatientName"] }
            #expect(!mine.isEmpty && mine.allSatisfy { $0[.patientID] == subject.phi["PatientID"] && $0[.institutionName] == subject.phi["InstitutionName"] })
        }
        // Several subjects share folders; files have no extension.
        let folders = Dictionary(grouping: headers) { $0.url.deletingLastPathComponent().path }
        #expect(folders.values.contains { Set($0.compactMap { $0[.patientName] }).count > 1 })
        #expect(headers.allSatisfy { $0.url.pathExtension.isEmpty })
        for series in truth.series {
            let files = SmallCohort.files(series)
            #expect(files.count == series.files, "\(series.kind) of \(series.subject): \(files.count) files, truth says \(series.files)")
            let fileHeaders = headers.filter { files.contains($0.url) }
            switch series.kind {
            case "localizer":
                #expect(fileHeaders.allSatisfy { $0[.imageType]?.contains("LOCALIZER") == true })
                #expect(Set(fileHeaders.compactMap { $0[.imageOrientationPatient] }).count == 3)
            case "secondary-capture":
                #expect(fileHeaders.allSatisfy { $0[.sopClassUID] == "1.2.840.10008.5.1.4.1.1.7" })
            case "missing-slice":
                let instances = Set(fileHeaders.compactMap { Int($0[.instanceNumber] ?? "") })
                let full = Set(1...(instances.max()!))
                #expect(full.subtracting(instances).count == 1)
            case "duplicate":
                let original = truth.series.first { $0.subject == series.subject && $0.seriesNumber == series.seriesNumber && $0.kind == "T1w" }!
                let originalUIDs = Set(headers.filter { SmallCohort.files(original).contains($0.url) }.compactMap { $0[.sopInstanceUID] })
                #expect(Set(fileHeaders.compactMap { $0[.sopInstanceUID] }) == originalUIDs)
            default:
                #expect(series.expectedFate == "used" && series.expectedModality == series.kind)
                #expect(fileHeaders.allSatisfy { $0[.transferSyntaxUID] == series.transferSyntax })
            }
        }
        #expect(Set(truth.series.map(\.kind)).isSuperset(of: ["localizer", "secondary-capture", "missing-slice", "duplicate"]))
    }

    @Test func sameSeedGivesIdenticalFilesAndAnotherSeedDifferentSubjects() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("taco-synth-det-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        let options = SynthOptions(subjects: 2, seed: 3, atlas: SmallCohort.atlasFolder.path, size: .small)
        let a = base.appendingPathComponent("a"), b = base.appendingPathComponent("b"), c = base.appendingPathComponent("c")
        try CohortSynthesizer(options: options, version: "test").run(into: a)
        try CohortSynthesizer(options: options, version: "test").run(into: b)
        var other = options
        other.seed = 4
        try CohortSynthesizer(options: other, version: "test").run(into: c)
        let filesA = try FileTree.regularFiles(under: a).map { String($0.path.dropFirst(a.path.count)) }
        let filesB = try FileTree.regularFiles(under: b).map { String($0.path.dropFirst(b.path.count)) }
        #expect(filesA == filesB && filesA.count > 50)
        for name in filesA {
            #expect(try Data(contentsOf: URL(fileURLWithPath: a.path + name)) == Data(contentsOf: URL(fileURLWithPath: b.path + name)), "\(name)")
        }
        let t1 = "/bids/sub-01/ses-01/anat/sub-01_ses-01_T1w.nii.gz"
        #expect(try Data(contentsOf: URL(fileURLWithPath: a.path + t1)) != Data(contentsOf: URL(fileURLWithPath: c.path + t1)))
        let truthA = try Data(contentsOf: a.appendingPathComponent("truth/cohort.json"))
        let truthC = try Data(contentsOf: c.appendingPathComponent("truth/cohort.json"))
        #expect(truthA != truthC)
    }

    @Test func existingOutputIsRefusedAndAFailedRunLeavesNothing() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("taco-synth-out-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: base) }
        let options = SynthOptions(subjects: 1, seed: 1, atlas: SmallCohort.atlasFolder.path, size: .small)
        #expect { try CohortSynthesizer(options: options, version: "test").run(into: base) } throws: { "\($0)".contains("already exists") }
        var missingAtlas = options
        missingAtlas.atlas = "/no/such/atlas"
        let target = base.appendingPathComponent("cohort")
        #expect { try CohortSynthesizer(options: missingAtlas, version: "test").run(into: target) } throws: { "\($0)".contains("/no/such/atlas") }
        #expect(try FileManager.default.contentsOfDirectory(atPath: base.path).isEmpty)
    }

    @Test func uidsAreValidAndDeterministic() {
        var a = UIDSource(rng: SeededGenerator(seed: 9)), b = UIDSource(rng: SeededGenerator(seed: 9))
        for _ in 0..<100 {
            let uid = a.next()
            #expect(uid == b.next())
            #expect(uid.hasPrefix("2.25.") && uid.count <= 40 && !uid.dropFirst(5).hasPrefix("0") && uid.dropFirst(5).allSatisfy(\.isNumber))
        }
    }
}

/// Pearson correlation.
func correlation(_ a: [Double], _ b: [Double]) -> Double {
    let n = Double(a.count)
    let ma = a.reduce(0, +) / n, mb = b.reduce(0, +) / n
    var sab = 0.0, saa = 0.0, sbb = 0.0
    for (x, y) in zip(a, b) { sab += (x - ma) * (y - mb); saa += (x - ma) * (x - ma); sbb += (y - mb) * (y - mb) }
    return sab / (saa * sbb).squareRoot()
}
