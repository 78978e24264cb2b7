import Foundation

/// Running error of one tensor of a quantized model against the FP32 reference, over samples:
/// signal and noise power (for SQNR), per-sample cosine similarity (sum and minimum), largest
/// absolute error, and arg-max agreement of `[batch, classes]` tensors. Memory is constant in
/// the number of samples.
struct ErrorAccumulator {
    var cosineSum = 0.0
    var cosineMin = Double.infinity
    var samples = 0
    var signal = 0.0
    var noise = 0.0
    var maxAbs = 0.0
    var rows = 0
    var agreeing = 0
    var classScores = true

    /// Adds one sample.
    /// - Parameters:
    ///   - a: the FP32 values.
    ///   - b: the quantized model's values (same count).
    ///   - shape: their shape (rank 2 with ≥ 2 columns counts as class scores).
    mutating func add(_ a: [Double], _ b: [Double], shape: [Int]) {
        var dot = 0.0, normA = 0.0, normB = 0.0
        for index in a.indices where a[index].isFinite && b[index].isFinite {
            dot += a[index] * b[index]
            normA += a[index] * a[index]
            normB += b[index] * b[index]
            let error = a[index] - b[index]
            noise += error * error
            maxAbs = max(maxAbs, abs(error))
        }
        signal += normA
        let cosine = normA == 0 && normB == 0 ? 1 : dot / max((normA * normB).squareRoot(), .leastNonzeroMagnitude)
        cosineSum += cosine
        cosineMin = min(cosineMin, cosine)
        samples += 1
        guard shape.count == 2, let classes = shape.last, classes >= 2 else {
            classScores = false
            return
        }
        for row in 0..<(a.count / classes) {
            let slice = (row * classes)..<((row + 1) * classes)
            let wanted = slice.max { a[$0] < a[$1] }
            let got = slice.max { b[$0] < b[$1] }
            rows += 1
            if wanted == got { agreeing += 1 }
        }
    }

    /// Signal-to-quantization-noise ratio in dB (+∞ when the values are identical).
    var sqnr: Double { noise > 0 ? 10 * Foundation.log10(signal / noise) : .infinity }

    /// The summary for `name`, or `nil` before any sample.
    func report(name: String) -> AccuracyEvaluator.OutputReport? {
        guard samples > 0 else { return nil }
        return AccuracyEvaluator.OutputReport(name: name, meanCosine: cosineSum / Double(samples), minCosine: cosineMin, sqnr: sqnr,
                                              maxAbsError: maxAbs, top1Agreement: classScores && rows > 0 ? Double(agreeing) / Double(rows) : nil)
    }
}
