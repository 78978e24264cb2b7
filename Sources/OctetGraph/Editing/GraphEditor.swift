import Foundation

/// The one place graph rewrites edit a graph: who produces and who reads each value, replacing
/// uses, inserting and removing nodes, adding initializers and making names that are new
/// everywhere in the graph (its subgraphs included). Preparation passes and the Q/DQ rewrite
/// all go through it, so indexes and names stay consistent.
public struct GraphEditor {
    /// The graph being edited.
    public private(set) var graph: Graph
    /// Every name used in the graph and its subgraphs (values and nodes), for ``uniqueName(_:)``.
    private var taken: Set<String>

    /// Starts editing `graph`.
    public init(_ graph: Graph) {
        self.graph = graph
        taken = Self.names(in: graph)
    }

    /// Starts editing a subgraph of a graph being edited: new names also avoid `names` (every
    /// name of the enclosing model, from the enclosing editor's ``reservedNames``).
    public init(_ graph: Graph, reserving names: Set<String>) {
        self.graph = graph
        taken = Self.names(in: graph).union(names)
    }

    /// Every name in use or handed out by ``uniqueName(_:)`` so far.
    public var reservedNames: Set<String> { taken }

    /// Marks `names` as used (names a subgraph's editor handed out).
    public mutating func reserve(_ names: Set<String>) { taken.formUnion(names) }

    /// Replaces the graph attribute `attribute` of node `index` (an `If` branch, a `Loop` body).
    public mutating func replaceSubgraph(of index: Int, attribute: String, with subgraph: Graph) {
        guard let position = graph.nodes[index].attributes.firstIndex(where: { $0.name == attribute }) else { return }
        graph.nodes[index].attributes[position].value = .graph(subgraph)
        taken.formUnion(Self.names(in: subgraph))
    }

    /// Value and node names of `graph` and of its subgraphs.
    static func names(in graph: Graph) -> Set<String> {
        var result = Set(graph.inputs.map(\.name) + graph.outputs.map(\.name) + graph.initializers.map(\.name))
        for node in graph.nodes {
            result.formUnion(node.inputs + node.outputs + [node.name])
            for attribute in node.attributes {
                for subgraph in attribute.value.subgraphs { result.formUnion(names(in: subgraph)) }
            }
        }
        result.remove("")
        return result
    }

    /// The index of the node producing `value` in the main graph, if a node does.
    public func producer(of value: String) -> Int? {
        graph.nodes.firstIndex { $0.outputs.contains(value) }
    }

    /// Indexes of the main-graph nodes reading `value` (a node reading it twice appears once).
    public func consumers(of value: String) -> [Int] {
        graph.nodes.indices.filter { graph.nodes[$0].inputs.contains(value) }
    }

    /// Whether `value` is read by a subgraph (from the outer scope) or is a graph output.
    public func isUsedBeyondNodes(_ value: String) -> Bool {
        if graph.outputs.contains(where: { $0.name == value }) { return true }
        return graph.nodes.contains { node in
            node.attributes.contains { attribute in attribute.value.subgraphs.contains { Self.names(in: $0).contains(value) } }
        }
    }

    /// The initializer named `name`, if any.
    public func initializer(_ name: String) -> Tensor? {
        graph.initializers.first { $0.name == name }?.tensor
    }

    /// A name not used anywhere in the graph, made from `stem` (`stem`, `stem_1`, `stem_2`, …),
    /// and reserved from now on.
    public mutating func uniqueName(_ stem: String) -> String {
        var candidate = stem.isEmpty ? "value" : stem
        var suffix = 0
        while taken.contains(candidate) {
            suffix += 1
            candidate = "\(stem)_\(suffix)"
        }
        taken.insert(candidate)
        return candidate
    }

    /// Makes every main-graph node input and graph output that reads `old` read `new` instead.
    /// - Parameters:
    ///   - old: the value whose readers move.
    ///   - new: the value they read from now on.
    ///   - skipping: node indexes left as they are (e.g. the node that computes `new` from `old`).
    public mutating func replaceUses(of old: String, with new: String, skipping: Set<Int> = []) {
        for index in graph.nodes.indices where !skipping.contains(index) {
            graph.nodes[index].inputs = graph.nodes[index].inputs.map { $0 == old ? new : $0 }
        }
        for index in graph.outputs.indices where graph.outputs[index].name == old { graph.outputs[index].name = new }
        taken.insert(new)
    }

    /// Inserts `nodes` at `position` in the node list (before the node now there).
    public mutating func insert(_ nodes: [Node], at position: Int) {
        graph.nodes.insert(contentsOf: nodes, at: position)
        for node in nodes { taken.formUnion(node.outputs + [node.name]) }
    }

    /// Replaces the node at `index`.
    public mutating func replaceNode(at index: Int, with node: Node) {
        graph.nodes[index] = node
        taken.formUnion(node.outputs + [node.name])
    }

    /// Removes the nodes at `indexes`.
    public mutating func removeNodes(at indexes: IndexSet) {
        graph.nodes = graph.nodes.enumerated().filter { !indexes.contains($0.offset) }.map(\.element)
    }

    /// Adds an initializer, or replaces the one with the same name.
    public mutating func setInitializer(_ name: String, _ tensor: Tensor) {
        if let index = graph.initializers.firstIndex(where: { $0.name == name }) {
            graph.initializers[index].tensor = tensor
            graph.initializers[index].externalSource = nil
        } else {
            graph.initializers.append(GraphTensor(name: name, tensor: tensor))
            taken.insert(name)
        }
    }

    /// Removes initializers that no node, subgraph or graph output reads any more (and their
    /// legacy graph-input entries).
    public mutating func removeUnusedInitializers() {
        var used = Set(graph.outputs.map(\.name))
        for node in graph.nodes {
            used.formUnion(node.inputs)
            for attribute in node.attributes {
                for subgraph in attribute.value.subgraphs { used.formUnion(Self.names(in: subgraph)) }
            }
        }
        let removed = Set(graph.initializers.map(\.name)).subtracting(used)
        graph.initializers.removeAll { removed.contains($0.name) }
        graph.inputs.removeAll { removed.contains($0.name) }
    }
}
