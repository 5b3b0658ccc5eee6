import TacoCore
/// An image given to a registration, with an optional mask (non-zero voxels count) on the same grid.
public struct RegistrationImage: Sendable {
    public var volume: Volume
    public var mask: Volume?

    public init(_ volume: Volume, mask: Volume? = nil) {
        precondition(mask == nil || mask!.geometry.size == volume.geometry.size, "mask must share the image's grid")
        self.volume = volume
        self.mask = mask
    }
}
