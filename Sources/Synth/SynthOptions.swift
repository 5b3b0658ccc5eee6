import Foundation

/// What `taco synth` makes: how many subjects, from which seed and atlas, at which size, in which formats.
public struct SynthOptions: Sendable, Equatable {
    /// Voxel sizes of the acquisitions.
    public enum Size: String, Sendable, CaseIterable {
        /// Clinical resolutions (1 mm sagittal T1w, 0.9x0.9x4 mm axial T2w, ...).
        case `default`
        /// 3-4 mm voxels: seconds per cohort, for tests.
        case small
    }

    public enum Format: String, Sendable, CaseIterable {
        case dicom, bids
    }

    public var subjects: Int
    public var seed: UInt64
    public var atlas: String
    public var size: Size
    public var formats: Set<Format>

    public init(subjects: Int = 6, seed: UInt64 = 1, atlas: String = "mni152-2009a-sym", size: Size = .default,
                formats: Set<Format> = [.dicom, .bids]) {
        self.subjects = subjects
        self.seed = seed
        self.atlas = atlas
        self.size = size
        self.formats = formats
    }
}
