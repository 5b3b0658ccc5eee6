internal import CNIfTI
import Foundation

/// NIfTI-1 files through libnifti, following the standard's geometry precedence.
///
/// NIfTI stores RAS; TacoKit works in LPS. Reading takes the sform when `sform_code > 0`, else the
/// qform when `qform_code > 0`, else spacing only (the standard's method 1), and says which one it
/// used. Writing sets sform = qform = the LPS affine with its first two rows negated, with code 1
/// (scanner) or 4 (MNI) for both.
///
/// ```swift
/// let (t1, header) = try NIfTIFile.read(URL(fileURLWithPath: "t1.nii.gz"))
/// print(header.geometrySource)       // .sform
/// try NIfTIFile.write(t1, to: URL(fileURLWithPath: "copy.nii.gz"), space: .scanner)
/// ```
public enum NIfTIFile {
    /// Which header field a geometry came from.
    public enum GeometrySource: String, Sendable {
        case sform, qform
        /// Neither form was set: spacing only, origin at 0, no orientation (NIfTI method 1).
        case spacingOnly = "spacing-only"
    }

    /// The space a written file's affine refers to (its sform/qform code).
    public enum Space: Int32, Sendable {
        /// Scanner coordinates (code 1).
        case scanner = 1
        /// MNI152 atlas space (code 4).
        case mni = 4
    }

    /// What the header said, beside the voxels.
    public struct Header: Sendable, Equatable {
        public let geometrySource: GeometrySource
        public let sformCode: Int
        public let qformCode: Int
        public let voxelType: VoxelType
        /// The scaling applied to the stored values (value = slope * stored + intercept), if any.
        public let scaleSlope: Float?
        public let scaleIntercept: Float?
        public let description: String
    }

    /// Reads a 3D scalar NIfTI-1 file (.nii or .nii.gz) as float32 with `scl_slope`/`scl_inter` applied.
    public static func read(_ url: URL) throws -> (Volume, Header) {
        let path = url.path
        let nim = try openHeader(path)
        defer { nifti_image_free(nim) }
        try loadVoxels(into: nim, path: path)
        let image = nim.pointee
        let volumes = (4...7).reduce(1) { product, axis in product * max(1, Int(dimension(image, axis))) }
        if image.ndim > 3 && volumes > 1 {
            throw NIfTIFileError(path: path, reason: "\(image.ndim)D image with \(volumes) volumes; a 3D image is needed")
        }
        let size = SIMD3(Int(max(1, image.nx)), Int(max(1, image.ny)), Int(max(1, image.nz)))
        let (source, ras) = rasAffine(of: image)
        let geometry = Geometry(size: size, indexToRAS: ras)
        let (voxelType, voxels) = try floatVoxels(of: image, count: geometry.voxelCount, path: path)

        let slope = image.scl_slope
        let applyScaling = slope != 0 && slope.isFinite && !(slope == 1 && image.scl_inter == 0)
        let scaled = applyScaling ? voxels.map { $0 * slope + image.scl_inter } : voxels
        let description = withUnsafeBytes(of: image.descrip) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        let header = Header(geometrySource: source, sformCode: Int(image.sform_code), qformCode: Int(image.qform_code),
                            voxelType: voxelType, scaleSlope: applyScaling ? slope : nil,
                            scaleIntercept: applyScaling ? image.scl_inter : nil, description: description)
        return (Volume(geometry: geometry, voxels: scaled), header)
    }

    /// How voxel values are stored in a written file.
    public enum Storage: Sendable, Equatable {
        /// float32, values as they are.
        case float32
        /// int16 with `value = slope * stored + intercept` (scl_slope/scl_inter), as dcm2niix writes
        /// scanner data; values are rounded to the nearest representable one.
        case int16(slope: Float, intercept: Float)
    }

    /// Whether the gzip file ends with a trailer recording `bytes` of content (ISIZE, RFC 1952): a file cut
    /// short by a full disk ends elsewhere in its stream.
    static func gzipHolds(_ url: URL, bytes: Int) -> Bool {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return false }
        defer { try? handle.close() }
        guard let size = try? handle.seekToEnd(), size >= 18, (try? handle.seek(toOffset: size - 4)) != nil,
              let tail = try? handle.read(upToCount: 4), tail.count == 4 else { return false }
        let recorded = tail.enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
        return recorded == UInt32(truncatingIfNeeded: bytes)
    }

    /// Why a write in `folder` failed, as far as the file system says: no space, no permission, or unknown.
    static func writeFailure(in folder: URL, needed: Int) -> String {
        var info = statvfs()
        if statvfs(folder.path, &info) == 0 {
            let free = Int(info.f_bavail) * Int(info.f_frsize)
            if free < max(64 << 10, needed) { return "no space left on the device (\(free >> 10) KiB free, about \(needed >> 10) KiB needed)" }
        }
        if access(folder.path, W_OK) != 0 { return "the folder cannot be written (\(String(cString: strerror(errno))))" }
        return "libnifti could not write it completely"
    }

    /// Writes `volume` as a NIfTI-1 file, atomically. `.nii.gz` compresses.
    public static func write(_ volume: Volume, to url: URL, space: Space = .scanner, storage: Storage = .float32,
                             description: String = "TacoKit") throws {
        let g = volume.geometry
        switch storage {
        case .float32:
            try write(dims: [3, g.size.x, g.size.y, g.size.z, 1, 1, 1, 1], datatype: DT_FLOAT32, geometry: g, to: url,
                      space: space, description: description) { data in
                volume.voxels.withUnsafeBytes { data.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            }
        case .int16(let slope, let intercept):
            precondition(slope != 0, "scl_slope 0 means unscaled in NIfTI")
            var stored = [Int16](repeating: 0, count: volume.voxels.count)
            for (i, v) in volume.voxels.enumerated() {
                let q = ((v - intercept) / slope).rounded()
                guard q >= -32768, q <= 32767 else {
                    throw NIfTIFileError(path: url.path, reason: "value \(v) does not fit int16 with slope \(slope), intercept \(intercept)")
                }
                stored[i] = Int16(q)
            }
            try write(dims: [3, g.size.x, g.size.y, g.size.z, 1, 1, 1, 1], datatype: DT_INT16, geometry: g, to: url,
                      space: space, description: description, slope: slope, intercept: intercept) { data in
                stored.withUnsafeBytes { data.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            }
        }
    }

    /// Writes a 3-vector field as a NIfTI-1 vector image (dim = (x, y, z, 1, 3), intent VECTOR), the
    /// layout ITK and nibabel use for displacement fields: component is the slowest axis.
    public static func write(_ field: VectorField, to url: URL, space: Space = .scanner, description: String = "TacoKit") throws {
        let g = field.geometry
        let n = g.voxelCount
        var planar = [Float](repeating: 0, count: 3 * n)
        for i in 0..<n { for c in 0..<3 { planar[c * n + i] = field.vectors[3 * i + c] } }
        try write(dims: [5, g.size.x, g.size.y, g.size.z, 1, 3, 1, 1], datatype: DT_FLOAT32, geometry: g, to: url,
                  space: space, description: description, intent: NIFTI_INTENT_VECTOR) { data in
            planar.withUnsafeBytes { data.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
    }

    /// Reads a NIfTI-1 vector image (dim = (x, y, z, 1, 3)) into a field on its grid.
    public static func readVectorField(_ url: URL) throws -> VectorField {
        let path = url.path
        let nim = try openHeader(path)
        defer { nifti_image_free(nim) }
        let image = nim.pointee
        guard image.ndim == 5, dimension(image, 4) <= 1, dimension(image, 5) == 3, image.datatype == DT_FLOAT32 else {
            throw NIfTIFileError(path: path, reason: "not a float32 vector image of dimensions (x, y, z, 1, 3)")
        }
        try loadVoxels(into: nim, path: path)
        let size = SIMD3(Int(image.nx), Int(image.ny), Int(image.nz))
        let geometry = Geometry(size: size, indexToRAS: rasAffine(of: nim.pointee).1)
        let n = geometry.voxelCount
        let planar = UnsafeRawPointer(nim.pointee.data!).bindMemory(to: Float.self, capacity: 3 * n)
        var vectors = [Float](repeating: 0, count: 3 * n)
        for i in 0..<n { for c in 0..<3 { vectors[3 * i + c] = planar[c * n + i] } }
        return VectorField(geometry: geometry, vectors: vectors)
    }

    /// Builds a header for `geometry` (sform = qform = its RAS affine), lets `fill` write the voxel
    /// bytes, and writes the file atomically.
    private static func write(dims: [Int], datatype: Int32, geometry g: Geometry, to url: URL, space: Space,
                              description: String, slope: Float = 0, intercept: Float = 0, intent: Int32 = 0,
                              fill: (UnsafeMutableRawPointer) -> Void) throws {
        var cDims = dims.map { Int32($0) }
        guard let nim = nifti_make_new_nim(&cDims, datatype, 1) else {
            throw NIfTIFileError(path: url.path, reason: "libnifti could not allocate an image")
        }
        defer { nifti_image_free(nim) }
        let ras = g.indexToRAS
        var m = mat44()
        withUnsafeMutableBytes(of: &m.m) { raw in
            let f = raw.bindMemory(to: Float.self)
            for r in 0..<3 {
                for c in 0..<3 { f[4 * r + c] = Float(ras.linear[r, c]) }
                f[4 * r + 3] = Float(ras.translation[r])
            }
            f[12] = 0; f[13] = 0; f[14] = 0; f[15] = 1
        }
        nim.pointee.sform_code = space.rawValue
        nim.pointee.sto_xyz = m
        nim.pointee.sto_ijk = nifti_mat44_inverse(m)
        var qb: Float = 0, qc: Float = 0, qd: Float = 0, qx: Float = 0, qy: Float = 0, qz: Float = 0
        var dx: Float = 0, dy: Float = 0, dz: Float = 0, qfac: Float = 0
        nifti_mat44_to_quatern(m, &qb, &qc, &qd, &qx, &qy, &qz, &dx, &dy, &dz, &qfac)
        nim.pointee.qform_code = space.rawValue
        nim.pointee.quatern_b = qb; nim.pointee.quatern_c = qc; nim.pointee.quatern_d = qd
        nim.pointee.qoffset_x = qx; nim.pointee.qoffset_y = qy; nim.pointee.qoffset_z = qz
        nim.pointee.qfac = qfac
        nim.pointee.qto_xyz = nifti_quatern_to_mat44(qb, qc, qd, qx, qy, qz, Float(g.spacing.x), Float(g.spacing.y), Float(g.spacing.z), qfac)
        nim.pointee.qto_ijk = nifti_mat44_inverse(nim.pointee.qto_xyz)
        nim.pointee.dx = Float(g.spacing.x); nim.pointee.dy = Float(g.spacing.y); nim.pointee.dz = Float(g.spacing.z)
        nim.pointee.pixdim.1 = Float(g.spacing.x); nim.pointee.pixdim.2 = Float(g.spacing.y); nim.pointee.pixdim.3 = Float(g.spacing.z)
        nim.pointee.xyz_units = Int32(NIFTI_UNITS_MM)
        nim.pointee.time_units = Int32(NIFTI_UNITS_SEC)
        nim.pointee.scl_slope = slope
        nim.pointee.scl_inter = intercept
        nim.pointee.intent_code = intent
        withUnsafeMutableBytes(of: &nim.pointee.descrip) { raw in
            raw.initializeMemory(as: UInt8.self, repeating: 0)
            for (i, byte) in description.utf8.prefix(79).enumerated() { raw[i] = byte }
        }
        fill(nim.pointee.data)
        let expected = 352 + Int(nim.pointee.nvox) * Int(nim.pointee.nbyper)
        try AtomicFile.write(to: url) { temporary in
            guard nifti_set_filenames(nim, temporary.path, 0, 1) == 0 else {
                throw NIfTIFileError(path: url.path, reason: "not a NIfTI file name (.nii or .nii.gz)")
            }
            // zlib level 1: on noisy MR volumes twice as fast as the default level 6 for <1% more bytes.
            _ = nifti_image_write_hdr_img(nim, 1, "wb1")
            // libnifti reports write failures only on stderr: check that the file is all there.
            let written = (try? FileManager.default.attributesOfItem(atPath: temporary.path)[.size] as? Int) ?? nil
            let compressed = temporary.path.hasSuffix(".gz")
            guard let written, compressed ? Self.gzipHolds(temporary, bytes: expected) : written >= expected else {
                throw NIfTIFileError(path: url.path, reason: Self.writeFailure(in: url.deletingLastPathComponent(), needed: compressed ? expected / 4 : expected))
            }
        }
    }

    // MARK: - Helpers

    /// The header of `path`, without its voxels (free with nifti_image_free). libnifti's own data load
    /// accepts a truncated file (it only prints a warning), so voxels are read by ``loadVoxels`` and counted.
    private static func openHeader(_ path: String) throws -> UnsafeMutablePointer<nifti_image> {
        guard FileManager.default.isReadableFile(atPath: path) else { throw NIfTIFileError(path: path, reason: "no such file, or not readable") }
        nifti_set_debug_level(0)
        guard let nim = nifti_image_read(path, 0) else {
            throw NIfTIFileError(path: path, reason: "libnifti could not read it (not NIfTI-1, or a corrupt header)")
        }
        return nim
    }

    /// Reads exactly the voxel bytes the header announces into `nim.data`, swapping bytes if needed.
    private static func loadVoxels(into nim: UnsafeMutablePointer<nifti_image>, path: String) throws {
        let bytes = Int(nim.pointee.nvox) * Int(nim.pointee.nbyper)
        guard bytes > 0, let name = nim.pointee.iname else {
            throw NIfTIFileError(path: path, reason: "the header announces no voxels")
        }
        guard let buffer = malloc(bytes + 1) else { throw NIfTIFileError(path: path, reason: "out of memory") }
        nim.pointee.data = buffer
        var file = znzopen(name, "rb", nifti_is_gzfile(name))
        guard file != nil else { throw NIfTIFileError(path: path, reason: "could not open the voxel data") }
        defer { Xznzclose(&file) }
        guard znzseek(file, off_t(nim.pointee.iname_offset), SEEK_SET) >= 0 else {
            throw NIfTIFileError(path: path, reason: "truncated file: no voxel data")
        }
        let read = znzread(buffer, 1, bytes, file)
        guard read == bytes else {
            throw NIfTIFileError(path: path, reason: "truncated or corrupt file: \(read) of \(bytes) voxel bytes")
        }
        if nim.pointee.byteorder != nifti_short_order() && nim.pointee.swapsize > 1 {
            nifti_swap_Nbytes(Int(nim.pointee.nvox) * Int(nim.pointee.nbyper) / Int(nim.pointee.swapsize),
                              nim.pointee.swapsize, buffer)
        }
    }

    private static func dimension(_ image: nifti_image, _ i: Int) -> Int32 {
        withUnsafeBytes(of: image.dim) { $0.bindMemory(to: Int32.self)[i] }
    }

    /// The index -> RAS affine by the standard's precedence, and where it came from.
    private static func rasAffine(of image: nifti_image) -> (GeometrySource, AffineTransform3D) {
        func affine(_ m: mat44) -> AffineTransform3D {
            withUnsafeBytes(of: m.m) { raw in
                let f = raw.bindMemory(to: Float.self)
                return AffineTransform3D(rowMajor4x4: (0..<16).map { Double(f[$0]) })
            }
        }
        if image.sform_code > 0 { return (.sform, affine(image.sto_xyz)) }
        if image.qform_code > 0 { return (.qform, affine(image.qto_xyz)) }
        let spacing = Vector3(Double(max(image.dx, 0) > 0 ? image.dx : 1), Double(image.dy > 0 ? image.dy : 1),
                              Double(image.dz > 0 ? image.dz : 1))
        return (.spacingOnly, AffineTransform3D(linear: Matrix3(diagonal: spacing)))
    }

    /// The stored voxels converted to float32.
    private static func floatVoxels(of image: nifti_image, count: Int, path: String) throws -> (VoxelType, [Float]) {
        let raw = UnsafeRawPointer(image.data!)
        func convert<T>(_: T.Type, _ type: VoxelType, _ f: (T) -> Float) -> (VoxelType, [Float]) {
            let typed = raw.bindMemory(to: T.self, capacity: count)
            return (type, (0..<count).map { f(typed[$0]) })
        }
        switch Int32(image.datatype) {
        case Int32(DT_UINT8): return convert(UInt8.self, .uint8) { Float($0) }
        case Int32(DT_INT8): return convert(Int8.self, .int8) { Float($0) }
        case Int32(DT_UINT16): return convert(UInt16.self, .uint16) { Float($0) }
        case Int32(DT_INT16): return convert(Int16.self, .int16) { Float($0) }
        case Int32(DT_UINT32): return convert(UInt32.self, .uint32) { Float($0) }
        case Int32(DT_INT32): return convert(Int32.self, .int32) { Float($0) }
        case Int32(DT_UINT64): return convert(UInt64.self, .uint64) { Float($0) }
        case Int32(DT_INT64): return convert(Int64.self, .int64) { Float($0) }
        case Int32(DT_FLOAT32): return convert(Float.self, .float32) { $0 }
        case Int32(DT_FLOAT64): return convert(Double.self, .float64) { Float($0) }
        default:
            throw NIfTIFileError(path: path, reason: "voxel type \(image.datatype) (complex or RGB) is not a scalar image")
        }
    }
}

/// An unreadable, unsupported or unwritable NIfTI file, with its path and the reason.
public struct NIfTIFileError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}
