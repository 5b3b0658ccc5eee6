internal import COpenBLAS
import Foundation
import TacoCore

/// Runs `body` over `0..<count` split into contiguous ranges, one per worker; the split depends on `count`
/// only, so that reductions combined in range order are the same from run to run.
func parallelRanges(_ count: Int, minimumPerRange: Int = 1, _ body: @Sendable (Range<Int>) -> Void) {
    guard count > 0 else { return }
    let ranges = min(max(1, count / max(1, minimumPerRange)), 4 * ProcessInfo.processInfo.activeProcessorCount, count)
    if ranges == 1 { body(0..<count); return }
    DispatchQueue.concurrentPerform(iterations: ranges) { r in
        body((r * count / ranges)..<((r + 1) * count / ranges))
    }
}

/// OpenBLAS's own thread count. The model's layers run their GEMMs on every core themselves (one slab per
/// worker), so a training or embedding process sets OpenBLAS to one thread first (`taco train`, `embed`
/// and `probe` do): measured 2.3x faster on the full-resolution layers than letting OpenBLAS's threads and
/// the workers compete (docs/benchmarks.md). Set it before any GEMM runs, never while one is running.
public enum BLASThreads {
    public static var count: Int { Int(openblas_get_num_threads()) }

    public static func set(_ threads: Int) { openblas_set_num_threads(Int32(max(1, threads))) }
}
