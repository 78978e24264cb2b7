import OctetGraph

/// A graph prepared for repeated runs: node order, kernels, constants, when each value can be
/// freed, and plans for the subgraphs of control-flow nodes.
final class GraphPlan: @unchecked Sendable {
    struct Step {
        let nodeIndex: Int
        let label: String
        let kernel: @Sendable (KernelContext) throws -> [Tensor]
        let opset: Int64
        /// Input names whose last reader is this step (freed after it runs).
        var releases: [String]
        /// Subgraph plans by attribute name.
        let subgraphs: [String: GraphPlan]
        /// Which inputs are constants of this graph.
        let constantInputs: [Bool]
        /// What the kernel derived from those constants (packed weights); shared by every plan
        /// of the session's graph.
        let prepared: PreparedValues
    }

    /// The graph, without the tensors of its initializers and `Constant` nodes (in ``constants``).
    let graph: Graph
    /// Initializers and `Constant` node values, available before any step; a weight whose
    /// readers all keep it in another form is replaced by its released copy
    /// (``releaseReplacedConstants()``).
    private(set) var constants: [String: Tensor]
    /// How many input slots of the steps read each constant that may be released (not a graph
    /// input, output or kept value, not read by a subgraph).
    private var constantReaders: [String: Int] = [:]
    var steps: [Step] = []
    /// Outputs nobody reads and that are not graph outputs (freed right after being produced).
    var unread: Set<String> = []

    /// Plans `graph`.
    /// - Parameters:
    ///   - graph: the graph.
    ///   - model: the model (for opset versions).
    ///   - registry: kernels.
    ///   - keep: value names that must survive the run (outputs asked for).
    ///   - sharing: an earlier plan of the same graph whose prepared values (packed weights) this
    ///     plan's steps use too.
    init(graph: Graph, model: Model, registry: OpRegistry, keep: Set<String>, sharing earlier: GraphPlan? = nil) throws {
        guard let order = graph.topologicalOrder() else { throw RuntimeError.unorderable(graph: graph.name) }
        var stored = graph
        stored.initializers = []
        var constants: [String: Tensor] = [:]
        for initializer in graph.initializers { constants[initializer.name] = initializer.tensor }
        var running: [Int] = []
        for index in order {
            let node = graph.nodes[index]
            if node.opType == "Constant", OpsetImport.canonical(node.domain) == "", let value = node.constantValue,
               let output = node.outputs.first
            {
                constants[output] = value
                stored.nodes[index].attributes = []
            } else {
                running.append(index)
            }
        }
        self.graph = stored
        self.constants = constants
        var earlierPrepared: [Int: PreparedValues] = [:]
        var earlierSubgraphs: [Int: [String: GraphPlan]] = [:]
        for step in earlier?.steps ?? [] {
            earlierPrepared[step.nodeIndex] = step.prepared
            earlierSubgraphs[step.nodeIndex] = step.subgraphs
        }
        var lastReader: [String: Int] = [:]
        var captured: Set<String> = []
        for (position, index) in running.enumerated() {
            let node = graph.nodes[index]
            var reads = Set(node.inputs.filter { !$0.isEmpty })
            for attribute in node.attributes {
                for subgraph in attribute.value.subgraphs {
                    reads.formUnion(subgraph.capturedNames)
                    captured.formUnion(subgraph.capturedNames)
                }
            }
            for name in reads { lastReader[name] = position }
        }
        // Graph inputs belong to the caller; only values made during the run are released.
        let keepAll = keep.union(graph.outputs.map(\.name)).union(graph.inputs.map(\.name))
        let graphInputs = Set(graph.inputs.map(\.name))
        // Values by the step that reads them last (linear in the graph, not steps × values).
        var readersLastAt: [Int: [String]] = [:]
        for (name, position) in lastReader { readersLastAt[position, default: []].append(name) }
        for (position, index) in running.enumerated() {
            let node = graph.nodes[index]
            let opset = model.opsetVersion(for: node.domain) ?? 1
            guard let kernel = registry.kernel(node.opType, domain: node.domain, opset: opset) else {
                preconditionFailure("unsupported operators are rejected before planning")
            }
            var subgraphs: [String: GraphPlan] = [:]
            for attribute in node.attributes {
                if case .graph(let subgraph) = attribute.value {
                    subgraphs[attribute.name] = try GraphPlan(graph: subgraph, model: model, registry: registry, keep: [],
                                                              sharing: earlierSubgraphs[index]?[attribute.name])
                }
            }
            let releases = (readersLastAt[position] ?? []).filter { !keepAll.contains($0) && constants[$0] == nil }.sorted()
            steps.append(Step(nodeIndex: index, label: node.displayName(index: index), kernel: kernel, opset: opset,
                              releases: releases, subgraphs: subgraphs, constantInputs: node.inputs.map { name in
                                  // An initializer that is also a graph input may be fed a different value.
                                  !name.isEmpty && constants[name] != nil && !graphInputs.contains(name)
                              }, prepared: earlierPrepared[index] ?? PreparedValues()))
            for name in node.inputs where constants[name] != nil && !keepAll.contains(name) && !captured.contains(name) {
                constantReaders[name, default: 0] += 1
            }
            for output in node.outputs where !output.isEmpty && lastReader[output] == nil && !keepAll.contains(output) {
                unread.insert(output)
            }
        }
    }

    /// Replaces each constant whose every reading input slot is kept in another form by its
    /// prepared value (``KernelContext/prepared(_:replacing:_:)``) with a copy without elements.
    /// - Returns: the released copies by name (for the session's other plans and its model).
    func releaseReplacedConstants() -> [String: Tensor] {
        var replaced: [String: Int] = [:]
        for step in steps {
            let inputs = graph.nodes[step.nodeIndex].inputs
            for index in step.prepared.replaced where index < inputs.count { replaced[inputs[index], default: 0] += 1 }
        }
        var released: [String: Tensor] = [:]
        for (name, count) in replaced where count == constantReaders[name] {
            guard let tensor = constants[name], let copy = tensor.releasingElements() else { continue }
            constants[name] = copy
            released[name] = copy
        }
        return released
    }

    /// Takes on constants another plan of the same graph released.
    func adopt(released: [String: Tensor]) {
        for (name, copy) in released where constants[name] != nil { constants[name] = copy }
    }

    /// Operators in `graph` (and its subgraphs) that `registry` lacks.
    static func unsupported(in graph: Graph, model: Model, registry: OpRegistry) -> [UnsupportedOperator] {
        var found: [String: UnsupportedOperator] = [:]
        var order: [String] = []
        func visit(_ graph: Graph, path: String) {
            for (index, node) in graph.nodes.enumerated() {
                let opset = model.opsetVersion(for: node.domain) ?? 0
                let label = path + node.displayName(index: index)
                if node.opType != "Constant" || OpsetImport.canonical(node.domain) != "" || node.constantValue == nil,
                   registry.kernel(node.opType, domain: node.domain, opset: opset) == nil
                {
                    let key = "\(node.domain)::\(node.opType)"
                    if found[key] == nil {
                        order.append(key)
                        found[key] = UnsupportedOperator(opType: node.opType, domain: node.domain, opset: opset, nodes: [])
                    }
                    found[key]?.nodes.append(label)
                }
                for attribute in node.attributes {
                    for subgraph in attribute.value.subgraphs { visit(subgraph, path: "\(label).\(attribute.name) / ") }
                }
            }
        }
        visit(graph, path: "")
        return order.compactMap { found[$0] }
    }
}
