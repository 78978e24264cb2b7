import Dispatch
import Foundation
import OctetGraph

/// The INT8 range chosen for one tensor, with the statistics it came from.
public struct TensorRange: Codable, Sendable, Equatable {
    /// ONNX value name.
    public var name: String
    /// The chosen range: values in [-amax, amax] are represented.
    public var amax: Double
    /// amax / 127 in float32 (the scale TensorRT and Q/DQ nodes use).
    public var scale: Float
    /// The method that chose amax (`entropy`, `minmax`, `percentile 99.99`, `mse`, or `cache`).
    public var method: String
    /// Smallest finite value seen (`nil` when none was, or for ranges read from a cache).
    @EncodedAsNull public var min: Float?
    /// Largest finite value seen.
    @EncodedAsNull public var max: Float?
    /// Largest finite |x| seen.
    @EncodedAsNull public var absmax: Float?
    /// NaN and infinite values seen.
    public var nonFinite: Int64
    /// Finite values seen.
    public var count: Int64

    /// A range read from a TensorRT cache (only the scale is known).
    public init(cacheEntry entry: CalibrationCache.Entry) {
        name = entry.name
        scale = entry.scale
        amax = Double(entry.scale) * 127
        method = "cache"
        nonFinite = 0
        count = 0
    }

    init(name: String, amax: Double, method: String, statistics: TensorStatistics) {
        self.name = name
        self.amax = amax
        scale = Int8Quantization.scale(amax: amax)
        self.method = method
        min = statistics.minimum
        max = statistics.maximum
        absmax = statistics.count > 0 ? statistics.absmax : nil
        nonFinite = statistics.nonFinite
        count = statistics.count
    }

    /// A range computed rather than observed (a smoothed activation's exact largest |x|).
    init(name: String, amax: Double, method: String) {
        self.name = name
        self.amax = amax
        scale = Int8Quantization.scale(amax: amax)
        self.method = method
        absmax = Float(amax)
        nonFinite = 0
        count = 0
    }

    /// The range `algorithm` picks from a tensor's statistics.
    /// - Throws: ``StatisticsError`` when the histogram cannot be searched.
    public init(name: String, method algorithm: RangeAlgorithm, statistics: TensorStatistics) throws {
        self.init(name: name, amax: try algorithm.amax(statistics.histogram), method: algorithm.description, statistics: statistics)
    }

    /// absmax / amax: how far the largest value lies past the chosen range (1 for minmax).
    public var clippingRatio: Double? {
        guard let absmax, amax > 0 else { return nil }
        return Double(absmax) / amax
    }
}

extension CalibrationStatistics {
    /// The range of every tensor, in the statistics' order, computed in parallel (each tensor's
    /// search is independent, so the result does not depend on the thread count).
    /// - Parameters:
    ///   - algorithm: how amax is chosen.
    ///   - observedMaximum: tensors that take their largest |x| whatever the algorithm (outputs
    ///     bounded by construction, such as Softmax probabilities, whose few large values are the
    ///     ones that matter: clipping them flattens attention).
    public func ranges(_ algorithm: RangeAlgorithm, observedMaximum: Set<String> = []) throws -> [TensorRange] {
        let items = tensors
        var results = [Result<TensorRange, Error>?](repeating: nil, count: items.count)
        results.withUnsafeMutableBufferPointer { buffer in
            let shared = UnsafeSendable(buffer)
            DispatchQueue.concurrentPerform(iterations: items.count) { index in
                let (name, statistics) = items[index]
                let chosen = observedMaximum.contains(name) ? RangeAlgorithm.minmax : algorithm
                shared.value[index] = Result {
                    TensorRange(name: name, amax: try chosen.amax(statistics.histogram), method: chosen.description, statistics: statistics)
                }
            }
        }
        return try results.map { result in
            guard let result else { throw StatisticsError.malformed("a range was not computed") }
            return try result.get()
        }
    }
}
