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
        case .percentile(let p): "percentile \(p)"
        case .mse: "mse"
        }
    }

    /// The amax this algorithm picks from `histogram`.
    public func amax(_ histogram: AbsHistogram) throws -> Double {
        switch self {
        case .minmax: return histogram.maxAbs
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
    /// (pytorch-quantization's choice; TensorRT's slides describe (i + 0.5)·w).
    static func entropy(_ histogram: AbsHistogram) throws -> Double {
        guard let width = histogram.binWidth else { return 0 }
        var bins = histogram.counts
        guard bins.count >= levels else { throw StatisticsError.tooFewBins(needed: levels, have: bins.count) }
        bins[0] = bins[1]  // damp the spike at zero after ReLU
        var suffix = [Double](repeating: 0, count: bins.count + 1)
        for index in stride(from: bins.count - 1, through: 0, by: -1) { suffix[index] = suffix[index + 1] + bins[index] }
        var best = Double.infinity
        var bestIndex = levels
        var levelSums = [Double](repeating: 0, count: levels)
        var levelNonZero = [Int](repeating: 0, count: levels)
        for i in levels...bins.count {
            for level in 0..<levels {
                levelSums[level] = 0
                levelNonZero[level] = 0
            }
            for j in 0..<i where bins[j] != 0 {
                let level = levels * j / i
                levelSums[level] += bins[j]
                levelNonZero[level] += 1
            }
            let pTotal = suffix[0]
            var qTotal = 0.0
            for level in 0..<levels where levelNonZero[level] > 0 { qTotal += levelSums[level] }
            var divergence = 0.0
            for j in 0..<i {
                let p = (j == i - 1 ? bins[j] + suffix[i] : bins[j]) / pTotal
                guard p > 0 else { continue }
                let level = levels * j / i
                let q = bins[j] == 0 ? 0 : levelSums[level] / Double(levelNonZero[level]) / qTotal
                if q == 0 {
                    divergence = .infinity
                    break
                }
                divergence += p * Foundation.log(p / q)
            }
            if divergence <= best {
                best = divergence
                bestIndex = i
            }
        }
        return Double(bestIndex) * width
    }

    /// The left edge of the first bin where the cumulative share reaches `percent` %.
    static func percentile(_ histogram: AbsHistogram, _ percent: Double) -> Double {
        guard let width = histogram.binWidth else { return 0 }
        let total = histogram.counts.reduce(0, +)
        guard total > 0 else { return 0 }
        var running = 0.0
        for (index, count) in histogram.counts.enumerated() {
            running += count
            if running / total >= percent / 100 { return Double(index) * width }
        }
        return Double(histogram.counts.count) * width
    }

    /// The bin centre c_i (i ≥ 128) minimizing mean_k((fq(c_k, c_i) − c_k)² · count_k), with
    /// narrow-range [-127, 127] fake quantization, computed in float32; the first minimum wins.
    static func mse(_ histogram: AbsHistogram) throws -> Double {
        guard let width = histogram.binWidth else { return 0 }
        let counts = histogram.counts.map { Float($0) }
        guard counts.count > levels else { throw StatisticsError.tooFewBins(needed: levels + 1, have: counts.count) }
        let edges = (0...counts.count).map { Float(Double($0) * width) }
        let centers = (0..<counts.count).map { (edges[$0] + edges[$0 + 1]) / 2 }
        var best = Float.infinity
        var bestIndex = levels
        for i in levels..<centers.count {
            let amax = centers[i]
            let scale = 127 / amax
            var total: Float = 0
            for k in 0..<centers.count {
                let quantized = min(max((centers[k] * scale).rounded(.toNearestOrEven), -127), 127) / scale
                let error = quantized - centers[k]
                total += error * error * counts[k]
            }
            let mean = total / Float(centers.count)
            if mean < best {
                best = mean
                bestIndex = i
            }
        }
        return Double(centers[bestIndex])
    }
}
