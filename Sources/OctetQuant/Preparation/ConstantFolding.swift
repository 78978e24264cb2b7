import Foundation
import OctetGraph
import OctetRuntime

/// Preparation: main-graph nodes whose inputs are all initializers (weights reshaped,
/// transposed or cast by the exporter, shape arithmetic on constants) are computed once with
/// Octet's engine and replaced by initializers, so Q/DQ placement sees the weights a Conv,
/// Gemm or MatMul really reads. Quantize/Dequantize nodes (a model's existing quantization),
/// random generators, control flow and nodes whose result would be much larger than their
/// inputs (Expand, Tile, ConstantOfShape of large shapes) stay.
public enum ConstantFolding {
    /// Operators never folded.
    static let kept: Set<String> = [
        "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "RandomNormal", "RandomNormalLike", "RandomUniform",
        "RandomUniformLike", "Multinomial", "Bernoulli", "If", "Loop", "Scan", "Constant",
    ]
    /// A folded result may be at most this many bytes larger than the node's inputs.
    static let growthAllowance = 1 << 16

    /// Folds `editor`'s graph; returns the labels of the folded nodes.
    /// - Parameter model: the model the graph belongs to (its opsets choose the kernels).
    @discardableResult
    public static func apply(_ editor: inout GraphEditor, model: Model) -> [String] {
        var folded: [String] = []
        var index = 0
        let outputs = Set(editor.graph.outputs.map(\.name))
        while index < editor.graph.nodes.count {
            let node = editor.graph.nodes[index]
            let inputs = node.inputs.filter { !$0.isEmpty }
            let constants = inputs.compactMap { name in editor.initializer(name).map { (name, $0) } }
            guard OpsetImport.canonical(node.domain) == "", !kept.contains(node.opType), !inputs.isEmpty,
                  constants.count == inputs.count, !node.outputs.contains(where: { $0.isEmpty || outputs.contains($0) }),
                  !node.attributes.contains(where: { !$0.value.subgraphs.isEmpty }),
                  let results = evaluate(node, constants: constants, model: model)
            else {
                index += 1
                continue
            }
            let inputBytes = constants.reduce(0) { $0 + $1.1.byteCount }
            guard results.reduce(0, { $0 + $1.byteCount }) <= inputBytes + growthAllowance else {
                index += 1
                continue
            }
            for (name, tensor) in zip(node.outputs, results) { editor.setInitializer(name, tensor) }
            editor.removeNodes(at: IndexSet(integer: index))
            folded.append(node.displayName(index: index))
        }
        if !folded.isEmpty { editor.removeUnusedInitializers() }
        return folded
    }

    /// The node's outputs computed by the engine, or `nil` when it cannot run on its own.
    static func evaluate(_ node: Node, constants: [(String, Tensor)], model: Model) -> [Tensor]? {
        let graph = Graph(name: "fold", nodes: [node], outputs: node.outputs.map { ValueInfo(name: $0, type: .unknown) },
                          initializers: constants.map { GraphTensor(name: $0.0, tensor: $0.1) })
        let single = Model(graph: graph, opsetImports: model.opsetImports, irVersion: model.irVersion)
        guard let session = try? Session(model: single), let values = try? session.run([:]) else { return nil }
        let results = node.outputs.compactMap { values[$0] }
        return results.count == node.outputs.count ? results : nil
    }
}
