import Foundation
import Imaging
import TacoCore

/// Fake but realistic protected health information planted in a subject's DICOM headers, so that
/// de-identification can be tested. It is recorded in the ground truth and nowhere else.
struct PatientIdentity: Codable, Sendable {
    let patientName: String
    let patientID: String
    let patientBirthDate: String
    let patientSex: String
    let institutionName: String
    let accessionNumber: String
    let referringPhysicianName: String
    let studyDate: String
    let studyTime: String

    init(rng: inout SeededGenerator) {
        let family = ["MARTIN", "NGUYEN", "OKAFOR", "LINDQVIST", "FERREIRA", "KOWALSKI", "TANAKA", "DUBOIS", "HUSSAIN", "MORENO"]
        let given = ["ALICE", "OMAR", "MEI", "JONAS", "PRIYA", "LUCA", "AMARA", "TOMAS", "INES", "KENJI"]
        patientName = "\(rng.pick(family))^\(rng.pick(given))"
        patientID = String(format: "MRN%07d", rng.integer(0...9_999_999))
        patientBirthDate = String(format: "%04d%02d%02d", rng.integer(1940...1999), rng.integer(1...12), rng.integer(1...28))
        patientSex = rng.pick(["F", "M"])
        institutionName = rng.pick(["St Elsewhere General Hospital", "Riverside University Clinic", "Northgate Medical Centre"])
        accessionNumber = String(format: "A%09d", rng.integer(0...999_999_999))
        referringPhysicianName = "\(rng.pick(family))^\(rng.pick(given))^^DR"
        studyDate = String(format: "%04d%02d%02d", rng.integer(2018...2025), rng.integer(1...12), rng.integer(1...28))
        studyTime = String(format: "%02d%02d%02d", rng.integer(7...19), rng.integer(0...59), rng.integer(0...59))
    }

    /// The header tags carrying this identity.
    var tags: [DICOMTagValue] {
        let pairs: [(DICOMTag, String)] = [
            (.patientName, patientName), (.patientID, patientID), (.patientBirthDate, patientBirthDate),
            (.patientSex, patientSex), (.institutionName, institutionName), (.accessionNumber, accessionNumber),
            (.referringPhysicianName, referringPhysicianName), (.studyDate, studyDate), (.studyTime, studyTime),
            (.seriesDate, studyDate), (.acquisitionDate, studyDate),
        ]
        return pairs.map { DICOMTagValue(tag: $0.0, value: $0.1) }
    }

    /// Every planted string (what must never reach a prepared output).
    var plantedStrings: [String] {
        [patientName, patientID, patientBirthDate, institutionName, accessionNumber, referringPhysicianName, studyDate, studyTime]
    }
}

/// A tag and its value.
struct DICOMTagValue: Sendable {
    let tag: DICOMTag
    let value: String
}
