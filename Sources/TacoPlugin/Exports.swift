import Foundation
import TacoCore
import Train

// The C functions of include/taco_train.h. Each one checks its arguments, calls Train and copies into the
// caller's arrays; failures leave their message for taco_plugin_last_error().

@_cdecl("taco_plugin_version")
public func taco_plugin_version() -> Int32 { 1 }

@_cdecl("taco_plugin_last_error")
public func taco_plugin_last_error() -> UnsafePointer<CChar> { PluginErrors.last() }

// MARK: stream

@_cdecl("taco_stream_open")
public func taco_stream_open(_ manifest: UnsafePointer<CChar>?, _ options: UnsafePointer<CChar>?) -> OpaquePointer? {
    PluginErrors.guarded(failure: nil) {
        guard let manifest else { throw StreamError("no manifest path") }
        let handle = try StreamHandle(manifest: String(cString: manifest), optionsJSON: options.map { String(cString: $0) })
        return OpaquePointer(Unmanaged.passRetained(handle).toOpaque())
    }
}

private func handle(_ pointer: OpaquePointer?) throws -> StreamHandle {
    guard let pointer else { throw StreamError("a NULL stream") }
    return Unmanaged<StreamHandle>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue()
}

@_cdecl("taco_stream_next")
public func taco_stream_next(_ stream: OpaquePointer?, _ info: UnsafeMutableRawPointer?) -> Int32 {
    PluginErrors.guarded(failure: -1) {
        let h = try handle(stream)
        h.batch = try h.stream.next()
        guard let batch = h.batch else { return 0 }
        if let info {
            let sampling = h.stream.options.sampling
            let grid = sampling.tokenGrid
            let values: [Int32] = [Int32(batch.samples.count), Int32(sampling.roi.x), Int32(sampling.roi.y), Int32(sampling.roi.z),
                                   Int32(grid.x * grid.y * grid.z), Int32(grid.x), Int32(grid.y), Int32(grid.z), Int32(batch.pairs.count),
                                   Int32(batch.pairs.reduce(0) { $0 + ($1.matches?.count ?? 0) })]
            let ints = info.bindMemory(to: Int32.self, capacity: 10)
            for (i, v) in values.enumerated() { ints[i] = v }
            let longs = (info + 40).bindMemory(to: Int64.self, capacity: 2)
            longs[0] = Int64(batch.state.epoch)
            longs[1] = Int64(batch.state.batch)
        }
        return 1
    }
}

@_cdecl("taco_stream_images")
public func taco_stream_images(_ stream: OpaquePointer?, _ out: UnsafeMutablePointer<Float>?) -> Int32 {
    PluginErrors.guarded(failure: -1) {
        let batch = try handle(stream).current()
        guard let out else { throw StreamError("a NULL output array") }
        var offset = 0
        for sample in batch.samples {
            for view in [sample.first, sample.second] {
                view.withUnsafeBufferPointer { (out + offset).update(from: $0.baseAddress!, count: $0.count) }
                offset += view.count
            }
        }
        return 0
    }
}

@_cdecl("taco_stream_tokens")
public func taco_stream_tokens(_ stream: OpaquePointer?, _ atlas: UnsafeMutablePointer<Float>?, _ confidence: UnsafeMutablePointer<Float>?,
                               _ labels: UnsafeMutablePointer<UInt8>?, _ points: UnsafeMutablePointer<Float>?) -> Int32 {
    PluginErrors.guarded(failure: -1) {
        let batch = try handle(stream).current()
        for (s, sample) in batch.samples.enumerated() {
            let t = sample.tokenCount
            atlas.map { out in sample.tokenAtlasCoordinates.withUnsafeBufferPointer { (out + 3 * t * s).update(from: $0.baseAddress!, count: 3 * t) } }
            confidence.map { out in sample.tokenConfidence.withUnsafeBufferPointer { (out + t * s).update(from: $0.baseAddress!, count: t) } }
            labels.map { out in sample.tokenLabels.withUnsafeBufferPointer { (out + t * s).update(from: $0.baseAddress!, count: t) } }
            points.map { out in sample.tokenPoints.withUnsafeBufferPointer { (out + 3 * t * s).update(from: $0.baseAddress!, count: 3 * t) } }
        }
        return 0
    }
}

@_cdecl("taco_stream_pairs")
public func taco_stream_pairs(_ stream: OpaquePointer?, _ pairs: UnsafeMutablePointer<Int32>?, _ offsets: UnsafeMutablePointer<Int32>?,
                              _ matches: UnsafeMutablePointer<Int32>?, _ weights: UnsafeMutablePointer<Float>?) -> Int32 {
    PluginErrors.guarded(failure: -1) {
        let batch = try handle(stream).current()
        var offset: Int32 = 0
        for (index, pair) in batch.pairs.enumerated() {
            pairs?[3 * index] = Int32(pair.p)
            pairs?[3 * index + 1] = Int32(pair.q)
            pairs?[3 * index + 2] = pair.matches == nil ? 1 : 0
            offsets?[index] = offset
            for m in pair.matches ?? [] {
                matches?[2 * Int(offset)] = Int32(m.a)
                matches?[2 * Int(offset) + 1] = Int32(m.b)
                weights?[Int(offset)] = Float(m.weight)
                offset += 1
            }
        }
        offsets?[batch.pairs.count] = offset
        return 0
    }
}

@_cdecl("taco_stream_describe")
public func taco_stream_describe(_ stream: OpaquePointer?, _ buffer: UnsafeMutablePointer<CChar>?, _ size: Int64) -> Int32 {
    PluginErrors.guarded(failure: -1) {
        let text = try handle(stream).describe()
        let bytes = Array(text.utf8CString)
        guard let buffer, Int64(bytes.count) <= size else { throw StreamError("the description needs \(bytes.count) bytes, the buffer has \(size)") }
        bytes.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress!, count: bytes.count) }
        return 0
    }
}

@_cdecl("taco_stream_state")
public func taco_stream_state(_ stream: OpaquePointer?, _ epoch: UnsafeMutablePointer<Int64>?, _ batch: UnsafeMutablePointer<Int64>?) -> Int32 {
    PluginErrors.guarded(failure: -1) {
        let state = try handle(stream).stream.state
        epoch?.pointee = Int64(state.epoch)
        batch?.pointee = Int64(state.batch)
        return 0
    }
}

@_cdecl("taco_stream_close")
public func taco_stream_close(_ stream: OpaquePointer?) {
    guard let stream else { return }
    let h = Unmanaged<StreamHandle>.fromOpaque(UnsafeRawPointer(stream))
    h.takeUnretainedValue().stream.close()
    h.release()
}

// MARK: losses

private func matrix<S: BLASScalar>(_ pointer: UnsafePointer<S>?, rows: Int32, columns: Int32, _ name: String) throws -> Matrix<S> {
    guard rows >= 0, columns > 0 else { throw LossInputError("\(name): \(rows) x \(columns) is not a feature matrix") }
    guard let pointer else { throw LossInputError("\(name) is NULL") }
    return Matrix(rows: Int(rows), columns: Int(columns), values: Array(UnsafeBufferPointer(start: pointer, count: Int(rows) * Int(columns))))
}

private func rows(_ pointer: UnsafePointer<Int32>?, count: Int, width: Int) -> [[Int]]? {
    guard let pointer else { return nil }
    return (0..<count).map { r in (0..<width).map { Int(pointer[r * width + $0]) } }
}

private func copy<S>(_ values: [S], to out: UnsafeMutablePointer<S>?) {
    guard let out, !values.isEmpty else { return }
    values.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: $0.count) }
}

/// The intra-instance loss for float32 and float64 callers alike.
private func intraLoss<S: BLASScalar>(_ za: UnsafePointer<S>?, _ zb: UnsafePointer<S>?, _ tokens: Int32, _ channels: Int32, _ k: Int32, _ margin: Double,
                                      _ negativesAB: UnsafePointer<Int32>?, _ negativesBA: UnsafePointer<Int32>?, _ seed: UInt64,
                                      _ value: UnsafeMutablePointer<S>?, _ gradA: UnsafeMutablePointer<S>?, _ gradB: UnsafeMutablePointer<S>?) -> Int32 {
    PluginErrors.guarded(failure: -1) {
        let a = try matrix(za, rows: tokens, columns: channels, "za"), b = try matrix(zb, rows: tokens, columns: channels, "zb")
        let loss = IntraInstanceTriplet(neighbours: Int(k), margin: margin)
        let result: IntraInstanceTriplet.Result<S>
        if let ab = rows(negativesAB, count: Int(tokens), width: Int(k)), let ba = rows(negativesBA, count: Int(tokens), width: Int(k)) {
            result = try loss.evaluate(a, b, negativesAB: ab, negativesBA: ba)
        } else {
            guard negativesAB == nil, negativesBA == nil else { throw LossInputError("give both negative arrays or neither") }
            var rng = SeededGenerator(seed: seed)
            result = try loss.evaluate(a, b, using: &rng)
        }
        value?.pointee = result.value
        copy(result.gradientA.values, to: gradA)
        copy(result.gradientB.values, to: gradB)
        return 0
    }
}

/// The inter-instance loss for float32 and float64 callers alike.
private func interLoss<S: BLASScalar>(_ a: UnsafePointer<S>?, _ tokensA: Int32, _ b: UnsafePointer<S>?, _ tokensB: Int32, _ channels: Int32,
                                      _ matches: UnsafePointer<Int32>?, _ weights: UnsafePointer<S>?, _ matchCount: Int32, _ k: Int32, _ margin: Double,
                                      _ negatives: UnsafePointer<Int32>?, _ seed: UInt64, _ value: UnsafeMutablePointer<S>?,
                                      _ gradB: UnsafeMutablePointer<S>?, _ usedMatches: UnsafeMutablePointer<Int32>?) -> Int32 {
    PluginErrors.guarded(failure: -1) {
        let featuresA = try matrix(a, rows: tokensA, columns: channels, "a"), featuresB = try matrix(b, rows: tokensB, columns: channels, "b")
        guard matchCount >= 0, matchCount == 0 || matches != nil else { throw LossInputError("matches is NULL") }
        let list = (0..<Int(matchCount)).map { i in
            TokenMatch(a: Int(matches![2 * i]), b: Int(matches![2 * i + 1]), weight: weights.map { Double($0[i]) } ?? 1)
        }
        let loss = InterInstanceAlignment(neighbours: Int(k), margin: margin)
        let result: InterInstanceAlignment.Result<S>
        if let explicit = rows(negatives, count: Int(matchCount), width: Int(k)) {
            result = try loss.evaluate(a: featuresA, b: featuresB, matches: list, negatives: explicit)
        } else {
            var rng = SeededGenerator(seed: seed)
            result = try loss.evaluate(a: featuresA, b: featuresB, matches: list, using: &rng)
        }
        value?.pointee = result.value
        copy(result.gradientB.values, to: gradB)
        usedMatches?.pointee = Int32(result.usedMatches)
        return 0
    }
}

@_cdecl("taco_loss_intra")
public func taco_loss_intra(_ za: UnsafePointer<Float>?, _ zb: UnsafePointer<Float>?, _ tokens: Int32, _ channels: Int32, _ k: Int32, _ margin: Float,
                            _ negativesAB: UnsafePointer<Int32>?, _ negativesBA: UnsafePointer<Int32>?, _ seed: UInt64,
                            _ value: UnsafeMutablePointer<Float>?, _ gradA: UnsafeMutablePointer<Float>?, _ gradB: UnsafeMutablePointer<Float>?) -> Int32 {
    intraLoss(za, zb, tokens, channels, k, Double(margin), negativesAB, negativesBA, seed, value, gradA, gradB)
}

@_cdecl("taco_loss_intra_f64")
public func taco_loss_intra_f64(_ za: UnsafePointer<Double>?, _ zb: UnsafePointer<Double>?, _ tokens: Int32, _ channels: Int32, _ k: Int32,
                                _ margin: Double, _ negativesAB: UnsafePointer<Int32>?, _ negativesBA: UnsafePointer<Int32>?, _ seed: UInt64,
                                _ value: UnsafeMutablePointer<Double>?, _ gradA: UnsafeMutablePointer<Double>?,
                                _ gradB: UnsafeMutablePointer<Double>?) -> Int32 {
    intraLoss(za, zb, tokens, channels, k, margin, negativesAB, negativesBA, seed, value, gradA, gradB)
}

@_cdecl("taco_loss_inter")
public func taco_loss_inter(_ a: UnsafePointer<Float>?, _ tokensA: Int32, _ b: UnsafePointer<Float>?, _ tokensB: Int32, _ channels: Int32,
                            _ matches: UnsafePointer<Int32>?, _ weights: UnsafePointer<Float>?, _ matchCount: Int32, _ k: Int32, _ margin: Float,
                            _ negatives: UnsafePointer<Int32>?, _ seed: UInt64, _ value: UnsafeMutablePointer<Float>?,
                            _ gradB: UnsafeMutablePointer<Float>?, _ usedMatches: UnsafeMutablePointer<Int32>?) -> Int32 {
    interLoss(a, tokensA, b, tokensB, channels, matches, weights, matchCount, k, Double(margin), negatives, seed, value, gradB, usedMatches)
}

@_cdecl("taco_loss_inter_f64")
public func taco_loss_inter_f64(_ a: UnsafePointer<Double>?, _ tokensA: Int32, _ b: UnsafePointer<Double>?, _ tokensB: Int32, _ channels: Int32,
                                _ matches: UnsafePointer<Int32>?, _ weights: UnsafePointer<Double>?, _ matchCount: Int32, _ k: Int32,
                                _ margin: Double, _ negatives: UnsafePointer<Int32>?, _ seed: UInt64, _ value: UnsafeMutablePointer<Double>?,
                                _ gradB: UnsafeMutablePointer<Double>?, _ usedMatches: UnsafeMutablePointer<Int32>?) -> Int32 {
    interLoss(a, tokensA, b, tokensB, channels, matches, weights, matchCount, k, margin, negatives, seed, value, gradB, usedMatches)
}

@_cdecl("taco_loss_reconstruction")
public func taco_loss_reconstruction(_ output: UnsafePointer<Float>?, _ input: UnsafePointer<Float>?, _ count: Int64,
                                     _ value: UnsafeMutablePointer<Float>?, _ grad: UnsafeMutablePointer<Float>?) -> Int32 {
    PluginErrors.guarded(failure: -1) {
        guard count >= 0, count == 0 || (output != nil && input != nil) else { throw LossInputError("output or input is NULL") }
        let n = Int(count)
        let result = try ReconstructionError.evaluate(output: n == 0 ? [] : Array(UnsafeBufferPointer(start: output, count: n)),
                                                      input: n == 0 ? [] : Array(UnsafeBufferPointer(start: input, count: n)))
        value?.pointee = result.value
        copy(result.gradient, to: grad)
        return 0
    }
}

@_cdecl("taco_match_features")
public func taco_match_features(_ a: UnsafePointer<Float>?, _ tokensA: Int32, _ b: UnsafePointer<Float>?, _ tokensB: Int32, _ channels: Int32,
                                _ matches: UnsafeMutablePointer<Int32>?, _ count: UnsafeMutablePointer<Int32>?) -> Int32 {
    PluginErrors.guarded(failure: -1) {
        let found = FeatureMatches.match(try matrix(a, rows: tokensA, columns: channels, "a"), try matrix(b, rows: tokensB, columns: channels, "b"))
        guard let matches else { throw LossInputError("matches is NULL") }
        for (i, m) in found.enumerated() {
            matches[2 * i] = Int32(m.a)
            matches[2 * i + 1] = Int32(m.b)
        }
        count?.pointee = Int32(found.count)
        return 0
    }
}
