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

    /// Task accuracy against labels: the arg-max of a class-score output vs the true class.
    public struct TaskAccuracy: Codable, Sendable, Equatable {
        /// The class-score output the labels were compared with.
        public var output: String
        /// Labelled rows compared.
        public var rows: Int
        /// Share of rows the FP32 model classifies correctly.
        public var fp32: Double
        /// Share of rows the INT8 model classifies correctly.
        public var int8: Double
        /// fp32 − int8, in percentage points.
        public var dropPoints: Double { (fp32 - int8) * 100 }
    }

    /// What ``evaluate(_:model:labels:keep:)`` found.
    public struct Evaluation: Sendable, Equatable {
        /// One report per float output.
        public var outputs: [OutputReport]
        /// Samples compared.
        public var samples: Int
        /// Accuracy against the labels, when labels were given.
        public var task: TaskAccuracy?
    }

    /// Labels that do not fit the evaluation samples.
    public enum LabelError: LocalizedError, Equatable {
        /// No output is shaped `[batch, classes]`.
        case noClassScores(outputs: [String])
        /// The labels and the rows of the class-score output differ in number.
        case countMismatch(labels: Int, rows: Int, output: String)
        /// A label outside 0..<classes.
        case outOfRange(index: Int, label: Int, classes: Int)

        public var errorDescription: String? {
            switch self {
            case let .noClassScores(outputs):
                "labels need an output shaped [batch, classes]; the model's outputs are \(outputs.joined(separator: ", "))"
            case let .countMismatch(labels, rows, output):
                "there are \(labels) labels but the evaluation samples gave \(rows) rows of '\(output)'; give one label per row, in sample order"
            case let .outOfRange(index, label, classes):
                "label \(index) is \(label), outside 0..<\(classes) (the classes of the model's output)"
            }
        }
    }

    let reference: Session
    let quantized: Session
    let outputs: [String]

    /// - Parameters:
    ///   - reference: the FP32 model.
    ///   - quantized: its Q/DQ version (same inputs and outputs).
    public init(reference: Model, quantized: Model) throws {
        // Only graph outputs are compared, so the sessions may fuse (BatchNorm, Conv → Relu).
        self.reference = try Session(model: reference, options: .init(fuse: true))
        self.quantized = try Session(model: quantized, options: .init(fuse: true))
        outputs = reference.graph.outputs.map(\.name)
    }

    /// Compares the two models on every sample that `keep` selects.
    /// - Parameters:
    ///   - data: the samples (validated like calibration data).
    ///   - model: the FP32 model (for validation).
    ///   - labels: true classes, one per row of the first output shaped `[batch, classes]`, in
    ///     sample order (`nil`: no task accuracy).
    ///   - keep: which sample indexes to use.
    /// - Returns: one report per float output, the number of samples compared, task accuracy.
    /// - Throws: ``DataError`` listing the data's problems; ``LabelError``; ``RuntimeError`` from either run.
    ///   - outputs: called with each compared sample's outputs of both models (FP32, then INT8), in order.
    public func evaluate(_ data: CalibrationData, model: Model, labels: [Int]? = nil, keep: (Int) -> Bool,
                         outputs sink: ((_ fp32: [String: Tensor], _ int8: [String: Tensor]) throws -> Void)? = nil) throws -> Evaluation {
        var validator = FeedValidator(model: model, allowNonfinite: true, recordStatistics: false)
        var totals: [String: ErrorAccumulator] = [:]
        var samples = 0
        var task = labels.map { _ in TaskCounter() }
        try data.forEach { sample in
            guard keep(sample.index) else { return true }
            guard let feeds = validator.check(sample) else { return true }
            let expected = try reference.run(feeds, outputs: outputs)
            let actual = try quantized.run(feeds, outputs: outputs)
            samples += 1
            try sink?(expected, actual)
            if let labels, task != nil { try task?.count(expected, actual, outputs: outputs, labels: labels) }
            for name in outputs {
                guard let want = expected[name], let got = actual[name], want.dtype.isFloatingPoint, want.shape == got.shape,
                      let a = try? want.doubles(), let b = try? got.doubles()
                else { continue }
                totals[name, default: ErrorAccumulator()].add(a, b, shape: want.shape)
            }
            return true
        }
        if !validator.problems.isEmpty { throw DataError.invalid(problems: validator.problems) }
        var accuracy: TaskAccuracy?
        if let labels, let task {
            guard let output = task.output else { throw LabelError.noClassScores(outputs: outputs) }
            guard task.rows == labels.count else { throw LabelError.countMismatch(labels: labels.count, rows: task.rows, output: output) }
            accuracy = TaskAccuracy(output: output, rows: task.rows, fp32: Double(task.fp32Correct) / Double(max(task.rows, 1)),
                                    int8: Double(task.int8Correct) / Double(max(task.rows, 1)))
        }
        let reports = outputs.compactMap { name in totals[name]?.report(name: name) }
        return Evaluation(outputs: reports, samples: samples, task: accuracy)
    }

    /// Running counts of correct arg-max classes over labelled rows.
    private struct TaskCounter {
        var output: String?
        var rows = 0
        var fp32Correct = 0
        var int8Correct = 0

        mutating func count(_ expected: [String: Tensor], _ actual: [String: Tensor], outputs: [String], labels: [Int]) throws {
            let name = output ?? outputs.first { name in
                guard let tensor = expected[name] else { return false }
                return tensor.dtype.isFloatingPoint && tensor.shape.count == 2 && (tensor.shape.last ?? 0) >= 2
            }
            guard let name, let want = expected[name], let got = actual[name], want.shape.count == 2, want.shape == got.shape else { return }
            output = name
            let classes = want.shape[1]
            let a = try want.doubles(), b = try got.doubles()
            for row in 0..<want.shape[0] {
                let slice = (row * classes)..<((row + 1) * classes)
                let index = rows + row
                guard index < labels.count else { continue }
                guard (0..<classes).contains(labels[index]) else { throw LabelError.outOfRange(index: index, label: labels[index], classes: classes) }
                if slice.max(by: { a[$0] < a[$1] }).map({ $0 - slice.lowerBound }) == labels[index] { fp32Correct += 1 }
                if slice.max(by: { b[$0] < b[$1] }).map({ $0 - slice.lowerBound }) == labels[index] { int8Correct += 1 }
            }
            rows += want.shape[0]
        }
    }
}
