import Foundation
import Imaging
import TacoCore

/// The ground truth of a synthetic cohort, written as `truth/cohort.json` (format in docs/synth.md).
/// Points and matrices are RAS mm, as nibabel reports them.
public struct CohortTruth: Codable, Sendable {
    public struct Generator: Codable, Sendable {
        public let name: String
        public let version: String
        public let seed: UInt64
        public let subjects: Int
        public let size: String
        public let formats: [String]
        public let atlas: String
    }

    public struct Grid: Codable, Sendable {
        public let size: [Int]
        /// Voxel index (i, j, k) -> RAS mm, 4x4 row-major rows.
        public let affine: [[Double]]
    }

    public struct Acquisition: Codable, Sendable {
        public let modality: String
        public let plane: String
        public let tiltDegrees: Double
        /// Maps a point of this acquisition's scanner frame to the subject (T1w) frame, RAS mm.
        public let scannerToSubject: [[Double]]
        public let grid: Grid
        /// intensity = stored * slope + intercept, in both the DICOM and the BIDS copy.
        public let rescaleSlope: Double
        public let rescaleIntercept: Double
        public let bidsFile: String?
        public let dicomSeriesNumber: Int?
    }

    public struct Lesion: Codable, Sendable {
        /// Centre in the subject (T1w scanner) frame, RAS mm.
        public let center: [Double]
        public let radiusMM: Double
    }

    public struct Subject: Codable, Sendable {
        public let label: String
        public let session: String
        public let vendor: String
        /// The planted protected health information (DICOM tag keyword -> value).
        public let phi: [String: String]
        /// The affine part A of the subject -> atlas map a = A(p + w(p)), RAS mm.
        public let subjectToAtlasAffine: [[Double]]
        /// Largest warp displacement |w| on the warp grid, mm.
        public let warpMaxMM: Double
        public let lesion: Lesion?
        /// Coordinate maps and labels, relative to truth/.
        public let subjectToAtlasMap: String
        public let atlasToSubjectMap: String
        public let labels: String
        public let acquisitions: [Acquisition]
    }

    /// One DICOM series of the dump and what a correct `taco prep` must do with it.
    public struct Series: Codable, Sendable {
        public let subject: String
        public let seriesNumber: Int
        public let seriesDescription: String
        /// Folder of its files, relative to the dump root.
        public let folder: String
        public let files: Int
        /// T1w, T2w, FLAIR, PDw, localizer, secondary-capture, missing-slice, duplicate.
        public let kind: String
        public let transferSyntax: String
        /// "used" or "rejected".
        public let expectedFate: String
        /// The modality it must be used as, when used.
        public let expectedModality: String?
        public let reason: String
    }

    public let generator: Generator
    public let conventions: [String: String]
    public var subjects: [Subject]
    public var series: [Series]

    /// Each subject's patient id and lesion (centre in the subject frame, RAS mm; radius mm), read from
    /// `truth/cohort.json` (`url` the file or the truth folder) without the rest of the truth.
    public static func lesions(in url: URL) throws -> [(patientID: String, center: [Double]?, radiusMM: Double?)] {
        struct Truth: Decodable {
            struct Subject: Decodable {
                struct Lesion: Decodable {
                    let center: [Double]
                    let radiusMM: Double
                    enum CodingKeys: String, CodingKey { case center, radiusMM = "radius_mm" }
                }
                let phi: [String: String]
                let lesion: Lesion?
            }
            let subjects: [Subject]
        }
        var isFolder: ObjCBool = false
        let file = FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder) && isFolder.boolValue ? url.appendingPathComponent("cohort.json") : url
        let truth: Truth
        do { truth = try JSONDecoder().decode(Truth.self, from: Data(contentsOf: file)) } catch {
            throw CohortSynthesizer.Failure(reason: "\(file.path): not the ground truth of taco synth (\(error))")
        }
        return truth.subjects.compactMap { s in s.phi["PatientID"].map { ($0, s.lesion?.center, s.lesion?.radiusMM) } }
    }
}

extension AffineTransform3D {
    /// Row-major 4x4 rows of this LPS transform expressed in RAS.
    var rasRows: [[Double]] {
        let m = flippedLPSRAS.rowMajor4x4
        return (0..<4).map { r in (0..<4).map { c in m[4 * r + c] } }
    }
}

extension Geometry {
    var truthGrid: CohortTruth.Grid {
        let m = indexToRAS.rowMajor4x4
        return CohortTruth.Grid(size: [size.x, size.y, size.z], affine: (0..<4).map { r in (0..<4).map { c in m[4 * r + c] } })
    }
}
