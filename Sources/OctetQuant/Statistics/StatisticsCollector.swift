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
/// With `overlapped`, large tensors are binned on a serial worker queue while the model goes
/// on (a model run rarely keeps both cores busy); small ones, for which a hand-over costs more
/// than it saves, are binned at once. Merging statistics is exact in any order, so the result
/// is the same; at most ``pendingBudget`` bytes of tensors wait for the worker, so memory stays
/// bounded.
public final class StatisticsCollector: @unchecked Sendable {
    /// Per-run statistics of each source value of a derived output, with the run they are of.
    private var current: [String: (run: Int, statistics: TensorStatistics)] = [:]
    private var collected: [String: TensorStatistics] = [:]
    /// Guards `current` and `collected` (the worker and the caller both record).
    private let lock = NSLock()
    /// The run being observed (counted by ``startRun()``).
    private var run = 0
    /// Main-graph outputs whose statistics follow from their inputs'.
    private let derived: [String: [String]]
    /// Values whose per-run statistics derived outputs need.
    private let sources: Set<String>
    private let worker: DispatchQueue?
    private let condition = NSCondition()
    private var pendingBytes = 0

    /// Bytes of observed tensors that may wait for the worker.
    public static let pendingBudget = 8 << 20
    /// Tensors with fewer elements are binned by the caller.
    static let handOverElements = 1 << 16

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
        lock.lock()
        defer { lock.unlock() }
        return collected
    }

    /// Starts a new run: derived outputs only use their sources' statistics of the same run.
    public func startRun() { run += 1 }

    /// Records one produced tensor (integer and boolean tensors are not quantized and are skipped).
    /// - Parameters:
    ///   - name: the ONNX value name.
    ///   - tensor: its value in this run.
    public func observe(_ name: String, _ tensor: Tensor) {
        guard tensor.dtype.isFloatingPoint else { return }
        let run = self.run
        guard let worker, tensor.elementCount >= Self.handOverElements else {
            record(name, tensor, run: run)
            return
        }
        let bytes = tensor.byteCount
        condition.lock()
        while pendingBytes > 0 && pendingBytes + bytes > Self.pendingBudget { condition.wait() }
        pendingBytes += bytes
        condition.unlock()
        worker.async {
            self.record(name, tensor, run: run)
            self.condition.lock()
            self.pendingBytes -= bytes
            self.condition.broadcast()
            self.condition.unlock()
        }
    }

    /// Bins (or derives) one observation and merges it. Large tensors are binned outside the
    /// lock, into statistics of this observation alone, so the caller and the worker can bin at
    /// once; small ones go straight into the totals.
    private func record(_ name: String, _ tensor: Tensor, run: Int) {
        lock.lock()
        if derived[name] == nil && !sources.contains(name) && tensor.elementCount < Self.handOverElements {
            // Small and needed by no derivation: straight into the totals.
            collected[name, default: TensorStatistics()].add(tensor)
            lock.unlock()
            return
        }
        let derivedRun = derived[name].flatMap { derive(from: $0, count: tensor.elementCount, run: run) }
        let exponent = collected[name]?.histogram.exponent
        lock.unlock()
        var statistics: TensorStatistics
        if let derivedRun {
            statistics = derivedRun
        } else {
            statistics = TensorStatistics(startingAt: exponent)
            statistics.add(tensor)
        }
        lock.lock()
        if sources.contains(name) { current[name] = (run, statistics) }
        collected[name, default: TensorStatistics()].merge(statistics)
        lock.unlock()
    }

    /// The merged statistics of `sources` in run `run`, when each was recorded in that run and
    /// together they hold `count` values (else `nil`: the output is binned itself).
    private func derive(from sources: [String], count: Int, run: Int) -> TensorStatistics? {
        var merged = TensorStatistics()
        var values: Int64 = 0
        for source in sources {
            guard let part = current[source], part.run == run else { return nil }
            merged.merge(part.statistics)
            values += part.statistics.count + part.statistics.nonFinite
        }
        return values == Int64(count) ? merged : nil
    }

    /// The observer to pass to ``Session/run(_:outputs:observer:)``.
    public var observer: TensorObserver { { [unowned self] name, tensor in self.observe(name, tensor) } }
}

extension Graph {
    /// Every value name in the order a run produces them: graph inputs, then for each node (in
    /// topological order) the values of its subgraphs (their inputs first), then its outputs. Statistics are listed
    /// in this order, so merged shards list tensors exactly as one full run does.
    public var productionOrder: [String] {
        var seen = Set<String>()
        var order: [String] = []
        func add(_ name: String) {
            if !name.isEmpty, seen.insert(name).inserted { order.append(name) }
        }
        func visit(_ graph: Graph) {
            graph.inputs.forEach { add($0.name) }
            for index in graph.topologicalOrder() ?? Array(graph.nodes.indices) {
                let node = graph.nodes[index]
                for attribute in node.attributes {
                    for subgraph in attribute.value.subgraphs { visit(subgraph) }
                }
                node.outputs.forEach(add)
            }
        }
        visit(self)
        return order
    }
}
