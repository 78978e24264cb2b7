import Foundation

/// A computation graph: inputs, outputs, constants and nodes. Subgraphs of control-flow
/// nodes (If, Loop, Scan) are graphs held in node attributes.
public struct Graph: Sendable {
    /// Graph name.
    public var name: String
    /// Nodes in file order (ONNX requires topological order; ``Validation`` checks it).
    public var nodes: [Node]
    /// Declared inputs, including any that older exporters list for initializers.
    public var inputs: [ValueInfo]
    /// Declared outputs.
    public var outputs: [ValueInfo]
    /// Types of intermediate values, where the file gives them.
    public var valueInfo: [ValueInfo]
    /// Initializers in file order.
    public var initializers: [GraphTensor]
    /// Sparse initializers, carried through without being decoded.
    public var sparseInitializers: [SparseConstant] = []
    /// Free-form documentation.
    public var docString: String
    /// Fields Octet does not model (sparse initializers, quantization annotations, …).
    public var preserved: PreservedFields

    /// Creates a graph.
    public init(name: String = "main", nodes: [Node] = [], inputs: [ValueInfo] = [], outputs: [ValueInfo] = [],
                initializers: [GraphTensor] = [], valueInfo: [ValueInfo] = [], docString: String = "",
                preserved: PreservedFields = PreservedFields()) {
        self.name = name
        self.nodes = nodes
        self.inputs = inputs
        self.outputs = outputs
        self.initializers = initializers
        self.valueInfo = valueInfo
        self.docString = docString
        self.preserved = preserved
    }

    /// Inputs that must be fed at run time: declared inputs that are not initializers.
    public var runtimeInputs: [ValueInfo] {
        let constant = Set(initializers.map(\.name))
        return inputs.filter { !constant.contains($0.name) }
    }

    /// Every subgraph of this graph's nodes, recursively, with the path of nodes leading to it.
    public var allSubgraphs: [(path: String, graph: Graph)] {
        var result: [(String, Graph)] = []
        for (index, node) in nodes.enumerated() {
            for attribute in node.attributes {
                for (position, subgraph) in attribute.value.subgraphs.enumerated() {
                    let suffix = attribute.value.subgraphs.count > 1 ? "[\(position)]" : ""
                    let path = "\(node.displayName(index: index)).\(attribute.name)\(suffix)"
                    result.append((path, subgraph))
                    result += subgraph.allSubgraphs.map { ("\(path) / \($0.path)", $0.graph) }
                }
            }
        }
        return result
    }
}

/// A sparse initializer Octet keeps as opaque bytes (exporters rarely write them; ONNX Runtime
/// densifies them when it loads a model).
public struct SparseConstant: Sendable {
    /// Name of the value it defines.
    public var name: String
    /// The serialized `SparseTensorProto`.
    public var bytes: Data
}
