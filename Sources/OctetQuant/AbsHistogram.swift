import Foundation
import OctetGraph

/// A histogram of |x| over `[0, binWidth × counts.count)`, as TensorRT, pytorch-quantization and
/// ModelOpt collect it (SPEC §4): the first non-zero batch sets 2,048 bins over `[0, max|x|]`;
/// a later batch with a larger maximum keeps the width and adds bins. NaN and ±inf are counted
/// apart and left out. Two histograms of equal width merge exactly by adding counts.
public struct AbsHistogram: Codable, Sendable, Equatable {
    /// Bins created by the first non-zero batch.
    public static let initialBins = 2048

    /// Width of every bin; `nil` until a batch with a non-zero value arrives.
    public private(set) var binWidth: Double?
    /// Counts per bin.
    public private(set) var counts: [Double] = []
    /// Zeros seen before the width was known (added to bin 0 once it is).
    public private(set) var pendingZeros: Double = 0
    /// Largest finite |x| seen.
    public private(set) var maxAbs: Double = 0
    /// NaN and infinite values seen (not in the bins).
    public private(set) var nonFinite = 0
    /// Finite values counted.
    public var total: Double { counts.reduce(0, +) + pendingZeros }

    /// An empty histogram.
    public init() {}

    /// A histogram with given counts (for tests and loading saved statistics).
    /// - Parameters:
    ///   - binWidth: width of each bin.
    ///   - counts: counts per bin; bin k covers `[k·w, (k+1)·w)`.
    public init(binWidth: Double, counts: [Double]) {
        self.binWidth = binWidth
        self.counts = counts
        if let last = counts.lastIndex(where: { $0 > 0 }) { maxAbs = Double(last + 1) * binWidth }
    }

    /// Bin edges `e_k = k·w`, k = 0 … counts.count.
    public var edges: [Double] { (0...counts.count).map { Double($0) * (binWidth ?? 0) } }

    /// Adds a batch of values.
    public mutating func add(_ values: UnsafeBufferPointer<Float>) {
        var batchMax: Float = 0
        var bad = 0
        for value in values {
            if value.isFinite { batchMax = max(batchMax, abs(value)) } else { bad += 1 }
        }
        nonFinite += bad
        maxAbs = max(maxAbs, Double(batchMax))
        guard batchMax > 0 else {
            let zeros = Double(values.count - bad)
            if binWidth == nil { pendingZeros += zeros } else if !counts.isEmpty { counts[0] += zeros }
            return
        }
        if binWidth == nil {
            binWidth = Double(batchMax) / Double(Self.initialBins)
            counts = [Double](repeating: 0, count: Self.initialBins)
            counts[0] += pendingZeros
            pendingZeros = 0
        }
        guard let width = binWidth else { return }
        let needed = Int((Double(batchMax) / width).rounded(.up))
        if needed > counts.count { counts += [Double](repeating: 0, count: needed - counts.count) }
        let last = counts.count - 1
        for value in values where value.isFinite {
            counts[min(Int(Double(abs(value)) / width), last)] += 1
        }
    }

    /// Adds a float32 tensor's values.
    public mutating func add(_ tensor: Tensor) {
        tensor.withElements(as: Float.self) { add($0) }
    }

    /// Adds `other`'s counts (statistics of another shard).
    /// - Throws: ``StatisticsError/widthMismatch`` when both have bins of different widths.
    public mutating func merge(_ other: AbsHistogram) throws {
        if let mine = binWidth, let theirs = other.binWidth, mine != theirs { throw StatisticsError.widthMismatch(mine, theirs) }
        nonFinite += other.nonFinite
        maxAbs = max(maxAbs, other.maxAbs)
        var zeros = other.pendingZeros
        if let theirs = other.binWidth {
            if binWidth == nil {
                binWidth = theirs
                counts = [Double](repeating: 0, count: other.counts.count)
                zeros += pendingZeros
                pendingZeros = 0
            }
            if other.counts.count > counts.count { counts += [Double](repeating: 0, count: other.counts.count - counts.count) }
            for (index, count) in other.counts.enumerated() { counts[index] += count }
        }
        if binWidth == nil { pendingZeros += zeros } else if !counts.isEmpty { counts[0] += zeros }
    }
}

/// Errors combining or using statistics.
public enum StatisticsError: LocalizedError, Equatable {
    /// Histograms whose bins have different widths cannot be merged exactly.
    case widthMismatch(Double, Double)
    /// A range algorithm needs more bins than the histogram has.
    case tooFewBins(needed: Int, have: Int)

    public var errorDescription: String? {
        switch self {
        case let .widthMismatch(a, b): "histograms with bin widths \(a) and \(b) cannot be merged exactly"
        case let .tooFewBins(needed, have): "the histogram has \(have) bins; the algorithm needs at least \(needed)"
        }
    }
}

