import COctetKernels
import Foundation

/// How a tensor's INT8 range (amax) is chosen from its statistics (SPEC §4).
public enum RangeAlgorithm: Sendable, Equatable, CustomStringConvertible {
    /// KL-divergence threshold search over 128 levels (TensorRT's entropy calibration).
    case entropy
    /// The largest |x| seen.
    case minmax
    /// The |x| below which `percent` % of the values lie.
    case percentile(Double)
    /// The bin centre minimizing the mean squared fake-quantization error.
    case mse

    public var description: String {
        switch self {
        case .entropy: "entropy"
        case .minmax: "minmax"
        case .percentile(let p): "percentile \(Self.number(p))"
        case .mse: "mse"
        }
    }

    /// The method's name as the command line spells it (`entropy`, `minmax`, `percentile`, `mse`).
    public var name: String {
        switch self {
        case .entropy: "entropy"
        case .minmax: "minmax"
        case .percentile: "percentile"
        case .mse: "mse"
        }
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : "\(value)"
    }

    /// The amax this algorithm picks from `histogram` (0 when it holds no non-zero value).
    public func amax(_ histogram: AbsHistogram) throws -> Double {
        switch self {
        case .minmax: return Double(histogram.maxAbs)
        case .entropy: return try RangeSearch.entropy(histogram)
        case .percentile(let percent): return RangeSearch.percentile(histogram, percent)
        case .mse: return try RangeSearch.mse(histogram)
        }
    }
}

/// The histogram searches behind ``RangeAlgorithm``.
enum RangeSearch {
    static let levels = 128

    /// KL(P‖Q) threshold search: for each candidate bin count i ≥ 128, P is the histogram cut at i
    /// with the outlier mass folded into its last bin, Q the same bins quantized to 128 levels
    /// (each level spread evenly over its non-zero bins). The last minimum wins; amax = i·w
    /// (pytorch-quantization's choice; TensorRT's slides describe (i + 0.5)·w); divergences within
    /// a relative 1e-9 of the minimum are ties.
    ///
    /// P's normalizer is the whole histogram for every i, so Σ p·log p over the bins before
    /// i − 1 is a prefix sum, and Q is constant over the bins of a level, which are a contiguous
    /// run (`j ∈ [⌈l·i/128⌉, ⌈(l+1)·i/128⌉)`): each candidate costs 128 steps, not i.
    static func entropy(_ histogram: AbsHistogram) throws -> Double {
        guard let width = histogram.binWidth else { return 0 }
        var bins = histogram.counts.map(Double.init)
        guard bins.count >= levels else { throw StatisticsError.tooFewBins(needed: levels, have: bins.count) }
        bins[0] = bins[1]  // damp the spike at zero after ReLU
        let n = bins.count
        var prefix = [Double](repeating: 0, count: n + 1)
        var nonZero = [Int](repeating: 0, count: n + 1)
        var plogp = [Double](repeating: 0, count: n + 1)
        let total = bins.reduce(0, +)
        guard total > 0 else { return 0 }
        for j in 0..<n {
            prefix[j + 1] = prefix[j] + bins[j]
            nonZero[j + 1] = nonZero[j] + (bins[j] != 0 ? 1 : 0)
            let p = bins[j] / total
            plogp[j + 1] = plogp[j] + (p > 0 ? p * Foundation.log(p) : 0)
        }
        var divergences = [Double](repeating: .infinity, count: n + 1)
        for i in levels...n {
            let outliers = total - prefix[i]
            let qTotal = prefix[i]
            var divergence: Double
            if bins[i - 1] == 0 && outliers > 0 || qTotal == 0 {
                divergence = .infinity  // P > 0 where Q = 0
            } else {
                let last = (bins[i - 1] + outliers) / total
                divergence = plogp[i - 1] + (last > 0 ? last * Foundation.log(last) : 0)
                for level in 0..<levels {
                    let low = (level * i + levels - 1) / levels
                    let high = ((level + 1) * i + levels - 1) / levels
                    let count = nonZero[high] - nonZero[low]
                    guard count > 0 else { continue }
                    let sum = prefix[high] - prefix[low]
                    let q = sum / Double(count) / qTotal
                    let mass = (sum + (high == i ? outliers : 0)) / total
                    divergence -= mass * Foundation.log(q)
                }
            }
            divergences[i] = divergence
        }
        // Candidates whose P and Q are the same (sparse histograms) tie exactly in theory; sums
        // taken in another order differ in the last bits, so values within 1e-9 of the minimum
        // count as ties, and the last one wins.
        let best = divergences[levels...].min() ?? .infinity
        let limit = best.isFinite ? best + 1e-9 * Swift.max(abs(best), 1e-12) : .infinity
        let bestIndex = (levels...n).last { divergences[$0] <= limit } ?? n
        return Double(bestIndex) * width
    }

    /// The left edge of the first bin where the cumulative share reaches `percent` %.
    static func percentile(_ histogram: AbsHistogram, _ percent: Double) -> Double {
        guard let width = histogram.binWidth else { return 0 }
        let total = Double(histogram.total)
        guard total > 0 else { return 0 }
        var running = 0.0
        for (index, count) in histogram.counts.enumerated() {
            running += Double(count)
            if running / total >= percent / 100 { return Double(index) * width }
        }
        return Double(histogram.counts.count) * width
    }

    /// The bin centre c_i (i ≥ 128) minimizing Σ_k count_k · (fq(c_k, c_i) − c_k)², with
    /// narrow-range [-127, 127] fake quantization in float32 and sums in double (a vectorized C
    /// loop over the occupied bins); the first minimum wins. (SPEC's mean over bins divides
    /// every score by the same number, so the argmin is the same.)
    static func mse(_ histogram: AbsHistogram) throws -> Double {
        guard let width = histogram.binWidth else { return 0 }
        let n = histogram.counts.count
        guard n > levels else { throw StatisticsError.tooFewBins(needed: levels + 1, have: n) }
        let edges = (0...n).map { Float(Double($0) * width) }
        let centers = (0..<n).map { (edges[$0] + edges[$0 + 1]) / 2 }
        // Empty bins add nothing to any score.
        let occupied = histogram.counts.indices.filter { histogram.counts[$0] != 0 }
        let values = occupied.map { centers[$0] }
        let weights = occupied.map { Double(histogram.counts[$0]) }
        let candidates = Array(centers[levels...])
        var scores = [Double](repeating: 0, count: candidates.count)
        scores.withUnsafeMutableBufferPointer { out in
            octet_mse_scores(values, weights, values.count, candidates, candidates.count, out.baseAddress)
        }
        var bestIndex = 0
        for index in scores.indices where scores[index] < scores[bestIndex] { bestIndex = index }
        return Double(candidates[bestIndex])
    }
}
