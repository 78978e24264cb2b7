import Dispatch
import Foundation

/// Splits work over the machine's cores (persistent workers, ``WorkerPool``). Work is divided
/// by index ranges only, so results do not depend on the thread count.
public enum ThreadPool {
    nonisolated(unsafe) private static var configured = ProcessInfo.processInfo.activeProcessorCount

    /// Threads used by kernels (default: all cores).
    public static var threads: Int {
        get { configured }
        set { configured = max(1, newValue) }
    }

    /// Calls `body` on disjoint chunks covering `0..<count`, in parallel when the work is large.
    /// - Parameters:
    ///   - count: number of items.
    ///   - minimumChunk: smallest chunk worth a thread of its own.
    ///   - body: processes the items of one range.
    public static func parallelFor(_ count: Int, minimumChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let workers = min(threads, max(1, count / max(minimumChunk, 1)))
        if workers <= 1 {
            body(0..<count)
            return
        }
        let chunks = workers * 4 < count ? workers * 4 : workers
        let size = (count + chunks - 1) / chunks
        // Each chunk writes a disjoint range, so sharing the closure across threads is safe.
        WorkerPool.shared.run(chunks: chunks, threads: workers) { chunk in
            let start = chunk * size
            let end = min(count, start + size)
            if start < end { body(start..<end) }
        }
    }
}

/// Wraps a value that is shared across threads under a discipline the compiler cannot check.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
