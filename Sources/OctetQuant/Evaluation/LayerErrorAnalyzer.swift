import Foundation
import OctetData
import OctetGraph
import OctetRuntime

/// Where a Q/DQ model loses accuracy: per quantized node, the error of its output against the
/// FP32 model's value of the same name, and per graph output the end-to-end error. Both models
/// run sample by sample; the FP32 run keeps only the compared values of the current sample, so
/// memory does not grow with the number of samples.
public struct LayerErrorAnalyzer {
    /// One quantized node's output against FP32.
    public struct NodeReport: Codable, Sendable, Equatable {
        /// The node's name in the Q/DQ model (its label when unnamed).
        public var node: String
        /// Its operator.
        public var opType: String
        /// The value compared (the node's first output).
        public var output: String
        /// Signal-to-quantization-noise ratio in dB (+∞ when identical; JSON `null`).
        public var sqnr: Double
        /// Mean over samples of the cosine similarity.
        public var meanCosine: Double
        /// Largest absolute difference.
        public var maxAbsError: Double

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(node, forKey: .node)
            try container.encode(opType, forKey: .opType)
            try container.encode(output, forKey: .output)
            try container.encode(sqnr.isFinite ? sqnr : nil, forKey: .sqnr)
            try container.encode(meanCosine, forKey: .meanCosine)
            try container.encode(maxAbsError, forKey: .maxAbsError)
        }
    }

    /// The result of a comparison.
    public struct Comparison: Sendable, Equatable {
        /// Per graph output (as ``AccuracyEvaluator``'s reports).
        public var outputs: [AccuracyEvaluator.OutputReport]
        /// Per quantized node, most damaged (lowest SQNR) first.
        public var nodes: [NodeReport]
        /// Samples compared.
        public var samples: Int
        /// Multiply-accumulates of the candidate nodes for the first sample's shapes, and the
        /// share in INT8 (nil when no sample was compared).
        public var macs: MACCount?
    }

    /// A quantized node of the main graph whose output also exists in the FP32 model.
    struct Target {
        let node: String
        let opType: String
        let output: String
    }

    /// A failure of the quantized model (its own errors name the FP32 model's path otherwise).
    public struct QuantizedModelError: LocalizedError {
        /// What the engine reported.
        public let underlying: RuntimeError
        public var errorDescription: String? { underlying.errorDescription }
    }

    let reference: Session
    let quantized: Session
    let outputs: [String]
    let targets: [Target]
    let quantizedGraph: Graph

    /// - Parameters:
    ///   - reference: the FP32 model.
    ///   - quantized: its Q/DQ version (same inputs and outputs; quantized nodes keep their output names).
    /// - Throws: ``RuntimeError`` when the FP32 model cannot run, ``QuantizedModelError`` when the Q/DQ one cannot.
    public init(reference: Model, quantized: Model) throws {
        // No fusion: a fused Conv → Relu would hide the Conv's output from the observer.
        self.reference = try Session(model: reference, options: .init(fuse: false))
        do { self.quantized = try Session(model: quantized, options: .init(fuse: false)) } catch let error as RuntimeError {
            throw QuantizedModelError(underlying: error)
        }
        outputs = reference.graph.outputs.map(\.name)
        targets = Self.quantizedNodes(quantized: quantized, reference: reference)
        quantizedGraph = quantized.graph
    }

    /// Nodes of `quantized`'s main graph that read a DequantizeLinear output and whose first
    /// output is also a value of `reference`.
    static func quantizedNodes(quantized: Model, reference: Model) -> [Target] {
        let graph = quantized.graph
        var producer: [String: String] = [:]
        for node in graph.nodes { for output in node.outputs where !output.isEmpty { producer[output] = node.opType } }
        let referenceValues = Set(reference.graph.nodes.flatMap(\.outputs))
        return graph.nodes.enumerated().compactMap { index, node in
            guard node.opType != "QuantizeLinear", node.opType != "DequantizeLinear", let output = node.outputs.first,
                  referenceValues.contains(output), node.inputs.contains(where: { producer[$0] == "DequantizeLinear" }) else { return nil }
            return Target(node: node.name.isEmpty ? node.displayName(index: index) : node.name, opType: node.opType, output: output)
        }
    }

    /// Compares the two models on every sample `keep` selects.
    /// - Parameters:
    ///   - data: the samples (validated like calibration data against `model`).
    ///   - model: the FP32 model.
    ///   - keep: which sample indexes to use.
    /// - Throws: ``DataError`` listing the data's problems; ``RuntimeError`` from the FP32 run,
    ///   ``QuantizedModelError`` from the Q/DQ run.
    public func compare(_ data: CalibrationData, model: Model, keep: (Int) -> Bool = { _ in true }) throws -> Comparison {
        var validator = FeedValidator(model: model, allowNonfinite: true, recordStatistics: false)
        let watched = Set(targets.map(\.output))
        var nodeTotals: [String: ErrorAccumulator] = [:]
        var outputTotals: [String: ErrorAccumulator] = [:]
        var samples = 0
        var shapes: [String: [Int]] = [:]
        try data.forEach { sample in
            guard keep(sample.index), let feeds = validator.check(sample) else { return true }
            var expected: [String: Tensor] = [:]
            let want = try reference.run(feeds, outputs: outputs) { name, tensor in
                if watched.contains(name) { expected[name] = tensor }
            }
            var failure: Error?
            let got: [String: Tensor]
            let first = samples == 0
            if first { for (name, tensor) in feeds { shapes[name] = tensor.shape } }
            do {
                got = try quantized.run(feeds, outputs: outputs) { name, tensor in
                    if first { shapes[name] = tensor.shape }
                    guard failure == nil, let reference = expected.removeValue(forKey: name) else { return }
                    do { try Self.add(&nodeTotals[name, default: ErrorAccumulator()], reference, tensor) } catch { failure = error }
                }
            } catch let error as RuntimeError {
                throw QuantizedModelError(underlying: error)
            }
            if let failure { throw failure }
            for name in outputs {
                guard let a = want[name], let b = got[name] else { continue }
                try Self.add(&outputTotals[name, default: ErrorAccumulator()], a, b)
            }
            samples += 1
            return true
        }
        if !validator.problems.isEmpty { throw DataError.invalid(problems: validator.problems) }
        let nodes = targets.compactMap { target -> NodeReport? in
            guard let total = nodeTotals[target.output], total.samples > 0 else { return nil }
            return NodeReport(node: target.node, opType: target.opType, output: target.output, sqnr: total.sqnr,
                              meanCosine: total.cosineSum / Double(total.samples), maxAbsError: total.maxAbs)
        }.sorted { $0.sqnr < $1.sqnr || ($0.sqnr == $1.sqnr && $0.node < $1.node) }
        return Comparison(outputs: outputs.compactMap { outputTotals[$0]?.report(name: $0) }, nodes: nodes, samples: samples,
                          macs: samples > 0 ? MACCount(graph: quantizedGraph, shapes: shapes) : nil)
    }

    /// Adds one pair of float tensors of the same shape (others are skipped).
    static func add(_ total: inout ErrorAccumulator, _ a: Tensor, _ b: Tensor) throws {
        guard a.dtype.isFloatingPoint, a.shape == b.shape, a.container == nil, b.container == nil else { return }
        total.add(try a.doubles(), try b.doubles(), shape: a.shape)
    }
}
