import Foundation
import OctetGraph

/// Graph fusions for sessions whose intermediate values nobody observes (`octet run` of the
/// graph outputs, FP32/INT8 evaluation): BatchNormalization folded into the Conv before it, and
/// a Relu after a Conv computed in the Conv's output stores. Calibration runs the graph as
/// written, since it needs every tensor the fusions remove.
enum Fusion {
    /// `model` with the fusions applied; its graph outputs are unchanged.
    static func apply(_ model: Model) -> Model {
        var editor = GraphEditor(model.graph)
        FoldBatchNormalization.apply(&editor)
        fuseConvRelu(&editor)
        editor.removeUnusedInitializers()
        var fused = model
        fused.graph = editor.graph
        return fused
    }

    /// Conv → Relu, where the Relu is the Conv output's only reader: the Conv writes the Relu's
    /// output with the activation applied, and the Relu goes.
    static func fuseConvRelu(_ editor: inout GraphEditor) {
        var consumers: [String: [Int]] = [:]
        for (index, node) in editor.graph.nodes.enumerated() {
            for input in Set(node.inputs) where !input.isEmpty { consumers[input, default: []].append(index) }
        }
        var removed = IndexSet()
        for (index, node) in editor.graph.nodes.enumerated() where node.opType == "Conv" && OpsetImport.canonical(node.domain) == "" {
            guard let output = node.outputs.first, !output.isEmpty, let readers = consumers[output], readers.count == 1,
                  let reluIndex = readers.first, !removed.contains(reluIndex)
            else { continue }
            let relu = editor.graph.nodes[reluIndex]
            guard relu.opType == "Relu", OpsetImport.canonical(relu.domain) == "", relu.inputs == [output], let target = relu.outputs.first,
                  !editor.isUsedBeyondNodes(output)
            else { continue }
            var fused = node
            fused.outputs = [target]
            fused.attributes.append(Attribute(name: ConvKernels.fusedActivation, value: .string(Data("Relu".utf8))))
            editor.replaceNode(at: index, with: fused)
            removed.insert(reluIndex)
        }
        editor.removeNodes(at: removed)
    }
}
