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
///
/// With `overlapped`, the binning runs on a serial worker queue while the model goes on (a
/// model run rarely keeps both cores busy): values are taken in the order they are observed,
/// so the statistics are the same, and at most ``pendingBudget`` bytes of tensors wait for the
/// worker, so memory stays bounded.
public final class StatisticsCollector: @unchecked Sendable {
    /// This run's statistics of each value observed so far (for derived outputs).
    private var current: [String: TensorStatistics] = [:]
    private var collected: [String: TensorStatistics] = [:]
    /// Main-graph outputs whose statistics follow from their inputs'.
    private let derived: [String: [String]]
    /// Values whose per-run statistics derived outputs need.
    private let sources: Set<String>
    private let worker: DispatchQueue?
    private let condition = NSCondition()
    private var pendingBytes = 0

    /// Bytes of observed tensors that may wait for the worker.
    public static let pendingBudget = 8 << 20

    /// The op types whose output holds exactly the values of their first input.
    static let rearranging: Set<String> = ["Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Transpose"]

    /// - Parameters:
    ///   - graph: the main graph, to derive the statistics of layout nodes' outputs (`nil`:
    ///     every value is binned).
    ///   - overlapped: bin on a worker queue while the model runs.
    public init(graph: Graph? = nil, overlapped: Bool = false) {
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
        worker = overlapped ? DispatchQueue(label: "octet.statistics") : nil
    }

    /// Statistics by value name (waits for the worker to finish what was observed).
    public var tensors: [String: TensorStatistics] {
        worker?.sync {}
        return collected
    }

    /// Forgets the previous run's per-run statistics; call before each run.
    public func startRun() {
        if let worker { worker.async { self.current.removeAll(keepingCapacity: true) } } else { current.removeAll(keepingCapacity: true) }
    }

    /// Records one produced tensor (integer and boolean tensors are not quantized and are skipped).
    /// - Parameters:
    ///   - name: the ONNX value name.
    ///   - tensor: its value in this run.
    public func observe(_ name: String, _ tensor: Tensor) {
        guard tensor.dtype.isFloatingPoint else { return }
        guard let worker else {
            record(name, tensor)
            return
        }
        let bytes = tensor.byteCount
        condition.lock()
        while pendingBytes > 0 && pendingBytes + bytes > Self.pendingBudget { condition.wait() }
        pendingBytes += bytes
        condition.unlock()
        worker.async {
            self.record(name, tensor)
            self.condition.lock()
            self.pendingBytes -= bytes
            self.condition.broadcast()
            self.condition.unlock()
        }
    }

    private func record(_ name: String, _ tensor: Tensor) {
        let derivedRun = derived[name].flatMap { derive(from: $0, count: tensor.elementCount) }
        guard derivedRun != nil || sources.contains(name) else {
            collected[name, default: TensorStatistics()].add(tensor)
            return
        }
        var statistics: TensorStatistics
        if let derivedRun {
            statistics = derivedRun
        } else {
            statistics = TensorStatistics(startingAt: collected[name]?.histogram.exponent)
            statistics.add(tensor)
        }
        if sources.contains(name) { current[name] = statistics }
        collected[name, default: TensorStatistics()].merge(statistics)
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
