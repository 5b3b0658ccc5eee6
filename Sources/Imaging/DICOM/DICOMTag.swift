/// A DICOM attribute tag (group, element).
///
/// ```swift
/// DICOMTag.seriesDescription.text        // "0008,103e"
/// ```
public struct DICOMTag: Hashable, Sendable, CustomStringConvertible, Comparable {
    public let group: UInt16
    public let element: UInt16

    public init(_ group: UInt16, _ element: UInt16) {
        self.group = group
        self.element = element
    }

    /// "gggg,eeee" in lower-case hexadecimal, as the bridge takes it.
    public var text: String { String(format: "%04x,%04x", group, element) }
    /// "gggg|eeee", the form ITK's metadata dictionaries use.
    public var itkKey: String { String(format: "%04x|%04x", group, element) }
    public var description: String { "(\(text))" }

    public static func < (a: DICOMTag, b: DICOMTag) -> Bool { (a.group, a.element) < (b.group, b.element) }

    // File meta and SOP
    public static let transferSyntaxUID = DICOMTag(0x0002, 0x0010)
    public static let sopClassUID = DICOMTag(0x0008, 0x0016)
    public static let sopInstanceUID = DICOMTag(0x0008, 0x0018)
    public static let imageType = DICOMTag(0x0008, 0x0008)
    public static let modality = DICOMTag(0x0008, 0x0060)
    public static let manufacturer = DICOMTag(0x0008, 0x0070)
    public static let manufacturerModelName = DICOMTag(0x0008, 0x1090)
    public static let seriesDescription = DICOMTag(0x0008, 0x103e)
    // Protected health information (read only to de-identify; never printed or written).
    public static let studyDate = DICOMTag(0x0008, 0x0020)
    public static let seriesDate = DICOMTag(0x0008, 0x0021)
    public static let acquisitionDate = DICOMTag(0x0008, 0x0022)
    public static let studyTime = DICOMTag(0x0008, 0x0030)
    public static let seriesTime = DICOMTag(0x0008, 0x0031)
    public static let accessionNumber = DICOMTag(0x0008, 0x0050)
    public static let institutionName = DICOMTag(0x0008, 0x0080)
    public static let referringPhysicianName = DICOMTag(0x0008, 0x0090)
    public static let patientName = DICOMTag(0x0010, 0x0010)
    public static let patientID = DICOMTag(0x0010, 0x0020)
    public static let patientBirthDate = DICOMTag(0x0010, 0x0030)
    public static let patientSex = DICOMTag(0x0010, 0x0040)
    // Acquisition
    public static let scanningSequence = DICOMTag(0x0018, 0x0020)
    public static let sequenceVariant = DICOMTag(0x0018, 0x0021)
    public static let mrAcquisitionType = DICOMTag(0x0018, 0x0023)
    public static let sequenceName = DICOMTag(0x0018, 0x0024)
    public static let contrastBolusAgent = DICOMTag(0x0018, 0x0010)
    public static let sliceThickness = DICOMTag(0x0018, 0x0050)
    public static let repetitionTime = DICOMTag(0x0018, 0x0080)
    public static let echoTime = DICOMTag(0x0018, 0x0081)
    public static let inversionTime = DICOMTag(0x0018, 0x0082)
    public static let echoNumbers = DICOMTag(0x0018, 0x0086)
    public static let magneticFieldStrength = DICOMTag(0x0018, 0x0087)
    public static let spacingBetweenSlices = DICOMTag(0x0018, 0x0088)
    public static let protocolName = DICOMTag(0x0018, 0x1030)
    public static let flipAngle = DICOMTag(0x0018, 0x1314)
    // Relationship and geometry
    public static let studyInstanceUID = DICOMTag(0x0020, 0x000d)
    public static let seriesInstanceUID = DICOMTag(0x0020, 0x000e)
    public static let seriesNumber = DICOMTag(0x0020, 0x0011)
    public static let instanceNumber = DICOMTag(0x0020, 0x0013)
    public static let imagePositionPatient = DICOMTag(0x0020, 0x0032)
    public static let imageOrientationPatient = DICOMTag(0x0020, 0x0037)
    public static let frameOfReferenceUID = DICOMTag(0x0020, 0x0052)
    // Pixels
    public static let samplesPerPixel = DICOMTag(0x0028, 0x0002)
    public static let numberOfFrames = DICOMTag(0x0028, 0x0008)
    public static let rows = DICOMTag(0x0028, 0x0010)
    public static let columns = DICOMTag(0x0028, 0x0011)
    public static let pixelSpacing = DICOMTag(0x0028, 0x0030)
    public static let bitsAllocated = DICOMTag(0x0028, 0x0100)
    public static let rescaleIntercept = DICOMTag(0x0028, 0x1052)
    public static let rescaleSlope = DICOMTag(0x0028, 0x1053)

    /// Technical tags that carry no patient information and may be shown or kept in sidecars.
    public static let technical: [DICOMTag] = [
        .transferSyntaxUID, .sopClassUID, .imageType, .modality, .manufacturer, .manufacturerModelName,
        .seriesDescription, .scanningSequence, .sequenceVariant, .mrAcquisitionType, .sequenceName,
        .contrastBolusAgent, .sliceThickness, .repetitionTime, .echoTime, .inversionTime, .echoNumbers,
        .magneticFieldStrength, .spacingBetweenSlices, .protocolName, .flipAngle, .seriesNumber, .instanceNumber,
        .imagePositionPatient, .imageOrientationPatient, .samplesPerPixel, .numberOfFrames, .rows, .columns,
        .pixelSpacing, .bitsAllocated, .rescaleIntercept, .rescaleSlope,
    ]
}
