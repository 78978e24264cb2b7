import COctetKernels
import Foundation
import Synchronization

/// Persistent worker threads for ``ThreadPool/parallelFor(_:minimumChunk:_:)``: one job at a
/// time, its chunks taken from an atomic counter by the caller and the workers together.
/// Workers spin briefly for the next job before sleeping, so the many small parallel sections
/// of one model run cost no thread wake-ups (GCD's `concurrentPerform` paid one per section).
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool()

    /// The job being run: a pointer to the caller's closure (valid while the job runs) and how
    /// many chunks it has. Workers copy the closure, run chunks, and release it before leaving.
    private let job = Atomic<Int>(0)
    private let chunkCount = Atomic<Int>(0)
    private let nextChunk = Atomic<Int>(0)
    private let unfinished = Atomic<Int>(0)
    /// The kernel level forced on the job's calling thread (-1: none), taken on by the workers
    /// that join it, so that a section computes the same way on every thread.
    private let level = Atomic<Int>(-1)
    /// Workers inside a job (holding a copy of its closure).
    private let active = Atomic<Int>(0)
    /// Bumped for every job; workers wait for it to change.
    private let generation = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let wake = NSCondition()
    /// Serializes jobs; a job started while another runs (a nested call, another session's
    /// thread) runs on its caller's thread alone.
    private let jobLock = NSLock()
    private let workersLock = NSLock()
    private var workers = 0

    /// Spins (with a pause hint) before a worker sleeps: about 50 µs.
    private static let spinLimit = 20_000

    /// Runs `body(chunk)` for every chunk in `0..<chunks` on the caller and up to `threads − 1`
    /// workers; returns when all are done.
    func run(chunks: Int, threads: Int, _ body: (Int) -> Void) {
        guard chunks > 1, threads > 1, jobLock.try() else {
            for chunk in 0..<chunks { body(chunk) }
            return
        }
        defer { jobLock.unlock() }
        startWorkers(threads - 1)
        withoutActuallyEscaping(body) { body in
            var closure = body
            withUnsafeMutablePointer(to: &closure) { pointer in
                chunkCount.store(chunks, ordering: .relaxed)
                nextChunk.store(0, ordering: .relaxed)
                unfinished.store(chunks, ordering: .relaxed)
                level.store(Int(octet_kernels_forced_level()), ordering: .relaxed)
                job.store(Int(bitPattern: UnsafeMutableRawPointer(pointer)), ordering: .releasing)
                generation.add(1, ordering: .sequentiallyConsistent)
                if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                    wake.lock()
                    wake.broadcast()
                    wake.unlock()
                }
                Self.takeChunks(from: pointer.pointee, next: nextChunk, count: chunks, unfinished: unfinished)
                while unfinished.load(ordering: .acquiring) > 0 { Self.pause() }
                job.store(0, ordering: .sequentiallyConsistent)
                while active.load(ordering: .sequentiallyConsistent) > 0 { Self.pause() }
            }
        }
    }

    /// Runs chunks until none is left.
    private static func takeChunks(from body: (Int) -> Void, next: borrowing Atomic<Int>, count: Int, unfinished: borrowing Atomic<Int>) {
        while true {
            let chunk = next.add(1, ordering: .relaxed).oldValue
            if chunk >= count { return }
            body(chunk)
            unfinished.subtract(1, ordering: .releasing)
        }
    }

    private func startWorkers(_ wanted: Int) {
        workersLock.lock()
        defer { workersLock.unlock() }
        while workers < wanted {
            workers += 1
            let thread = Thread { [unowned self] in self.workerLoop() }
            thread.name = "octet-worker-\(workers)"
            thread.start()
        }
    }

    private func workerLoop() {
        var seen = generation.load(ordering: .sequentiallyConsistent)
        while true {
            var spins = 0
            while generation.load(ordering: .sequentiallyConsistent) == seen {
                if spins < Self.spinLimit {
                    spins += 1
                    Self.pause()
                    continue
                }
                wake.lock()
                sleepers.add(1, ordering: .sequentiallyConsistent)
                while generation.load(ordering: .sequentiallyConsistent) == seen { wake.wait() }
                sleepers.subtract(1, ordering: .sequentiallyConsistent)
                wake.unlock()
            }
            seen = generation.load(ordering: .sequentiallyConsistent)
            active.add(1, ordering: .sequentiallyConsistent)
            joinJob()
            active.subtract(1, ordering: .sequentiallyConsistent)
        }
    }

    /// Takes chunks of the current job, if one is still published; the copy of its closure is
    /// released when this returns, before `active` drops.
    @inline(never)
    private func joinJob() {
        let address = job.load(ordering: .sequentiallyConsistent)
        guard let raw = UnsafeMutableRawPointer(bitPattern: address) else { return }
        let body = raw.assumingMemoryBound(to: ((Int) -> Void).self).pointee
        octet_kernels_set_level(Int32(level.load(ordering: .relaxed)))
        Self.takeChunks(from: body, next: nextChunk, count: chunkCount.load(ordering: .relaxed), unfinished: unfinished)
    }

    /// The CPU's spin-wait hint (`pause` on x86; a no-op elsewhere).
    @inline(__always)
    private static func pause() { octet_cpu_pause() }
}
