import Foundation
import TacoCore

/// A safetensors file (Hugging Face's format, read by `safetensors.torch.load_file` and PyTorch trainers):
/// an 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape and byte range,
/// string metadata under `__metadata__`, then the raw little-endian data. TacoKit writes float32 tensors.
public struct SafeTensors: Sendable, Equatable {
    public struct Tensor: Sendable, Equatable {
        public var name: String
        public var shape: [Int]
        public var values: [Float]
        public init(name: String, shape: [Int], values: [Float]) {
            self.name = name
            self.shape = shape
            self.values = values
        }
    }

    public var tensors: [Tensor]
    public var metadata: [String: String]
    /// Tensors of a file read whose dtype is not F32 (name: dtype), which TacoKit does not read.
    public private(set) var otherTypes: [String: String] = [:]

    public init(tensors: [Tensor] = [], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    /// The tensor called `name`.
    public func tensor(_ name: String) -> Tensor? { tensors.first { $0.name == name } }

    /// The file's bytes.
    public func encoded() throws -> Data {
        var header: [String: Any] = ["__metadata__": metadata]
        var offset = 0
        for t in tensors {
            precondition(t.values.count == t.shape.reduce(1, *), "\(t.name): \(t.values.count) values for shape \(t.shape)")
            header[t.name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + 4 * t.values.count]]
            offset += 4 * t.values.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var data = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        for t in tensors { t.values.withUnsafeBufferPointer { data.append(UnsafeBufferPointer(start: UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: UInt8.self), count: 4 * $0.count)) } }
        return data
    }

    /// Writes the file atomically (a temporary name, then a rename).
    public func write(to url: URL) throws {
        let data = try encoded()
        try AtomicFile.write(to: url) { try data.write(to: $0) }
    }

    /// Reads a file; every problem names the file.
    public init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw SafeTensorsError(url, "cannot be read (\(error.localizedDescription))") }
        try self.init(data: data, source: url)
    }

    init(data: Data, source url: URL) throws {
        guard data.count >= 8 else { throw SafeTensorsError(url, "is not a safetensors file (\(data.count) bytes)") }
        let length = data.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard length <= UInt64(data.count - 8) else { throw SafeTensorsError(url, "is not a safetensors file (header length \(length) past the end)") }
        let start = 8 + Int(length)
        guard let header = try? JSONSerialization.jsonObject(with: data.subdata(in: 8..<start)) as? [String: Any] else {
            throw SafeTensorsError(url, "has a header that is not a JSON object")
        }
        metadata = header["__metadata__"] as? [String: String] ?? [:]
        tensors = []
        otherTypes = [:]
        for (name, value) in header where name != "__metadata__" {
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String, let shape = entry["shape"] as? [Int],
                  let offsets = entry["data_offsets"] as? [Int], offsets.count == 2 else {
                throw SafeTensorsError(url, "tensor \(name): a malformed header entry")
            }
            guard dtype == "F32" else {
                otherTypes[name] = dtype
                continue
            }
            let count = shape.reduce(1, *)
            guard offsets[0] >= 0, offsets[1] - offsets[0] == 4 * count, start + offsets[1] <= data.count else {
                throw SafeTensorsError(url, "tensor \(name): data range \(offsets) does not fit shape \(shape) in a file of \(data.count) bytes")
            }
            let bytes = data.subdata(in: (start + offsets[0])..<(start + offsets[1]))
            let values = bytes.withUnsafeBytes { raw in (0..<count).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) } }
            tensors.append(Tensor(name: name, shape: shape, values: values))
        }
        tensors.sort { $0.name < $1.name }
    }
}

/// A safetensors file that cannot be used; the message names the file.
public struct SafeTensorsError: Error, CustomStringConvertible, Equatable {
    public let description: String
    init(_ url: URL, _ reason: String) { description = "\(url.path): \(reason)" }
}
