import COctetKernels
@testable import OctetRuntime

/// Runs `body` once per kernel level this CPU has (0 portable, 1 AVX2, 2 AVX-512), with the
/// level forced on this thread and the thread pool at one thread, then restores both. Other
/// suites may change the thread count meanwhile: the pool's workers take on the level forced on
/// the thread whose section they join.
func forEachKernelLevel(_ body: (Int) throws -> Void) rethrows {
    let saved = ThreadPool.threads
    ThreadPool.threads = 1
    defer {
        octet_kernels_set_level(-1)
        ThreadPool.threads = saved
    }
    for level in 0...Int(octet_kernels_level()) {
        octet_kernels_set_level(Int32(level))
        try body(level)
    }
}
