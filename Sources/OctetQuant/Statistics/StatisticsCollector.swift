import Foundation
import OctetGraph
import OctetRuntime

/// Observes a model's runs and keeps ``TensorStatistics`` for every floating-point value it
/// produces: graph inputs and activations, inside `If`/`Loop` bodies too. Only statistics are
/// kept; the tensors themselves are freed by the executor after their last reader.
///
/// Statistics depend on the multiset of values only, so the outputs of main-graph nodes that
/// only move values (Reshape, Flatten, Squeeze, Unsqueeze, Identity, Transpose) take their
/// input's statistics of the same run, and a Concat the merge of its inputs': exact, and no
/// pass over the data. Each main-graph value is produced once per run, so these match what
/// binning the output would give.
public final class StatisticsCollector {
    /// Statistics by value name.
    public private(set) var tensors: [String: TensorStatistics] = [:]
    /// This run's statistics of each value observed so far (for derived outputs).
    private var current: [String: TensorStatistics] = [:]
    /// Main-graph outputs whose statistics follow from their inputs'.
    private let derived: [String: [String]]
    /// Values whose per-run statistics derived outputs need.
    private let sources: Set<String>

    /// The op types whose output holds exactly the values of their first input.
    static let rearranging: Set<String> = ["Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Transpose"]

    /// - Parameter graph: the main graph, to derive the statistics of layout nodes' outputs
    ///   (`nil`: every value is binned).
    public init(graph: Graph? = nil) {
        var derived: [String: [String]] = [:]
        for node in graph?.nodes ?? [] where OpsetImport.canonical(node.domain) == "" && node.outputs.count == 1 {
            guard let output = node.outputs.first, !output.isEmpty, let first = node.inputs.first, !first.isEmpty else { continue }
            if Self.rearranging.contains(node.opType) {
                derived[output] = [first]
            } else if node.opType == "Concat", !node.inputs.contains("") {
                derived[output] = node.inputs
            }
        }
        self.derived = derived
        sources = Set(derived.values.joined())
    }

    /// Forgets the previous run's per-run statistics; call before each run.
    public func startRun() { current.removeAll(keepingCapacity: true) }

    /// Records one produced tensor (integer and boolean tensors are not quantized and are skipped).
    /// - Parameters:
    ///   - name: the ONNX value name.
    ///   - tensor: its value in this run.
    public func observe(_ name: String, _ tensor: Tensor) {
        guard tensor.dtype.isFloatingPoint else { return }
        let derivedRun = derived[name].flatMap { derive(from: $0, count: tensor.elementCount) }
        guard derivedRun != nil || sources.contains(name) else {
            tensors[name, default: TensorStatistics()].add(tensor)
            return
        }
        var statistics: TensorStatistics
        if let derivedRun {
            statistics = derivedRun
        } else {
            statistics = TensorStatistics(startingAt: tensors[name]?.histogram.exponent)
            statistics.add(tensor)
        }
        if sources.contains(name) { current[name] = statistics }
        tensors[name, default: TensorStatistics()].merge(statistics)
    }

    /// The merged statistics of `sources` in this run, when each was observed and together they
    /// hold `count` values (else `nil`: the output is binned itself).
    private func derive(from sources: [String], count: Int) -> TensorStatistics? {
        var merged = TensorStatistics()
        var values: Int64 = 0
        for source in sources {
            guard let part = current[source] else { return nil }
            merged.merge(part)
            values += part.count + part.nonFinite
        }
        return values == Int64(count) ? merged : nil
    }

    /// The observer to pass to ``Session/run(_:outputs:observer:)``.
    public var observer: TensorObserver { { [unowned self] name, tensor in self.observe(name, tensor) } }
}

extension Graph {
    /// Every value name in the order a run produces them: graph inputs, then for each node (in
    /// topological order) the values of its subgraphs, then its outputs. Statistics are listed
    /// in this order, so merged shards list tensors exactly as one full run does.
    public var productionOrder: [String] {
        var seen = Set<String>()
        var order: [String] = []
        func add(_ name: String) {
            if !name.isEmpty, seen.insert(name).inserted { order.append(name) }
        }
        func visit(_ graph: Graph, top: Bool) {
            if top { graph.inputs.forEach { add($0.name) } }
            for index in graph.topologicalOrder() ?? Array(graph.nodes.indices) {
                let node = graph.nodes[index]
                for attribute in node.attributes {
                    for subgraph in attribute.value.subgraphs { visit(subgraph, top: false) }
                }
                node.outputs.forEach(add)
            }
        }
        visit(self, top: true)
        return order
    }
}
