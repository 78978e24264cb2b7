import COctetKernels
import Foundation
import OctetGraph

/// A histogram of |x| with 2,048 bins of width 2^e, where e is the smallest exponent with
/// max|x| < 2048 · 2^e (so the data spans between 1,024 and 2,048 of the bins).
///
/// SPEC §4 describes pytorch-quantization's histogram, whose width is set by the first batch,
/// so its counts depend on sample order, batch size and sharding. Octet keeps SPEC's 2,048 bins
/// and |x| binning but makes the width a power of two chosen by the overall maximum: when a
/// larger value arrives, adjacent bins are added in pairs (`floor(|x|/2w) = floor(floor(|x|/w)/2)`
/// holds exactly for powers of two). The counts are therefore a function of the values alone:
/// byte-identical whatever the order, batch size, thread count or sharding, and any two
/// histograms merge exactly onto the coarser grid. SPEC's test vectors (width 1/512) are such
/// histograms. NaN and ±inf are counted apart and left out.
public struct AbsHistogram: Sendable, Equatable {
    /// Bins of every histogram.
    public static let binCount = 2048

    /// The largest count a loaded histogram may hold (so merged counts cannot overflow).
    public static let largestCount: Int64 = 1 << 50

    /// log2 of the bin width; `nil` while every finite value seen was 0.
    public private(set) var exponent: Int?
    /// Counts per bin: empty until a finite value is seen, then `binCount` entries (zeros seen
    /// before the width was known are in bin 0).
    public private(set) var counts: [Int64] = []
    /// Largest finite |x| seen.
    public private(set) var maxAbs: Float = 0
    /// NaN and infinite values seen (not in the bins).
    public private(set) var nonFinite: Int64 = 0

    /// An empty histogram.
    public init() {}

    /// A histogram with given counts (for tests and saved statistics).
    /// - Parameters:
    ///   - exponent: log2 of the bin width (`nil` for a histogram of zeros only).
    ///   - counts: `binCount` counts (fewer are padded with zeros); bin k covers `[k·w, (k+1)·w)`.
    ///   - maxAbs: the largest |x|; by default the upper edge of the last non-empty bin.
    ///   - nonFinite: NaN and infinite values seen.
    /// - Throws: ``StatisticsError/malformed(_:)`` for counts that do not fit the format.
    public init(exponent: Int?, counts: [Int64], maxAbs: Float? = nil, nonFinite: Int64 = 0) throws {
        guard counts.count <= Self.binCount, counts.allSatisfy({ (0...Self.largestCount).contains($0) }),
              (0...Self.largestCount).contains(nonFinite), counts.reduce(0, +) <= Self.largestCount
        else {
            throw StatisticsError.malformed("a histogram has at most \(Self.binCount) counts, each from 0 to 2^50")
        }
        if let exponent, !(-159...117).contains(exponent) { throw StatisticsError.malformed("bin exponent \(exponent) is out of range") }
        if exponent == nil, counts.dropFirst().contains(where: { $0 != 0 }) {
            throw StatisticsError.malformed("a histogram without a bin width can only count zeros")
        }
        self.exponent = exponent
        self.counts = counts.isEmpty ? [] : counts + [Int64](repeating: 0, count: Self.binCount - counts.count)
        self.nonFinite = nonFinite
        if let maxAbs {
            guard maxAbs.isFinite, maxAbs >= 0 else { throw StatisticsError.malformed("max |x| \(maxAbs) is not a finite magnitude") }
            guard exponent.map({ maxAbs > 0 && Self.exponent(covering: maxAbs) == $0 }) ?? (maxAbs == 0) else {
                throw StatisticsError.malformed("max |x| \(maxAbs) does not match bin exponent \(exponent.map(String.init) ?? "null")")
            }
            self.maxAbs = maxAbs
        } else if let exponent, let last = counts.lastIndex(where: { $0 > 0 }) {
            self.maxAbs = Float(Double(last + 1) * Foundation.pow(2, Double(exponent)))
        }
    }

    /// An empty histogram whose bins start at width 2^exponent, so the values of one observation
    /// are binned in a single pass when they fit (``TensorStatistics/init(startingAt:)``).
    init(startingAt exponent: Int?) {
        guard let exponent else { return }
        self.exponent = exponent
        counts = [Int64](repeating: 0, count: Self.binCount)
    }

    /// Width of every bin (`nil` while only zeros were seen).
    public var binWidth: Double? { exponent.map { Foundation.pow(2, Double($0)) } }

    /// Finite values counted.
    public var total: Int64 { counts.reduce(0, +) }

    /// The smallest exponent whose 2,048 bins of width 2^e hold `value` (value < 2048 · 2^e), so
    /// no value needs clamping into the last bin (a clamp would break exact coarsening).
    static func exponent(covering value: Float) -> Int {
        // value = f · 2^k with f in [0.5, 1): 2^(k−1) ≤ value < 2^k = 2048 · 2^(k − 11).
        frexp(Double(value)).1 - 11
    }

    /// Makes the bins cover `[0, value]`, adding pairs of bins as often as needed.
    mutating func widen(toCover value: Float) {
        guard value > 0 else { return }
        widen(toExponent: Self.exponent(covering: value))
    }

    /// Makes the bins at least 2^needed wide, adding pairs of bins as often as needed.
    mutating func widen(toExponent needed: Int) {
        if counts.isEmpty { counts = [Int64](repeating: 0, count: Self.binCount) }
        guard let current = exponent else {
            exponent = needed
            return
        }
        guard needed > current else { return }
        let shift = needed - current
        var coarse = [Int64](repeating: 0, count: Self.binCount)
        for (index, count) in counts.enumerated() where count != 0 {
            coarse[shift >= 62 ? 0 : index >> shift] += count
        }
        counts = coarse
        exponent = needed
    }

    /// The two power-of-two factors whose product is 1 / binWidth (each representable in float32).
    var scaleFactors: (Float, Float) {
        let inverse = -(exponent ?? 0)
        let first = min(inverse, 126)
        return (Float(sign: .plus, exponent: first, significand: 1), Float(sign: .plus, exponent: inverse - first, significand: 1))
    }

    /// Adds values already scanned: `scan` is their `octet_scan` result. The bins are widened
    /// first, so `bin` can count straight into them.
    /// - Parameters:
    ///   - scan: min, max, max |x| and non-finite count of the values.
    ///   - count: how many values there are.
    ///   - bin: adds the values to the counts it is given, with the scale factors it is given.
    mutating func add(scan: octet_scan_result, count: Int, bin: (_ counts: UnsafeMutablePointer<Int64>, _ s1: Float, _ s2: Float) -> Void) {
        nonFinite += scan.nonfinite
        maxAbs = max(maxAbs, scan.absmax)
        widen(toCover: maxAbs)
        let finite = Int64(count) - scan.nonfinite
        guard finite > 0 else { return }
        if counts.isEmpty { counts = [Int64](repeating: 0, count: Self.binCount) }
        if exponent == nil {
            counts[0] += finite  // only zeros so far
            return
        }
        let (s1, s2) = scaleFactors
        counts.withUnsafeMutableBufferPointer { buffer in
            if let base = buffer.baseAddress { bin(base, s1, s2) }
        }
    }

    /// Adds a batch of values.
    public mutating func add(_ values: UnsafeBufferPointer<Float>) {
        guard let base = values.baseAddress, !values.isEmpty else { return }
        var scan = octet_scan_result()
        octet_scan(base, values.count, &scan)
        add(scan: scan, count: values.count) { counts, s1, s2 in
            octet_abs_histogram(base, values.count, s1, s2, Int32(Self.binCount), counts)
        }
    }

    /// Adds `other`'s counts (statistics of another shard), both on the coarser of the two grids
    /// (and at least as coarse as the largest value needs).
    public mutating func merge(_ other: AbsHistogram) {
        var other = other
        let top = max(maxAbs, other.maxAbs)
        let widths = [exponent, other.exponent, top > 0 ? Self.exponent(covering: top) : nil].compactMap { $0 }
        if let target = widths.max(), !other.counts.isEmpty || !counts.isEmpty {
            widen(toExponent: target)
            other.widen(toExponent: target)
        }
        if counts.isEmpty && !other.counts.isEmpty { counts = [Int64](repeating: 0, count: Self.binCount) }
        for index in other.counts.indices { counts[index] += other.counts[index] }
        maxAbs = top
        nonFinite += other.nonFinite
    }
}

/// Errors combining or using statistics.
public enum StatisticsError: LocalizedError, Equatable {
    /// A range algorithm needs more bins than the histogram has.
    case tooFewBins(needed: Int, have: Int)
    /// Statistics that do not follow the format.
    case malformed(String)

    public var errorDescription: String? {
        switch self {
        case let .tooFewBins(needed, have): "the histogram has \(have) bins; the algorithm needs at least \(needed)"
        case let .malformed(reason): reason
        }
    }
}
