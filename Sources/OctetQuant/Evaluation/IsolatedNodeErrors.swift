import Foundation
import OctetData
import OctetGraph
import OctetRuntime

/// The cheap sensitivity pass: each quantized node's error when it alone is quantized. One
/// model holds the FP32 graph and, per quantized node, a copy of that node reading its quantized
/// inputs made from the FP32 values (a copy of its QuantizeLinear → DequantizeLinear chains), so
/// one run per sample gives every node's isolated SQNR — no error from upstream nodes adds in,
/// unlike the accumulated per-node error of ``LayerErrorAnalyzer``.
public struct IsolatedNodeErrors {
    /// A copied node: the FP32 value and the isolated copy's value.
    struct Pair {
        let node: String
        let opType: String
        let output: String
        let isolated: String
    }

    let session: Session
    let pairs: [Pair]

    /// - Parameters:
    ///   - reference: the FP32 model the Q/DQ model was made from, as prepared for it (same value
    ///     names, weights as initializers).
    ///   - quantized: the Q/DQ model.
    /// - Throws: ``RuntimeError`` when the combined model cannot be planned.
    public init(reference: Model, quantized: Model) throws {
        let (model, pairs) = Self.combined(reference: reference, quantized: quantized)
        self.pairs = pairs
        session = try Session(model: model, options: .init(fuse: false))
    }

    /// The FP32 graph plus an isolated copy of every quantized node of `quantized`'s main graph
    /// whose output `reference` also has.
    static func combined(reference: Model, quantized: Model) -> (Model, [Pair]) {
        let graph = quantized.graph
        var producer: [String: Int] = [:]
        for (index, node) in graph.nodes.enumerated() { for output in node.outputs where !output.isEmpty { producer[output] = index } }
        let referenceValues = Set(reference.graph.nodes.flatMap(\.outputs)).union(reference.graph.inputs.map(\.name))
            .union(reference.graph.initializers.map(\.name))
        var editor = GraphEditor(reference.graph, reserving: Set(graph.nodes.flatMap(\.outputs)))
        let quantizedInitializers = Dictionary(graph.initializers.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let referenceOutputs = Set(reference.graph.nodes.compactMap(\.outputs.first))
        var added: [Node] = []
        var pairs: [Pair] = []
        for (index, node) in graph.nodes.enumerated() {
            guard node.opType != "QuantizeLinear", node.opType != "DequantizeLinear", let output = node.outputs.first,
                  referenceOutputs.contains(output) else { continue }
            var inputs = node.inputs
            var copies: [Node] = []
            var complete = true
            for (position, input) in node.inputs.enumerated() where !input.isEmpty {
                guard let dq = producer[input].map({ graph.nodes[$0] }), dq.opType == "DequantizeLinear" else {
                    if !referenceValues.contains(input) && quantizedInitializers[input] == nil { complete = false }
                    continue
                }
                // DQ(Q(x)) with x an FP32 value, or DQ(int8 weight).
                var dequantize = dq
                if let q = producer[dq.inputs[0]].map({ graph.nodes[$0] }), q.opType == "QuantizeLinear" {
                    guard referenceValues.contains(q.inputs[0]) || quantizedInitializers[q.inputs[0]] != nil else { complete = false; break }
                    var quantize = q
                    quantize.name = ""
                    quantize.outputs = [editor.uniqueName(q.outputs[0] + "/isolated")]
                    dequantize.inputs[0] = quantize.outputs[0]
                    copies.append(quantize)
                }
                dequantize.name = ""
                dequantize.outputs = [editor.uniqueName(dq.outputs[0] + "/isolated")]
                copies.append(dequantize)
                inputs[position] = dequantize.outputs[0]
            }
            guard complete, !copies.isEmpty else { continue }
            var copy = node
            copy.name = node.name.isEmpty ? "" : editor.uniqueName(node.name + "/isolated")
            copy.inputs = inputs
            copy.outputs = node.outputs.map { $0.isEmpty ? "" : editor.uniqueName($0 + "/isolated") }
            added += copies + [copy]
            pairs.append(Pair(node: node.name.isEmpty ? node.displayName(index: index) : node.name, opType: node.opType,
                              output: output, isolated: copy.outputs[0]))
        }
        for node in added {
            for input in node.inputs where !input.isEmpty && editor.initializer(input) == nil {
                if let constant = quantizedInitializers[input], !referenceValues.contains(input) { editor.setInitializer(input, constant.tensor) }
            }
        }
        editor.insert(added, at: editor.graph.nodes.count)
        var model = reference
        model.graph = editor.graph
        return (model, pairs)
    }

    /// Each node's isolated error on the first `samples` samples `keep` selects, most damaged first.
    /// - Throws: ``DataError`` for invalid samples; ``RuntimeError`` from the run.
    public func measure(_ data: CalibrationData, model: Model, samples limit: Int = 8,
                        keep: (Int) -> Bool = { _ in true }) throws -> [LayerErrorAnalyzer.NodeReport] {
        var validator = FeedValidator(model: model, allowNonfinite: true, recordStatistics: false)
        var totals: [String: ErrorAccumulator] = [:]
        let wanted = pairs.flatMap { [$0.output, $0.isolated] }
        var used = 0
        try data.forEach { sample in
            guard used < limit else { return false }
            guard keep(sample.index), let feeds = validator.check(sample) else { return true }
            let values = try session.run(feeds, outputs: wanted)
            for pair in pairs {
                guard let a = values[pair.output], let b = values[pair.isolated] else { continue }
                try LayerErrorAnalyzer.add(&totals[pair.output, default: ErrorAccumulator()], a, b)
            }
            used += 1
            return true
        }
        if !validator.problems.isEmpty { throw DataError.invalid(problems: validator.problems) }
        return pairs.compactMap { pair -> LayerErrorAnalyzer.NodeReport? in
            guard let total = totals[pair.output], total.samples > 0 else { return nil }
            return LayerErrorAnalyzer.NodeReport(node: pair.node, opType: pair.opType, output: pair.output, sqnr: total.sqnr,
                                                 meanCosine: total.cosineSum / Double(total.samples), maxAbsError: total.maxAbs)
        }.sorted { $0.sqnr < $1.sqnr || ($0.sqnr == $1.sqnr && $0.node < $1.node) }
    }
}
