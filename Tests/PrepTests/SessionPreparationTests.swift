import Foundation
import Testing
@testable import Imaging
import TacoCore
@testable import Prep
@testable import Synth

@Suite(.serialized) struct SessionPreparationTests {
    /// The used series of subject `label` in the shared dump, read into volumes by modality.
    static func inputs(of label: String) throws -> [SessionPreparation.Input] {
        let id = Dump.truth.subjects.first { $0.label == label }!.phi["PatientID"]!
        let mine = Dump.found.series.filter { $0[.patientID] == id }
        let decisions = SeriesTriage(rules: TriageTests.rules).decideAll(mine)
        return try zip(mine, decisions).filter { $0.1.fate == .used }.map { series, decision in
            SessionPreparation.Input(modality: decision.modality!, volume: try DICOMSeries.readOrdered(series.files))
        }
    }

    static func rasRowsToLPS(_ rows: [[Double]]) -> AffineTransform3D {
        AffineTransform3D(rowMajor4x4: rows.flatMap { $0 }).flippedLPSRAS
    }

    @Test func modalitiesAreAlignedToTheKnownOffsetsWithinAMillimetre() throws {
        var preparation = SessionPreparation()
        preparation.targetSpacing = 3
        for subject in Dump.truth.subjects.prefix(2) {
            let inputs = try Self.inputs(of: subject.label)
            #expect(Set(inputs.map(\.modality)) == ["T1w", "T2w", "FLAIR", "PDw"])
            let result = try preparation.prepare(inputs)
            #expect(result.reference == "T1w")
            #expect(result.grid.direction == Matrix3(diagonal: [-1, -1, 1]) && result.grid.spacing == Vector3(3, 3, 3))
            #expect(result.volumes.values.allSatisfy { $0.geometry == result.grid })
            let g = result.grid
            var points: [Vector3] = []
            for z in stride(from: 0, to: g.size.z, by: 2) { for y in stride(from: 0, to: g.size.y, by: 2) { for x in stride(from: 0, to: g.size.x, by: 2)
            where result.mask[x, y, z] > 0 { points.append(g.point(ofIndex: Vector3(Double(x), Double(y), Double(z)))) } } }
            for (modality, registration) in result.registrations {
                // Truth: a scanner point q of this acquisition shows subject point R(q); registration gives
                // T: subject (= T1w scanner) point -> this acquisition's scanner point, so R(T(p)) should be p.
                let truth = Self.rasRowsToLPS(subject.acquisitions.first { $0.modality == modality }!.scannerToSubject)
                let errors = points.map { length(truth.apply(to: registration.transform.apply(to: $0)) - $0) }
                let mean = errors.reduce(0, +) / Double(errors.count)
                #expect(mean <= 1, "subject \(subject.label) \(modality): \(mean) mm mean residual")
            }
            // z-scores inside the mask.
            for (_, volume) in result.volumes {
                let inside = volume.voxels.indices.filter { result.mask.voxels[$0] > 0 }.map { Double(volume.voxels[$0]) }
                let mean = inside.reduce(0, +) / Double(inside.count)
                let sd = (inside.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(inside.count)).squareRoot()
                #expect(abs(mean) < 1e-3 && abs(sd - 1) < 1e-3)
            }
        }
    }

    @Test func preparedVoxelsSitWhereTheTruthSaysTheAnatomyIs() throws {
        var preparation = SessionPreparation()
        preparation.targetSpacing = 3
        let subject = try #require(Dump.truth.subjects.first { $0.lesion != nil }, "seed 21 plants a lesion")
        let result = try preparation.prepare(try Self.inputs(of: subject.label))
        // The mask matches the brain of the truth labels (subject frame = T1w frame = the grid's space).
        let labels = try NIfTIFile.read(Dump.root.appendingPathComponent("truth").appendingPathComponent(subject.labels)).0
        let brain = Volume(geometry: labels.geometry, voxels: labels.voxels.map { $0 > 0 ? 1 : 0 })
        let onGrid = try Resampler.resample(brain, onto: result.grid, interpolation: .nearest)
        var both = 0.0, sum = 0.0
        for i in onGrid.voxels.indices {
            both += Double(onGrid.voxels[i] * result.mask.voxels[i])
            sum += Double(onGrid.voxels[i] + result.mask.voxels[i])
        }
        let dice = 2 * both / sum
        #expect(dice > 0.85, "mask Dice \(dice)")
        // The lesion, known in the subject frame, is bright on the prepared FLAIR and T2w at its voxel.
        let centre = Vector3(-subject.lesion!.center[0], -subject.lesion!.center[1], subject.lesion!.center[2])
        let index = result.grid.continuousIndex(ofPoint: centre)
        let i = SIMD3<Int>(Int(index.x.rounded()), Int(index.y.rounded()), Int(index.z.rounded()))
        for modality in ["FLAIR", "T2w"] {
            let z = result.volumes[modality]![i.x, i.y, i.z]
            #expect(z > 1.5, "\(modality) z-score \(z) at the lesion centre")
        }
    }

    @Test func aSessionWithoutForegroundFailsClearly() throws {
        let empty = Volume(geometry: Geometry(size: [10, 10, 10], spacing: [2, 2, 2]))
        #expect { try SessionPreparation().prepare([.init(modality: "T1w", volume: empty)]) } throws: { "\($0)".contains("empty mask") }
        #expect { try SessionPreparation().prepare([]) } throws: { "\($0)".contains("no volume") }
    }

    @Test func theRASGridCoversAnObliqueAcquisition() {
        // A 20° oblique grid: the RAS grid must contain every one of its voxel centres.
        let g = Geometry(size: [30, 20, 10], spacing: [1, 1, 3], origin: [5, -4, 2], direction: Matrix3.rotation(x: 0.35, y: 0, z: 0))
        let ras = SessionPreparation.rasGrid(covering: g, spacing: 1)
        #expect(ras.orientationCode == "RAS" && ras.isAxisAligned)
        for corner in [Vector3(0, 0, 0), Vector3(29, 19, 9), Vector3(29, 0, 9), Vector3(0, 19, 0)] {
            let index = ras.continuousIndex(ofPoint: g.point(ofIndex: corner))
            #expect((0..<3).allSatisfy { index[$0] >= -1e-9 && index[$0] <= Double(ras.size[$0] - 1) + 1e-9 })
        }
    }
}
