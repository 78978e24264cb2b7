import Foundation
import OctetGraph

/// Graph fusions for sessions whose intermediate values nobody observes (`octet run` of the
/// graph outputs, FP32/INT8 evaluation): BatchNormalization folded into the Conv before it, and
/// the activation after a Conv (Relu, HardSwish, Sigmoid, HardSigmoid, SiLU, x·HardSigmoid) computed by the
/// Conv, a Relu after an Add computed by the Add, and an Add of a Conv's output and another
/// value (a residual block's sum) computed by the Conv. Calibration runs the graph as
/// written, since it needs every tensor the fusions remove.
enum Fusion {
    /// `model` with the fusions applied; its graph outputs are unchanged.
    static func apply(_ model: Model) -> Model {
        var editor = GraphEditor(model.graph)
        FoldBatchNormalization.apply(&editor)
        fuseConvActivation(&editor)
        fuseAddRelu(&editor)
        fuseConvAdd(&editor)
        editor.removeUnusedInitializers()
        var fused = model
        fused.graph = editor.graph
        return fused
    }

    /// Conv → activation, where the activation's nodes are the only readers of the Conv output:
    /// a Relu, HardSwish, Sigmoid or HardSigmoid; or Mul(y, Sigmoid(y)) (SiLU) or Mul(y, HardSigmoid(y)) (hard
    /// swish before opset 14). The Conv writes the activation's output (``FusedActivation``) and
    /// the activation's nodes go.
    static func fuseConvActivation(_ editor: inout GraphEditor) {
        let consumers = readers(in: editor.graph)
        var removed = IndexSet()
        for (index, node) in editor.graph.nodes.enumerated() where node.opType == "Conv" && OpsetImport.canonical(node.domain) == "" {
            guard let output = node.outputs.first, !output.isEmpty, let readers = consumers[output], !editor.isUsedBeyondNodes(output),
                  readers.allSatisfy({ !removed.contains($0) }),
                  let (activation, target, absorbed) = activation(after: output, readers: readers, in: editor, consumers: consumers)
            else { continue }
            var fused = node
            fused.outputs = [target]
            fused.attributes.append(contentsOf: activation.attributes)
            editor.replaceNode(at: index, with: fused)
            removed.formUnion(absorbed)
        }
        editor.removeNodes(at: removed)
    }

    /// Add → Relu (a residual block's sum), where the Relu is the Add output's only reader: the
    /// Add writes the Relu's output (``FusedActivation`` Relu) in the same pass.
    static func fuseAddRelu(_ editor: inout GraphEditor) {
        let consumers = readers(in: editor.graph)
        var removed = IndexSet()
        for (index, node) in editor.graph.nodes.enumerated() where node.opType == "Add" && OpsetImport.canonical(node.domain) == "" {
            guard let output = node.outputs.first, !output.isEmpty, !editor.isUsedBeyondNodes(output), let readers = consumers[output],
                  readers.count == 1, let reader = readers.first, !removed.contains(reader)
            else { continue }
            let relu = editor.graph.nodes[reader]
            guard relu.opType == "Relu", OpsetImport.canonical(relu.domain) == "", relu.inputs == [output], relu.outputs.count == 1,
                  let target = relu.outputs.first, !target.isEmpty
            else { continue }
            var fused = node
            fused.outputs = [target]
            fused.attributes.append(contentsOf: FusedActivation(kind: .relu).attributes)
            editor.replaceNode(at: index, with: fused)
            removed.insert(reader)
        }
        editor.removeNodes(at: removed)
    }

    /// Conv → Add(y, r) (a residual block's sum, with its fused Relu if any), where the Add is the
    /// only reader of the Conv output and the Conv has no activation of its own: the Conv takes
    /// `r` as a fourth input and the Add's output and activation (see ``ConvKernels/conv(_:)``).
    /// The fused node takes the Add's place in the node order, where `r` is already computed.
    static func fuseConvAdd(_ editor: inout GraphEditor) {
        let consumers = readers(in: editor.graph)
        var removed = IndexSet()
        for (index, node) in editor.graph.nodes.enumerated() where node.opType == "Conv" && OpsetImport.canonical(node.domain) == "" {
            guard node.inputs.count <= 3, node.outputs.count == 1, let output = node.outputs.first, !output.isEmpty,
                  node.attribute(FusedActivation.attribute) == nil, !editor.isUsedBeyondNodes(output),
                  let readers = consumers[output], readers.count == 1, let reader = readers.first, reader > index
            else { continue }
            let add = editor.graph.nodes[reader]
            guard add.opType == "Add", OpsetImport.canonical(add.domain) == "", add.inputs.count == 2, add.outputs.count == 1,
                  let target = add.outputs.first, !target.isEmpty,
                  let residual = add.inputs.first(where: { $0 != output }), !residual.isEmpty, add.inputs.contains(output)
            else { continue }
            var fused = node
            fused.inputs = node.inputs + Array(repeating: "", count: 3 - node.inputs.count) + [residual]
            fused.outputs = [target]
            fused.attributes.append(contentsOf: add.attributes.filter { $0.name == FusedActivation.attribute })
            editor.replaceNode(at: reader, with: fused)
            removed.insert(index)
        }
        editor.removeNodes(at: removed)
    }

    /// For each value, the indices of the nodes reading it (each node once).
    private static func readers(in graph: Graph) -> [String: [Int]] {
        var consumers: [String: [Int]] = [:]
        for (index, node) in graph.nodes.enumerated() {
            for input in Set(node.inputs) where !input.isEmpty { consumers[input, default: []].append(index) }
        }
        return consumers
    }

    /// The activation formed by `readers` of a Conv output, the value it produces and its nodes.
    private static func activation(after output: String, readers: [Int], in editor: GraphEditor, consumers: [String: [Int]])
        -> (FusedActivation, String, IndexSet)?
    {
        let nodes = editor.graph.nodes
        func standard(_ node: Node) -> Bool { OpsetImport.canonical(node.domain) == "" }
        func single(_ node: Node) -> String? {
            guard node.inputs == [output], node.outputs.count == 1, let value = node.outputs.first, !value.isEmpty else { return nil }
            return value
        }
        if readers.count == 1, let reader = readers.first, standard(nodes[reader]), let target = single(nodes[reader]) {
            let kinds: [String: FusedActivation.Kind] = ["Relu": .relu, "HardSwish": .hardSwish, "Sigmoid": .sigmoid,
                                                         "HardSigmoid": .hardSigmoid]
            guard let kind = kinds[nodes[reader].opType] else { return nil }
            if kind == .hardSigmoid {
                let (alpha, beta) = hardSigmoidParameters(nodes[reader])
                return (FusedActivation(kind: kind, alpha: alpha, beta: beta), target, [reader])
            }
            return (FusedActivation(kind: kind), target, [reader])
        }
        guard readers.count == 2 else { return nil }
        // Mul(y, gate(y)) where the gate's output is read by that Mul alone.
        for (gateIndex, mulIndex) in [(readers[0], readers[1]), (readers[1], readers[0])] {
            let (gate, mul) = (nodes[gateIndex], nodes[mulIndex])
            guard standard(gate), standard(mul), mul.opType == "Mul", let gated = single(gate), consumers[gated] == [mulIndex],
                  !editor.isUsedBeyondNodes(gated), Set(mul.inputs) == [output, gated], mul.inputs.count == 2,
                  mul.outputs.count == 1, let target = mul.outputs.first, !target.isEmpty
            else { continue }
            if gate.opType == "Sigmoid" { return (FusedActivation(kind: .silu), target, [gateIndex, mulIndex]) }
            if gate.opType == "HardSigmoid" {
                let (alpha, beta) = hardSigmoidParameters(gate)
                return (FusedActivation(kind: .xHardSigmoid, alpha: alpha, beta: beta), target, [gateIndex, mulIndex])
            }
        }
        return nil
    }

    /// A HardSigmoid node's alpha and beta (ONNX defaults 0.2 and 0.5).
    private static func hardSigmoidParameters(_ node: Node) -> (Float, Float) {
        var alpha: Float = 0.2, beta: Float = 0.5
        if case .float(let value)? = node.attribute("alpha")?.value { alpha = value }
        if case .float(let value)? = node.attribute("beta")?.value { beta = value }
        return (alpha, beta)
    }
}
