extension Graph {
    /// Structural problems of this graph and its subgraphs, each naming the node or value:
    /// values read but never defined, values defined twice, cycles, graph outputs nothing
    /// produces, and operator domains the model does not import.
    /// - Parameter model: the model this graph belongs to (for its opset imports).
    /// - Returns: one message per problem; empty when the graph is sound.
    public func validate(model: Model) -> [String] {
        var problems: [String] = []
        let imported = Set(model.opsetImports.map { OpsetImport.canonical($0.domain) })
        validate(outerScope: [], imported: imported, location: "", problems: &problems)
        return problems
    }

    private func validate(outerScope: Set<String>, imported: Set<String>, location: String, problems: inout [String]) {
        let prefix = location.isEmpty ? "" : "in subgraph \(location): "
        var producer: [String: String] = [:]
        func define(_ name: String, by who: String) {
            guard !name.isEmpty else { return }
            if let earlier = producer[name] {
                problems.append("\(prefix)value '\(name)' is defined twice: by \(earlier) and by \(who)")
            } else {
                producer[name] = who
            }
        }
        var seenInputs = Set<String>()
        for input in inputs {
            if !seenInputs.insert(input.name).inserted { problems.append("\(prefix)graph input '\(input.name)' is listed twice") }
        }
        let initializerNames = Set(initializers.map(\.name))
        for input in inputs where !initializerNames.contains(input.name) { define(input.name, by: "graph input") }
        for initializer in initializers { define(initializer.name, by: "initializer") }
        for sparse in sparseInitializers { define(sparse.name, by: "sparse initializer") }
        for (index, node) in nodes.enumerated() {
            for output in node.outputs { define(output, by: "node \(node.displayName(index: index))") }
        }
        let scope = outerScope.union(producer.keys)
        for (index, node) in nodes.enumerated() {
            let label = node.displayName(index: index)
            if node.opType.isEmpty { problems.append("\(prefix)node \(label) has no op_type") }
            if !imported.contains(OpsetImport.canonical(node.domain)) {
                let domain = node.domain.isEmpty ? "the default ONNX domain" : "domain '\(node.domain)'"
                problems.append("\(prefix)node \(label) uses \(domain), which the model's opset_import does not list")
            }
            for input in node.inputs where !input.isEmpty && !scope.contains(input) {
                problems.append("\(prefix)node \(label) reads '\(input)', which no graph input, initializer or node defines")
            }
            for attribute in node.attributes {
                for (position, subgraph) in attribute.value.subgraphs.enumerated() {
                    let suffix = attribute.value.subgraphs.count > 1 ? "[\(position)]" : ""
                    let path = (location.isEmpty ? "" : location + " / ") + "\(label).\(attribute.name)\(suffix)"
                    subgraph.validate(outerScope: scope, imported: imported, location: path, problems: &problems)
                }
            }
        }
        for output in outputs where !scope.contains(output.name) {
            problems.append("\(prefix)graph output '\(output.name)' is not produced by any node, input or initializer")
        }
        if let cycle = cycleNodes() {
            let names = cycle.map { nodes[$0].displayName(index: $0) }
            problems.append("\(prefix)the graph has a cycle through \(names.count) node(s): \(names.joined(separator: ", "))")
        }
    }

    /// Names read by this graph (and its subgraphs) that it does not define itself: the
    /// outer-scope values a control-flow node's subgraph captures.
    public var capturedNames: Set<String> {
        var defined = Set(inputs.map(\.name)).union(initializers.map(\.name)).union(sparseInitializers.map(\.name))
        var captured = Set<String>()
        for node in nodes {
            for input in node.inputs where !input.isEmpty && !defined.contains(input) { captured.insert(input) }
            for attribute in node.attributes {
                for subgraph in attribute.value.subgraphs {
                    captured.formUnion(subgraph.capturedNames.subtracting(defined))
                }
            }
            defined.formUnion(node.outputs)
        }
        // Values produced later in an unsorted graph are still its own.
        return captured.subtracting(nodes.flatMap(\.outputs))
    }

    /// Indices of nodes in an order where every node follows the producers of its inputs
    /// (including values its subgraphs capture), or `nil` when the graph has a cycle.
    public func topologicalOrder() -> [Int]? {
        let order = kahn()
        return order.count == nodes.count ? order : nil
    }

    /// The nodes left over by a topological sort (those on or behind a cycle), or `nil`.
    func cycleNodes() -> [Int]? {
        let order = kahn()
        guard order.count < nodes.count else { return nil }
        let placed = Set(order)
        return nodes.indices.filter { !placed.contains($0) }
    }

    /// Kahn's algorithm; the result is shorter than `nodes` when there is a cycle.
    private func kahn() -> [Int] {
        var producerIndex: [String: Int] = [:]
        for (index, node) in nodes.enumerated() {
            for output in node.outputs where !output.isEmpty { producerIndex[output] = index }
        }
        var consumers = [[Int]](repeating: [], count: nodes.count)
        var pending = [Int](repeating: 0, count: nodes.count)
        for (index, node) in nodes.enumerated() {
            var reads = Set(node.inputs.filter { !$0.isEmpty })
            for attribute in node.attributes {
                for subgraph in attribute.value.subgraphs { reads.formUnion(subgraph.capturedNames) }
            }
            for name in reads {
                if let source = producerIndex[name] {
                    consumers[source].append(index)
                    pending[index] += 1
                }
            }
        }
        var ready = nodes.indices.filter { pending[$0] == 0 }.reversed() as [Int]
        var order: [Int] = []
        while let next = ready.popLast() {
            order.append(next)
            for consumer in consumers[next].reversed() {
                pending[consumer] -= 1
                if pending[consumer] == 0 { ready.append(consumer) }
            }
        }
        return order
    }
}
