internal import CHDF5
import Foundation

/// An HDF5 error: the file, what was being done, and HDF5's own description.
public struct HDF5Error: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let operation: String
    public let reason: String
    /// The stored data is damaged: a chunk does not decompress or fails its Fletcher32 checksum.
    public var isDamagedData = false
    public var description: String { "\(path): \(operation): \(reason)" }

    public init(path: String, operation: String, reason: String, isDamagedData: Bool = false) {
        self.path = path
        self.operation = operation
        self.reason = reason
        self.isDamagedData = isDamagedData
    }
}

/// An open HDF5 file (serial HDF5 through CHDF5): groups, chunked compressed datasets with checksums,
/// attributes, whole and partial reads. The HDF5 library is not thread-safe in its serial build, so
/// every call goes through one process-wide lock.
///
/// `@unchecked Sendable`: the handle is a C integer; all access is serialised by ``HDF5File/lock``.
public final class HDF5File: @unchecked Sendable {
    public let path: String
    private var id: hid_t
    /// Each dataset's chunk size in bytes, learnt at its first opening (sizes its chunk cache at the next ones).
    private var chunkBytesByDataset: [String: Int] = [:]

    /// Serialises every HDF5 call in the process (serial HDF5 is not thread-safe). Recursive, unlike the
    /// project's ``Locked``: a locked operation (a dataset read) calls others that lock too (opening it).
    static let lock = NSRecursiveLock()

    private init(path: String, id: hid_t) {
        self.path = path
        self.id = id
    }

    deinit { close() }

    /// Creates (truncates) `url`.
    public static func create(_ url: URL) throws -> HDF5File {
        try locked {
            chdf5_silence_errors()
            let access = unlockedAccess()
            defer { H5Pclose(access) }
            // The 1.10 file format: superblock, object headers and B-trees carry checksums, so that a damaged
            // file fails as damaged instead of being parsed (HDF5 1.10 or later reads it; h5py's wheels do).
            H5Pset_libver_bounds(access, H5F_LIBVER_V110, H5F_LIBVER_V110)
            // No object times (the 1.10 object headers would record them): the same content gives the same bytes.
            let creation = H5Pcreate(chdf5_file_create_plist())
            defer { H5Pclose(creation) }
            H5Pset_obj_track_times(creation, false)
            let id = H5Fcreate(url.path, chdf5_acc_trunc(), creation, access)
            guard id >= 0 else { throw error(url.path, "create") }
            return HDF5File(path: url.path, id: id)
        }
    }

    /// Opens `url` for reading (or writing).
    public static func open(_ url: URL, writable: Bool = false) throws -> HDF5File {
        try locked {
            chdf5_silence_errors()
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw HDF5Error(path: url.path, operation: "open", reason: "no such file")
            }
            let access = unlockedAccess()
            defer { H5Pclose(access) }
            let id = H5Fopen(url.path, writable ? chdf5_acc_rdwr() : chdf5_acc_rdonly(), access)
            guard id >= 0 else { throw error(url.path, "open") }
            return HDF5File(path: url.path, id: id)
        }
    }

    /// File access without HDF5's file locks. A shard is written under a temporary name by one writer and
    /// renamed when complete, so the locks protect nothing here; they fail on file systems without flock
    /// (some NFS and Lustre mounts of the clusters users train on) and between two handles of one file in
    /// one process ("unable to lock file, errno = 11").
    private static func unlockedAccess() -> hid_t {
        let access = H5Pcreate(chdf5_file_access_plist())
        H5Pset_file_locking(access, false, true)
        return access
    }

    /// Closes the file (also on deinit); further calls fail.
    public func close() {
        Self.locked {
            if id >= 0 { H5Fclose(id) }
            id = -1
        }
    }

    // MARK: groups

    /// Creates the group `name` (a path; parents are created too).
    public func createGroup(_ name: String) throws {
        try Self.locked {
            // Level by level, each without object times (intermediate groups HDF5 made would take the defaults).
            let creation = H5Pcreate(chdf5_group_create_plist())
            defer { H5Pclose(creation) }
            H5Pset_obj_track_times(creation, false)
            var prefix = ""
            for part in name.split(separator: "/") {
                prefix += "/" + part
                guard H5Lexists(id, prefix, chdf5_default()) <= 0 else { continue }
                let group = H5Gcreate2(id, prefix, chdf5_default(), creation, chdf5_default())
                guard group >= 0 else { throw Self.error(path, "create group \(prefix)") }
                H5Gclose(group)
            }
        }
    }

    /// Whether an object (group or dataset) exists at `name`.
    public func exists(_ name: String) -> Bool {
        Self.locked {
            var prefix = ""
            for part in name.split(separator: "/") {
                prefix += "/" + part
                guard H5Lexists(id, prefix, chdf5_default()) > 0 else { return false }
            }
            return true
        }
    }

    /// The names of the members of group `name`, sorted.
    public func members(of name: String) throws -> [String] {
        try Self.locked {
            let group = H5Gopen2(id, name, chdf5_default())
            guard group >= 0 else { throw Self.error(path, "open group \(name)") }
            defer { H5Gclose(group) }
            var info = H5G_info_t()
            guard H5Gget_info(group, &info) >= 0 else { throw Self.error(path, "list group \(name)") }
            var names: [String] = []
            for i in 0..<info.nlinks {
                let size = H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, nil, 0, chdf5_default())
                guard size >= 0 else { throw Self.error(path, "list group \(name)") }
                var buffer = [CChar](repeating: 0, count: Int(size) + 1)
                H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, &buffer, Int(size) + 1, chdf5_default())
                names.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
            return names.sorted()
        }
    }

    /// Copies object `name` (a group with everything below it, or a dataset) of `source` to
    /// `destination` in this file. Chunks are copied as stored (still compressed, checksums included).
    public func copy(_ name: String, from source: HDF5File, to destination: String) throws {
        try Self.locked {
            guard H5Ocopy(source.id, name, id, destination, chdf5_default(), chdf5_default()) >= 0 else {
                throw Self.error(path, "copy \(name) from \(source.path)")
            }
        }
    }

    /// Every dataset below `name`, as full paths, sorted.
    public func datasets(under name: String = "/") throws -> [String] {
        var out: [String] = []
        for member in try members(of: name) {
            let full = (name == "/" ? "" : name) + "/" + member
            let type = Self.locked { () -> H5O_type_t in
                var info = H5O_info_t()
                guard H5Oget_info_by_name2(id, full, &info, UInt32(H5O_INFO_BASIC), chdf5_default()) >= 0 else { return H5O_TYPE_UNKNOWN }
                return info.type
            }
            if type == H5O_TYPE_GROUP { out += try datasets(under: full) } else if type == H5O_TYPE_DATASET { out.append(full) }
        }
        return out.sorted()
    }

    // MARK: datasets

    /// How a dataset is stored.
    public struct Storage: Sendable, Equatable {
        /// Chunk shape (same rank as the data), or nil for contiguous storage.
        public var chunk: [Int]?
        /// gzip (deflate) level 1-9 after byte shuffling; nil for none. Stock HDF5 and h5py read both.
        public var gzipLevel: Int?
        /// Fletcher32 checksum per chunk: a flipped byte makes the read fail. Needs chunks.
        public var checksum: Bool

        public init(chunk: [Int]? = nil, gzipLevel: Int? = nil, checksum: Bool = false) {
            self.chunk = chunk
            self.gzipLevel = gzipLevel
            self.checksum = checksum
        }
    }

    /// Writes `values` (C order, `shape` outermost first) as dataset `name` of element type `type`
    /// (also the memory type). Parents must exist.
    public func write<T>(_ values: [T], shape: [Int], to name: String, type: ElementType, storage: Storage = Storage()) throws {
        precondition(shape.reduce(1, *) == values.count, "shape and value count differ")
        precondition(MemoryLayout<T>.stride == type.size, "element size mismatch")
        try Self.locked {
            var dims = shape.map { hsize_t($0) }
            let space = H5Screate_simple(Int32(shape.count), &dims, nil)
            guard space >= 0 else { throw Self.error(path, "dataspace for \(name)") }
            defer { H5Sclose(space) }
            let plist = H5Pcreate(chdf5_dataset_create_plist())
            defer { H5Pclose(plist) }
            H5Pset_obj_track_times(plist, false)
            if let chunk = storage.chunk {
                var c = zip(chunk, shape).map { hsize_t(max(1, min($0, $1))) }
                guard H5Pset_chunk(plist, Int32(c.count), &c) >= 0 else { throw Self.error(path, "chunk \(name)") }
                if storage.checksum { H5Pset_fletcher32(plist) }
                if let level = storage.gzipLevel {
                    H5Pset_shuffle(plist)
                    H5Pset_deflate(plist, UInt32(level))
                }
            }
            let fileType = try type.handle()
            defer { type.release(fileType) }
            let dataset = H5Dcreate2(id, name, fileType, space, chdf5_default(), plist, chdf5_default())
            guard dataset >= 0 else { throw Self.error(path, "create dataset \(name)") }
            defer { H5Dclose(dataset) }
            let status = values.withUnsafeBytes { H5Dwrite(dataset, fileType, chdf5_all(), chdf5_all(), chdf5_default(), $0.baseAddress) }
            guard status >= 0 else { throw Self.error(path, "write dataset \(name)") }
        }
    }

    /// The shape of dataset `name`.
    public func shape(of name: String) throws -> [Int] {
        try withDataset(name) { _, space in
            let rank = Int(H5Sget_simple_extent_ndims(space))
            var dims = [hsize_t](repeating: 0, count: rank)
            H5Sget_simple_extent_dims(space, &dims, nil)
            return dims.map { Int($0) }
        }
    }

    /// Reads dataset `name` whole, or the box `start` + `count` of it, as elements of `type`
    /// (HDF5 converts between numeric types). Checksums are verified on the way.
    public func read<T>(_ name: String, as type: ElementType, start: [Int]? = nil, count: [Int]? = nil, element: T.Type) throws -> [T] {
        precondition(MemoryLayout<T>.stride == type.size, "element size mismatch")
        return try withDataset(name) { dataset, fileSpace in
            let rank = Int(H5Sget_simple_extent_ndims(fileSpace))
            var dims = [hsize_t](repeating: 0, count: rank)
            H5Sget_simple_extent_dims(fileSpace, &dims, nil)
            var memorySpace = chdf5_all()
            var total = dims.reduce(1) { $0 * Int($1) }
            if let start, let count {
                guard start.count == rank && count.count == rank else {
                    throw HDF5Error(path: path, operation: "read a box of \(name)", reason: "a box of rank \(start.count) asked of a dataset of rank \(rank)")
                }
                var s = start.map { hsize_t($0) }, c = count.map { hsize_t($0) }
                guard H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, &s, nil, &c, nil) >= 0 else {
                    throw Self.error(path, "select a box of \(name)")
                }
                memorySpace = H5Screate_simple(Int32(rank), &c, nil)
                total = count.reduce(1, *)
            }
            defer { if memorySpace != chdf5_all() { H5Sclose(memorySpace) } }
            let memoryType = try type.handle()
            defer { type.release(memoryType) }
            var out = [T](unsafeUninitializedCapacity: total) { buffer, initialized in
                initialized = total
                _ = buffer
            }
            let status = out.withUnsafeMutableBytes {
                H5Dread(dataset, memoryType, memorySpace, start == nil ? chdf5_all() : fileSpace, chdf5_default(), $0.baseAddress)
            }
            guard status >= 0 else { throw Self.error(path, "read dataset \(name)") }
            return out
        }
    }

    /// Dataset `name`'s bytes in its own stored type (checksums verified on the way).
    public func readRaw(_ name: String) throws -> [UInt8] {
        try withDataset(name) { dataset, space in
            let type = H5Dget_type(dataset)
            defer { H5Tclose(type) }
            var out = [UInt8](repeating: 0, count: Int(H5Sget_simple_extent_npoints(space)) * H5Tget_size(type))
            let status = out.withUnsafeMutableBytes { H5Dread(dataset, type, chdf5_all(), chdf5_all(), chdf5_default(), $0.baseAddress) }
            guard status >= 0 else { throw Self.error(path, "read dataset \(name)") }
            return out
        }
    }

    /// The names of the attributes of object `name`, sorted.
    public func attributeNames(of name: String) throws -> [String] {
        try Self.locked {
            var info = H5O_info_t()
            guard H5Oget_info_by_name2(id, name, &info, UInt32(H5O_INFO_NUM_ATTRS), chdf5_default()) >= 0 else {
                throw Self.error(path, "attributes of \(name)")
            }
            var names: [String] = []
            for i in 0..<info.num_attrs {
                let size = H5Aget_name_by_idx(id, name, H5_INDEX_NAME, H5_ITER_INC, i, nil, 0, chdf5_default())
                guard size >= 0 else { throw Self.error(path, "attributes of \(name)") }
                var buffer = [CChar](repeating: 0, count: Int(size) + 1)
                H5Aget_name_by_idx(id, name, H5_INDEX_NAME, H5_ITER_INC, i, &buffer, Int(size) + 1, chdf5_default())
                names.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
            return names.sorted()
        }
    }

    /// The stored chunks of dataset `name` that overlap the box `start` + `count`, as stored (still filtered),
    /// with the dataset's filter pipeline: one short pass under the lock (file reads only), so that the
    /// decoding (``ChunkDecoder``) can run outside it, on several threads. Nil when the dataset is not chunked
    /// or uses a filter other than deflate, shuffle and Fletcher32.
    public func storedChunks(of name: String, start: [Int], count: [Int]) throws -> StoredChunks? {
        try withDataset(name) { dataset, space in
            let rank = Int(H5Sget_simple_extent_ndims(space))
            guard start.count == rank && count.count == rank else {
                throw HDF5Error(path: path, operation: "read a box of \(name)", reason: "a box of rank \(start.count) asked of a dataset of rank \(rank)")
            }
            var dims = [hsize_t](repeating: 0, count: rank)
            H5Sget_simple_extent_dims(space, &dims, nil)
            let create = H5Dget_create_plist(dataset)
            defer { H5Pclose(create) }
            guard H5Pget_layout(create) == H5D_CHUNKED else { return nil }
            var chunk = [hsize_t](repeating: 0, count: rank)
            H5Pget_chunk(create, Int32(rank), &chunk)
            var filters: [StoredChunks.Filter] = []
            for index in 0..<H5Pget_nfilters(create) {
                var flags: UInt32 = 0, elements = 1, values = [UInt32](repeating: 0, count: 1), config: UInt32 = 0
                var nameBuffer = [CChar](repeating: 0, count: 64)
                let id = H5Pget_filter2(create, UInt32(index), &flags, &elements, &values, 64, &nameBuffer, &config)
                switch id {
                case H5Z_FILTER_DEFLATE: filters.append(.deflate)
                case H5Z_FILTER_SHUFFLE: filters.append(.shuffle(elementSize: Int(values[0])))
                case H5Z_FILTER_FLETCHER32: filters.append(.fletcher32)
                default: return nil
                }
            }
            let type = H5Dget_type(dataset)
            defer { H5Tclose(type) }
            let elementSize = H5Tget_size(type)
            let isFloatingPoint = H5Tget_class(type) == H5T_FLOAT
            let chunkShape = chunk.map { Int($0) }
            var first = [Int](), last = [Int]()
            for d in 0..<rank {
                guard start[d] >= 0, count[d] > 0, start[d] + count[d] <= Int(dims[d]) else {
                    throw HDF5Error(path: path, operation: "read a box of \(name)", reason: "the box \(start) + \(count) is not inside \(dims)")
                }
                first.append(start[d] / chunkShape[d])
                last.append((start[d] + count[d] - 1) / chunkShape[d])
            }
            var chunks: [StoredChunks.Chunk] = []
            var index = first
            while true {
                var offset = zip(index, chunkShape).map { hsize_t($0 * $1) }
                var size: hsize_t = 0
                if H5Dget_chunk_storage_size(dataset, &offset, &size) < 0 { size = 0 }
                var bytes = [UInt8](repeating: 0, count: Int(size))
                var mask: UInt32 = 0
                if size > 0 {
                    let status = bytes.withUnsafeMutableBytes { H5Dread_chunk(dataset, chdf5_default(), &offset, &mask, $0.baseAddress) }
                    guard status >= 0 else { throw Self.error(path, "read chunk \(offset) of \(name)") }
                }
                chunks.append(StoredChunks.Chunk(origin: offset.map { Int($0) }, bytes: bytes, skippedFilters: mask))
                var d = rank - 1
                while d >= 0 {
                    index[d] += 1
                    if index[d] <= last[d] { break }
                    index[d] = first[d]
                    d -= 1
                }
                if d < 0 { break }
            }
            return StoredChunks(dataset: name, chunkShape: chunkShape, elementSize: elementSize, isFloatingPoint: isFloatingPoint,
                                filters: filters, chunks: chunks)
        }
    }

    /// The file offset and stored size of chunk `index` of dataset `name` (for tests that damage a chunk).
    public func chunkLocation(of name: String, index: Int) throws -> (offset: Int, size: Int) {
        try withDataset(name) { dataset, space in
            var mask: UInt32 = 0
            var address: haddr_t = 0
            var size: hsize_t = 0
            var coordinates = [hsize_t](repeating: 0, count: 8)
            var count: hsize_t = 0
            H5Dget_num_chunks(dataset, space, &count)
            guard index < Int(count), H5Dget_chunk_info(dataset, space, hsize_t(index), &coordinates, &mask, &address, &size) >= 0 else {
                throw HDF5Error(path: path, operation: "chunk \(index) of \(name)", reason: "the dataset has \(count) stored chunks")
            }
            return (Int(address), Int(size))
        }
    }

    /// Runs `body` with dataset `name` and its dataspace open (both closed after), under the lock.
    ///
    /// The dataset's chunk cache is sized to its chunks: room for every chunk of one 4 x 4 x 4 block of
    /// chunks (what a box of three chunk sides touches at most), `w0 = 1` so fully read chunks go first.
    /// HDF5's default (1 MiB, 521 slots) is smaller than a 96^3 crop's chunks, and a chunk larger than the
    /// cache is decompressed once per selection piece that touches it.
    private func withDataset<R>(_ name: String, _ body: (hid_t, hid_t) throws -> R) throws -> R {
        try Self.locked {
            let access = H5Pcreate(chdf5_dataset_access_plist())
            defer { H5Pclose(access) }
            let chunkBytes: Int
            if let known = chunkBytesByDataset[name] {
                chunkBytes = known
            } else {
                let probe = H5Dopen2(id, name, chdf5_default())
                guard probe >= 0 else { throw Self.error(path, "open dataset \(name)") }
                chunkBytes = Self.chunkBytes(of: probe)
                H5Dclose(probe)
                chunkBytesByDataset[name] = chunkBytes
            }
            if chunkBytes > 0 {
                let chunks = 4 * 4 * 4 * 2
                H5Pset_chunk_cache(access, 12_421, max(1 << 20, chunkBytes * chunks), 1.0)
            }
            let dataset = H5Dopen2(id, name, access)
            guard dataset >= 0 else { throw Self.error(path, "open dataset \(name)") }
            defer { H5Dclose(dataset) }
            let space = H5Dget_space(dataset)
            defer { H5Sclose(space) }
            return try body(dataset, space)
        }
    }

    /// The bytes of one chunk of an open dataset in memory (0 when it is not chunked).
    private static func chunkBytes(of dataset: hid_t) -> Int {
        let create = H5Dget_create_plist(dataset)
        defer { H5Pclose(create) }
        guard H5Pget_layout(create) == H5D_CHUNKED else { return 0 }
        var dims = [hsize_t](repeating: 0, count: 8)
        let rank = Int(H5Pget_chunk(create, 8, &dims))
        let type = H5Dget_type(dataset)
        defer { H5Tclose(type) }
        return dims.prefix(max(rank, 0)).reduce(H5Tget_size(type)) { $0 * Int($1) }
    }

    // MARK: attributes

    /// Sets attribute `attribute` of object `name` to a UTF-8 string, stored fixed-length (h5py reads `bytes`).
    public func setAttribute(_ attribute: String, of name: String = "/", to value: String) throws {
        try writeStrings(attribute, of: name, [value], shape: [])
    }

    /// Sets attribute `attribute` of object `name` to a list of UTF-8 strings, stored fixed-length.
    public func setAttribute(_ attribute: String, of name: String = "/", to values: [String]) throws {
        try writeStrings(attribute, of: name, values, shape: [values.count])
    }

    /// Strings as NUL-padded fixed-length UTF-8 of the longest one's bytes: kept in the attribute itself, not in
    /// the global heap where variable-length strings live (HDF5 trusts the lengths stored there, and a damaged
    /// one crashes or hangs the reading process: found by taco-fuzz).
    private func writeStrings(_ attribute: String, of name: String, _ values: [String], shape: [Int]) throws {
        let width = max(1, values.map(\.utf8.count).max() ?? 1)
        var bytes = [UInt8](repeating: 0, count: width * values.count)
        for (i, value) in values.enumerated() { bytes.replaceSubrange(i * width..<(i * width + value.utf8.count), with: value.utf8) }
        try withAttribute(attribute, of: name, type: Self.fixedStringType(width), shape: shape) { attr, type in
            guard H5Awrite(attr, type, bytes) >= 0 else { throw Self.error(path, "write attribute \(attribute)") }
        }
    }

    /// Sets attribute `attribute` of object `name` to 64-bit integers (a scalar when `scalar`).
    public func setAttribute(_ attribute: String, of name: String = "/", to values: [Int64], scalar: Bool = false) throws {
        try withAttribute(attribute, of: name, type: chdf5_native_int64(), shape: scalar ? [] : [values.count], owned: false) { attr, type in
            guard H5Awrite(attr, type, values) >= 0 else { throw Self.error(path, "write attribute \(attribute)") }
        }
    }

    /// Sets attribute `attribute` of object `name` to doubles with `shape` ([] for a scalar).
    public func setAttribute(_ attribute: String, of name: String = "/", to values: [Double], shape: [Int]) throws {
        try withAttribute(attribute, of: name, type: chdf5_native_double(), shape: shape, owned: false) { attr, type in
            guard H5Awrite(attr, type, values) >= 0 else { throw Self.error(path, "write attribute \(attribute)") }
        }
    }

    /// A string attribute (scalar) of object `name`.
    public func stringAttribute(_ attribute: String, of name: String = "/") throws -> String {
        try strings(attribute, of: name).first ?? ""
    }

    /// A string-list attribute of object `name`.
    public func stringsAttribute(_ attribute: String, of name: String = "/") throws -> [String] {
        try strings(attribute, of: name)
    }

    /// A numeric attribute of object `name`, as doubles (C order).
    public func numbersAttribute(_ attribute: String, of name: String = "/") throws -> [Double] {
        try readingAttribute(attribute, of: name) { attr, space in
            let count = max(1, Int(H5Sget_simple_extent_npoints(space)))
            guard count <= 1 << 20 else {
                throw HDF5Error(path: path, operation: "read attribute \(attribute)", reason: "\(count) numbers: more than a shard holds (damaged?)")
            }
            var out = [Double](repeating: 0, count: count)
            guard H5Aread(attr, chdf5_native_double(), &out) >= 0 else { throw Self.error(path, "read attribute \(attribute)") }
            return out
        }
    }

    /// Strings of an attribute: fixed-length (what TacoKit writes) or variable-length (version 1 shards and
    /// other writers). At most `maximumStrings` strings of at most `maximumStringBytes` bytes each.
    private func strings(_ attribute: String, of name: String) throws -> [String] {
        try readingAttribute(attribute, of: name) { attr, space in
            let count = Int(H5Sget_simple_extent_npoints(space))
            guard count > 0 else { return [] }
            guard count <= Self.maximumStrings else {
                throw HDF5Error(path: path, operation: "read attribute \(attribute)", reason: "\(count) strings: more than a shard holds (damaged?)")
            }
            let stored = H5Aget_type(attr)
            defer { H5Tclose(stored) }
            guard H5Tget_class(stored) == H5T_STRING else {
                throw HDF5Error(path: path, operation: "read attribute \(attribute)", reason: "not a string attribute")
            }
            if H5Tis_variable_str(stored) > 0 {
                let type = Self.variableStringType()
                defer { H5Tclose(type) }
                var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
                guard H5Aread(attr, type, &pointers) >= 0 else { throw Self.error(path, "read attribute \(attribute)") }
                defer { H5Dvlen_reclaim(type, space, chdf5_default(), &pointers) }
                return pointers.map { $0.map { String(cString: $0) } ?? "" }
            }
            let width = H5Tget_size(stored)
            guard width >= 1, width <= Self.maximumStringBytes else {
                throw HDF5Error(path: path, operation: "read attribute \(attribute)", reason: "strings of \(width) bytes: more than a shard holds (damaged?)")
            }
            let type = Self.fixedStringType(width)
            defer { H5Tclose(type) }
            var bytes = [UInt8](repeating: 0, count: width * count)
            guard H5Aread(attr, type, &bytes) >= 0 else { throw Self.error(path, "read attribute \(attribute)") }
            return (0..<count).map { i in
                String(decoding: bytes[(i * width)..<((i + 1) * width)].prefix { $0 != 0 }, as: UTF8.self)
            }
        }
    }

    static let maximumStrings = 1 << 16
    static let maximumStringBytes = 1 << 16

    /// Runs `body` with attribute `attribute` of object `name` and its dataspace open, under the lock.
    private func readingAttribute<R>(_ attribute: String, of name: String, _ body: (hid_t, hid_t) throws -> R) throws -> R {
        try Self.locked {
            let attr = H5Aopen_by_name(id, name, attribute, chdf5_default(), chdf5_default())
            guard attr >= 0 else { throw Self.error(path, "open attribute \(attribute) of \(name)") }
            defer { H5Aclose(attr) }
            let space = H5Aget_space(attr)
            defer { H5Sclose(space) }
            return try body(attr, space)
        }
    }

    private func withAttribute(_ attribute: String, of name: String, type: hid_t, shape: [Int], owned: Bool = true,
                               _ write: (hid_t, hid_t) throws -> Void) throws {
        try Self.locked {
            defer { if owned { H5Tclose(type) } }
            var dims = shape.map { hsize_t($0) }
            let space = shape.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(shape.count), &dims, nil)
            defer { H5Sclose(space) }
            if H5Aexists_by_name(id, name, attribute, chdf5_default()) > 0 {
                H5Adelete_by_name(id, name, attribute, chdf5_default())
            }
            let attr = H5Acreate_by_name(id, name, attribute, type, space, chdf5_default(), chdf5_default(), chdf5_default())
            guard attr >= 0 else { throw Self.error(path, "create attribute \(attribute) of \(name)") }
            defer { H5Aclose(attr) }
            try write(attr, type)
        }
    }

    /// Variable-length UTF-8 strings (the caller closes it).
    static func variableStringType() -> hid_t {
        let type = H5Tcopy(chdf5_c_string())
        H5Tset_size(type, chdf5_variable_size())
        H5Tset_cset(type, H5T_CSET_UTF8)
        return type
    }

    /// NUL-padded UTF-8 strings of `width` bytes (the caller closes it).
    static func fixedStringType(_ width: Int) -> hid_t {
        let type = H5Tcopy(chdf5_c_string())
        H5Tset_size(type, width)
        H5Tset_strpad(type, H5T_STR_NULLPAD)
        H5Tset_cset(type, H5T_CSET_UTF8)
        return type
    }

    static func locked<R>(_ body: () throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    static func error(_ path: String, _ operation: String) -> HDF5Error {
        var buffer = [CChar](repeating: 0, count: 1024)
        let filterFailed = chdf5_last_error(&buffer) != 0
        let reason = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return HDF5Error(path: path, operation: operation, reason: reason.isEmpty ? "HDF5 gave no reason" : reason, isDamagedData: filterFailed)
    }
}

/// The element types shards use, with their HDF5 types.
public enum ElementType: Sendable {
    /// IEEE binary16, defined as h5py defines it (HDF5 1.10 has no predefined half type).
    case float16
    case float32
    case uint8

    var size: Int {
        switch self {
        case .float16: return 2
        case .float32: return 4
        case .uint8: return 1
        }
    }

    func handle() throws -> hid_t {
        switch self {
        case .float16:
            let t = chdf5_ieee_f16le()
            guard t >= 0 else { throw HDF5Error(path: "-", operation: "define float16", reason: "H5Tset_fields failed") }
            return t
        case .float32: return chdf5_native_float()
        case .uint8: return chdf5_native_uint8()
        }
    }

    func release(_ handle: hid_t) {
        if self == .float16 { H5Tclose(handle) }
    }
}
