import Foundation
import OctetGraph
import OctetRuntime

/// Observes a model's runs and keeps ``TensorStatistics`` for every floating-point value it
/// produces: graph inputs and activations, inside `If`/`Loop` bodies too. Only statistics are
/// kept; the tensors themselves are freed by the executor after their last reader.
public final class StatisticsCollector {
    /// Statistics by value name.
    public private(set) var tensors: [String: TensorStatistics] = [:]

    /// An empty collector.
    public init() {}

    /// Records one produced tensor (integer and boolean tensors are not quantized and are skipped).
    /// - Parameters:
    ///   - name: the ONNX value name.
    ///   - tensor: its value in this run.
    public func observe(_ name: String, _ tensor: Tensor) {
        guard tensor.dtype.isFloatingPoint else { return }
        tensors[name, default: TensorStatistics()].add(tensor)
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
