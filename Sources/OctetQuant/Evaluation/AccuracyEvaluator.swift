import Foundation
import OctetData
import OctetGraph
import OctetRuntime

/// Runs the FP32 model and its Q/DQ version on the same samples with Octet's engine and
/// compares every graph output: cosine similarity per sample (mean and minimum), SQNR over all
/// elements, the largest absolute error, and top-1 agreement for outputs shaped like class
/// scores (`[batch, classes]` with at least two classes).
public struct AccuracyEvaluator {
    /// The comparison of one output.
    public struct OutputReport: Codable, Sendable, Equatable {
        /// Output name.
        public var name: String
        /// Mean over samples of the cosine similarity between FP32 and INT8.
        public var meanCosine: Double
        /// Smallest per-sample cosine similarity.
        public var minCosine: Double
        /// 10·log10(Σ fp32² / Σ (fp32 − int8)²) over every element, in dB.
        public var sqnr: Double
        /// Largest |fp32 − int8|.
        public var maxAbsError: Double
        /// Share of rows whose arg-max agrees, for class-score outputs (else `nil`).
        public var top1Agreement: Double?

        enum CodingKeys: String, CodingKey { case name, meanCosine, minCosine, sqnr, maxAbsError, top1Agreement }

        /// Writes an absent top-1 agreement as null, so the document's keys are stable.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encode(meanCosine, forKey: .meanCosine)
            try container.encode(minCosine, forKey: .minCosine)
            try container.encode(sqnr.isFinite ? sqnr : 999, forKey: .sqnr)
            try container.encode(maxAbsError, forKey: .maxAbsError)
            try container.encode(top1Agreement, forKey: .top1Agreement)
        }
    }

    private struct Accumulator {
        var cosines: [Double] = []
        var signal = 0.0
        var noise = 0.0
        var maxAbs = 0.0
        var rows = 0
        var agreeing = 0
        var classScores = true
    }

    let reference: Session
    let quantized: Session
    let outputs: [String]

    /// - Parameters:
    ///   - reference: the FP32 model.
    ///   - quantized: its Q/DQ version (same inputs and outputs).
    public init(reference: Model, quantized: Model) throws {
        self.reference = try Session(model: reference)
        self.quantized = try Session(model: quantized)
        outputs = reference.graph.outputs.map(\.name)
    }

    /// Compares the two models on every sample that `keep` selects.
    /// - Parameters:
    ///   - data: the samples (validated like calibration data).
    ///   - model: the FP32 model (for validation).
    ///   - keep: which sample indexes to use.
    /// - Returns: one report per float output, and the number of samples compared.
    /// - Throws: ``DataError`` listing the data's problems; ``RuntimeError`` from either run.
    public func evaluate(_ data: CalibrationData, model: Model, keep: (Int) -> Bool) throws -> (outputs: [OutputReport], samples: Int) {
        var validator = FeedValidator(model: model, allowNonfinite: true, recordStatistics: false)
        var totals: [String: Accumulator] = [:]
        var samples = 0
        try data.forEach { sample in
            guard keep(sample.index) else { return true }
            guard let feeds = validator.check(sample) else { return true }
            let expected = try reference.run(feeds, outputs: outputs)
            let actual = try quantized.run(feeds, outputs: outputs)
            samples += 1
            for name in outputs {
                guard let want = expected[name], let got = actual[name], want.dtype.isFloatingPoint, want.shape == got.shape,
                      let a = try? want.doubles(), let b = try? got.doubles()
                else { continue }
                var total = totals[name] ?? Accumulator()
                Self.accumulate(&total, a, b, shape: want.shape)
                totals[name] = total
            }
            return true
        }
        if !validator.problems.isEmpty { throw DataError.invalid(problems: validator.problems) }
        let reports = outputs.compactMap { name -> OutputReport? in
            guard let total = totals[name], !total.cosines.isEmpty else { return nil }
            return OutputReport(
                name: name, meanCosine: total.cosines.reduce(0, +) / Double(total.cosines.count), minCosine: total.cosines.min() ?? 0,
                sqnr: total.noise > 0 ? 10 * Foundation.log10(total.signal / total.noise) : .infinity, maxAbsError: total.maxAbs,
                top1Agreement: total.classScores && total.rows > 0 ? Double(total.agreeing) / Double(total.rows) : nil)
        }
        return (reports, samples)
    }

    private static func accumulate(_ total: inout Accumulator, _ a: [Double], _ b: [Double], shape: [Int]) {
        var dot = 0.0, normA = 0.0, normB = 0.0
        for index in a.indices where a[index].isFinite && b[index].isFinite {
            dot += a[index] * b[index]
            normA += a[index] * a[index]
            normB += b[index] * b[index]
            let error = a[index] - b[index]
            total.noise += error * error
            total.maxAbs = max(total.maxAbs, abs(error))
        }
        total.signal += normA
        total.cosines.append(normA == 0 && normB == 0 ? 1 : dot / max((normA * normB).squareRoot(), .leastNonzeroMagnitude))
        guard shape.count == 2, let classes = shape.last, classes >= 2 else {
            total.classScores = false
            return
        }
        for row in 0..<(a.count / classes) {
            let slice = (row * classes)..<((row + 1) * classes)
            let wanted = slice.max { a[$0] < a[$1] }
            let got = slice.max { b[$0] < b[$1] }
            total.rows += 1
            if wanted == got { total.agreeing += 1 }
        }
    }
}
