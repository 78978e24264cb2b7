import Foundation

/// Raises a model's default-domain opset to 13, where QuantizeLinear/DequantizeLinear take a
/// per-channel `axis`, rewriting the operators whose form changed on the way (one adapter per
/// operator, applied in every graph and subgraph):
/// - Split, Squeeze, Unsqueeze, ReduceSum: the `split` / `axes` attribute becomes an int64
///   initializer input.
/// - Softmax, LogSoftmax, Hardmax: before 13 they flatten the input to 2-D at `axis` (default
///   1); from 13 they work along `axis` (default -1). On the last axis only the attribute
///   changes; elsewhere the node becomes Flatten → op(axis = -1) → Reshape to the input's shape.
/// Models at opset 11 and 12 are handled; older ones (whose Pad, Clip, Resize and others took
/// attributes) are refused, naming the operator set.
public enum OpsetUpgrade {
    /// The opset the upgrade targets.
    public static let target: Int64 = 13

    /// Errors upgrading a model.
    public enum UpgradeError: LocalizedError, Equatable {
        /// The model's opset is older than Octet can upgrade from.
        case tooOld(version: Int64)
        /// A node whose form cannot be carried to opset 13.
        case unsupported(node: String, reason: String)

        public var errorDescription: String? {
            switch self {
            case let .tooOld(version):
                "the model uses ONNX opset \(version); Octet upgrades opsets 11 and 12 to 13 (convert older models with onnx.version_converter first)"
            case let .unsupported(node, reason): "node \(node) cannot be upgraded to opset 13: \(reason)"
            }
        }
    }

    /// The model at opset 13 (unchanged when it already is at 13 or later).
    /// - Throws: ``UpgradeError`` naming the opset or the node that cannot be upgraded.
    public static func upgrade(_ model: Model) throws -> Model {
        guard let version = model.opsetVersion(for: ""), version < target else { return model }
        guard version >= 11 else { throw UpgradeError.tooOld(version: version) }
        var upgraded = model
        var editor = GraphEditor(model.graph)
        try upgrade(&editor)
        upgraded.graph = editor.graph
        upgraded.opsetImports = model.opsetImports.map { OpsetImport.canonical($0.domain) == "" ? OpsetImport(domain: $0.domain, version: target) : $0 }
        return upgraded
    }

    /// Upgrades the nodes of `editor`'s graph and, recursively, of its subgraphs.
    static func upgrade(_ editor: inout GraphEditor) throws {
        var index = 0
        while index < editor.graph.nodes.count {
            var node = editor.graph.nodes[index]
            for (position, attribute) in node.attributes.enumerated() {
                switch attribute.value {
                case .graph(let subgraph):
                    var inner = GraphEditor(subgraph)
                    try upgrade(&inner)
                    node.attributes[position].value = .graph(inner.graph)
                case .graphs(let subgraphs):
                    node.attributes[position].value = .graphs(try subgraphs.map { subgraph in
                        var inner = GraphEditor(subgraph)
                        try upgrade(&inner)
                        return inner.graph
                    })
                default: break
                }
            }
            editor.replaceNode(at: index, with: node)
            guard OpsetImport.canonical(node.domain) == "" else { index += 1; continue }
            switch node.opType {
            case "Split": moveIntsToInput(&editor, at: index, attribute: "split", position: 1)
            case "Squeeze", "Unsqueeze", "ReduceSum": moveIntsToInput(&editor, at: index, attribute: "axes", position: 1)
            case "Softmax", "LogSoftmax", "Hardmax": index += try adaptSoftmax(&editor, at: index)
            case "Resize":
                if case .string(let mode)? = node.attribute("coordinate_transformation_mode")?.value,
                   String(decoding: mode, as: UTF8.self) == "tf_half_pixel_for_nn"
                {
                    throw UpgradeError.unsupported(node: node.displayName(index: index), reason: "coordinate_transformation_mode 'tf_half_pixel_for_nn' was removed at opset 13")
                }
            default: break
            }
            index += 1
        }
    }

    /// Replaces an int-list attribute by an int64 initializer at input `position` (an absent
    /// attribute stays absent: the input is optional and means the same default).
    static func moveIntsToInput(_ editor: inout GraphEditor, at index: Int, attribute name: String, position: Int) {
        var node = editor.graph.nodes[index]
        guard let attributeIndex = node.attributes.firstIndex(where: { $0.name == name }) else { return }
        if case .ints(let values) = node.attributes[attributeIndex].value {
            let constant = editor.uniqueName("\(node.name.isEmpty ? node.outputs.first ?? node.opType : node.name)_\(name)")
            editor.setInitializer(constant, Tensor(shape: [values.count], scalars: values))
            while node.inputs.count < position { node.inputs.append("") }
            if node.inputs.count == position { node.inputs.append(constant) } else { node.inputs[position] = constant }
        }
        node.attributes.remove(at: attributeIndex)
        editor.replaceNode(at: index, with: node)
    }

    /// Adapts a Softmax-family node; returns how many nodes were inserted before it.
    static func adaptSoftmax(_ editor: inout GraphEditor, at index: Int) throws -> Int {
        var node = editor.graph.nodes[index]
        var axis: Int64 = 1
        if case .int(let value)? = node.attribute("axis")?.value { axis = value }
        let rank = editor.graph.rank(of: node.inputs.first ?? "")
        let last = axis == -1 || rank.map { axis == Int64($0) - 1 || axis == -1 } ?? false
        node.attributes.removeAll { $0.name == "axis" }
        node.attributes.append(Attribute(name: "axis", value: .int(-1)))
        if last {
            editor.replaceNode(at: index, with: node)
            return 0
        }
        guard let input = node.inputs.first, let output = node.outputs.first, !input.isEmpty, !output.isEmpty else {
            throw UpgradeError.unsupported(node: node.displayName(index: index), reason: "it has no input or output")
        }
        // Flatten to 2-D at `axis`, work on the last axis, restore the input's shape.
        let stem = node.name.isEmpty ? output : node.name
        let flat = editor.uniqueName("\(stem)_flat"), computed = editor.uniqueName("\(stem)_2d"), shape = editor.uniqueName("\(stem)_shape")
        let flatten = Node(opType: "Flatten", inputs: [input], outputs: [flat], name: editor.uniqueName("\(stem)_flatten"),
                           attributes: [Attribute(name: "axis", value: .int(axis))])
        let inputShape = Node(opType: "Shape", inputs: [input], outputs: [shape], name: editor.uniqueName("\(stem)_input_shape"))
        node.inputs[0] = flat
        node.outputs[0] = computed
        let reshape = Node(opType: "Reshape", inputs: [computed, shape], outputs: [output], name: editor.uniqueName("\(stem)_restore"))
        editor.replaceNode(at: index, with: node)
        editor.insert([reshape], at: index + 1)
        editor.insert([flatten, inputShape], at: index)
        return 2 + 1
    }
}

extension Graph {
    /// The rank of `value` when the graph declares it (inputs, outputs, value_info, initializers).
    public func rank(of value: String) -> Int? {
        if let tensor = initializers.first(where: { $0.name == value }) { return tensor.tensor.rank }
        let declared = inputs + outputs + valueInfo
        return declared.first { $0.name == value }?.type.shape?.count
    }
}
