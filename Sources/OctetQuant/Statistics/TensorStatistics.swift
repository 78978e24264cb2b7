import COctetKernels
import Dispatch
import Foundation
import OctetGraph
import OctetRuntime

/// What calibration learns about one floating-point tensor: counts, extremes and the |x|
/// histogram. Every field is an integer or an exact extreme, so merging is exact and the result
/// does not depend on order, batch size, threads or sharding.
public struct TensorStatistics: Sendable, Equatable {
    /// Finite values seen.
    public private(set) var count: Int64 = 0
    /// Smallest finite value (`nil` until one is seen).
    public private(set) var minimum: Float?
    /// Largest finite value.
    public private(set) var maximum: Float?
    /// The |x| histogram (also holds max |x| and the non-finite count).
    public private(set) var histogram = AbsHistogram()

    /// NaN and infinite values seen.
    public var nonFinite: Int64 { histogram.nonFinite }
    /// Largest finite |x|.
    public var absmax: Float { histogram.maxAbs }

    /// Empty statistics.
    public init() {}

    /// Statistics as saved (see ``StatsFile``).
    public init(count: Int64, minimum: Float?, maximum: Float?, histogram: AbsHistogram) throws {
        guard count >= 0, count == histogram.total else {
            throw StatisticsError.malformed("the value count \(count) differs from the histogram's total \(histogram.total)")
        }
        guard (minimum == nil) == (maximum == nil), (minimum ?? 0).isFinite, (maximum ?? 0).isFinite else {
            throw StatisticsError.malformed("min and max must both be finite numbers or both be absent")
        }
        self.count = count
        self.minimum = minimum
        self.maximum = maximum
        self.histogram = histogram
    }

    /// Empty statistics whose histogram starts with bins of width 2^exponent (that of the
    /// statistics these will be merged into), for one observation.
    init(startingAt exponent: Int?) { histogram = AbsHistogram(startingAt: exponent) }

    /// Values per chunk when a tensor is split over threads.
    static let chunk = 1 << 17
    /// Tensors smaller than this are scanned, then binned straight into the counts (no scratch).
    static let small = 1 << 15

    /// Adds float32 values, split over threads for large tensors. When the bins already cover
    /// the values (every sample after the first few), one vectorized pass finds the extremes and
    /// bins; otherwise a scan finds the new maximum, the bins widen, and a second pass bins.
    public mutating func add(_ values: UnsafeBufferPointer<Float>) {
        guard let base = values.baseAddress, !values.isEmpty else { return }
        let n = values.count
        if n < Self.small {
            var scan = octet_scan_result()
            octet_scan(base, n, &scan)
            record(scan, count: n)
            histogram.add(scan: scan, count: n) { counts, s1, s2 in
                octet_abs_histogram(base, n, s1, s2, Int32(AbsHistogram.binCount), counts)
            }
            return
        }
        let pieces = min(ThreadPool.threads, max(1, n / Self.chunk))
        let size = (n + pieces - 1) / pieces
        let ranges = (0..<pieces).map { ($0 * size)..<min(n, ($0 + 1) * size) }
        let bins = AbsHistogram.binCount
        var scans = [octet_scan_result](repeating: octet_scan_result(), count: pieces)
        var binned: [Int64] = []
        if histogram.exponent != nil {
            let (s1, s2) = histogram.scaleFactors
            binned = [Int64](repeating: 0, count: pieces * bins)
            var overflow = [Int32](repeating: 0, count: pieces)
            scans.withUnsafeMutableBufferPointer { results in
                binned.withUnsafeMutableBufferPointer { counts in
                    overflow.withUnsafeMutableBufferPointer { flags in
                        let shared = UnsafeSendable((results, counts, flags))
                        ThreadPool.parallelFor(pieces) { chunk in
                            for piece in chunk {
                                let range = ranges[piece]
                                guard let countsBase = shared.value.1.baseAddress else { continue }
                                shared.value.2[piece] = octet_scan_abs_histogram(
                                    base + range.lowerBound, range.count, s1, s2, Int32(bins), countsBase + piece * bins, &shared.value.0[piece])
                            }
                        }
                    }
                }
            }
            if overflow.contains(where: { $0 != 0 }) { binned = [] }
        } else {
            scans.withUnsafeMutableBufferPointer { results in
                let shared = UnsafeSendable(results)
                ThreadPool.parallelFor(pieces) { chunk in
                    for piece in chunk {
                        let range = ranges[piece]
                        octet_scan(base + range.lowerBound, range.count, &shared.value[piece])
                    }
                }
            }
        }
        var scan = scans[0]
        for other in scans.dropFirst() {
            scan.min = Swift.min(scan.min, other.min)
            scan.max = Swift.max(scan.max, other.max)
            scan.absmax = Swift.max(scan.absmax, other.absmax)
            scan.nonfinite += other.nonfinite
        }
        record(scan, count: n)
        histogram.add(scan: scan, count: n) { counts, s1, s2 in
            if !binned.isEmpty {
                // Counted in the single pass: the bins did not have to widen.
                for index in binned.indices { counts[index % bins] += binned[index] }
                return
            }
            if pieces == 1 {
                octet_abs_histogram(base, n, s1, s2, Int32(bins), counts)
                return
            }
            var partial = [Int64](repeating: 0, count: pieces * bins)
            partial.withUnsafeMutableBufferPointer { buffer in
                let shared = UnsafeSendable(buffer)
                guard let partialBase = shared.value.baseAddress else { return }
                ThreadPool.parallelFor(pieces) { chunk in
                    for piece in chunk {
                        let range = ranges[piece]
                        octet_abs_histogram(base + range.lowerBound, range.count, s1, s2, Int32(bins), partialBase + piece * bins)
                    }
                }
            }
            for piece in 0..<pieces {
                for bin in 0..<bins { counts[bin] += partial[piece * bins + bin] }
            }
        }
    }

    /// Counts the finite values of a scan and updates the extremes.
    private mutating func record(_ scan: octet_scan_result, count n: Int) {
        let finite = Int64(n) - scan.nonfinite
        count += finite
        if finite > 0 {
            minimum = Swift.min(minimum ?? scan.min, scan.min)
            maximum = Swift.max(maximum ?? scan.max, scan.max)
        }
    }

    /// Adds a floating-point tensor's values (float16, bfloat16 and float64 are converted to
    /// float32 first); other types are ignored.
    public mutating func add(_ tensor: Tensor) {
        guard tensor.dtype.isFloatingPoint else { return }
        if tensor.dtype == .float32 {
            tensor.withElements(as: Float.self) { add($0) }
        } else if let converted = try? tensor.converted(to: .float32) {
            converted.withElements(as: Float.self) { add($0) }
        }
    }

    /// Adds another run's or shard's statistics (exact).
    public mutating func merge(_ other: TensorStatistics) {
        count += other.count
        if let low = other.minimum { minimum = Swift.min(minimum ?? low, low) }
        if let high = other.maximum { maximum = Swift.max(maximum ?? high, high) }
        histogram.merge(other.histogram)
    }
}

/// A pointer shared by threads that write disjoint elements.
struct UnsafeSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
