import Foundation
import OctetGraph

/// Inserts the Q/DQ pairs a ``Placement`` marks, in one pass: for every marked input of every
/// node, `QuantizeLinear → DequantizeLinear` with a float32 scale and an explicit int8 zero
/// point of 0 (SPEC §3), between the value and that node only. Activations are per tensor
/// (scale = amax / 127 from calibration); weights per channel, with `axis` written out and the
/// weights left in float32 for TensorRT to quantize when it builds the engine.
public enum QDQRewriter {
    /// Errors rewriting.
    public enum RewriteError: LocalizedError, Equatable {
        /// A marked activation without a range.
        case missingRange(String)
        /// A marked weight that is not an initializer.
        case missingWeight(String)
        /// A mark inside a subgraph that the graph does not have.
        case missingSubgraph(node: Int, attribute: String)

        public var errorDescription: String? {
            switch self {
            case let .missingRange(name): "'\(name)' is marked for Q/DQ but has no range"
            case let .missingWeight(name): "'\(name)' is marked as a weight but is not an initializer"
            case let .missingSubgraph(node, attribute): "node #\(node) has no graph attribute '\(attribute)' for the Q/DQ marked inside it"
            }
        }
    }

    /// Rewrites `editor`'s graph.
    /// - Parameters:
    ///   - placement: where Q/DQ goes (node indexes of `editor`'s current graph).
    ///   - ranges: activation ranges by name.
    /// - Returns: for each quantized value, the DequantizeLinear outputs that now stand for it.
    /// - Parameter weightsInt8: store weights as int8 initializers behind a DequantizeLinear only
    ///   (about 4× smaller files), instead of float weights behind Q → DQ.
    @discardableResult
    public static func apply(_ editor: inout GraphEditor, placement: Placement, ranges: [String: TensorRange],
                             weightsInt8: Bool = false) throws -> [String: [String]] {
        var replacements: [String: [String]] = [:]
        try rewrite(&editor, marks: placement.marks, outerConstants: [:], ranges: ranges, weightsInt8: weightsInt8, replacements: &replacements)
        if weightsInt8 { editor.removeUnusedInitializers() }
        return replacements
    }

    /// Rewrites one graph: first the subgraphs that hold marks (editing a node's attribute keeps
    /// every index valid), each with its own editor whose new names avoid the whole model's,
    /// then the graph's own marks from the last node backwards.
    /// - Parameter outerConstants: initializers of the enclosing graphs (weights a body reads).
    private static func rewrite(_ editor: inout GraphEditor, marks: [Placement.Mark], outerConstants: [String: Tensor],
                                ranges: [String: TensorRange], weightsInt8: Bool, replacements: inout [String: [String]]) throws {
        let constants = outerConstants.merging(editor.graph.initializers.map { ($0.name, $0.tensor) }, uniquingKeysWith: { _, inner in inner })
        let nested = Dictionary(grouping: marks.filter { !$0.subgraph.isEmpty }) { $0.subgraph[0] }
        for step in nested.keys.sorted() {
            guard editor.graph.nodes.indices.contains(step.node),
                  let attribute = editor.graph.nodes[step.node].attributes.first(where: { $0.name == step.attribute }),
                  case .graph(let body) = attribute.value
            else { throw RewriteError.missingSubgraph(node: step.node, attribute: step.attribute) }
            var inner = GraphEditor(body, reserving: editor.reservedNames)
            let innerMarks = (nested[step] ?? []).map { mark in
                var mark = mark
                mark.subgraph.removeFirst()
                return mark
            }
            try rewrite(&inner, marks: innerMarks, outerConstants: constants, ranges: ranges, weightsInt8: weightsInt8, replacements: &replacements)
            if weightsInt8 { inner.removeUnusedInitializers() }
            editor.reserve(inner.reservedNames)
            editor.replaceSubgraph(of: step.node, attribute: step.attribute, with: inner.graph)
        }
        var activationParameters: [String: (scale: String, zeroPoint: String)] = [:]
        let byNode = Dictionary(grouping: marks.filter { $0.subgraph.isEmpty }, by: \.node)
        for index in byNode.keys.sorted(by: >) {
            var node = editor.graph.nodes[index]
            var inserted: [Node] = []
            for mark in byNode[index] ?? [] {
                let value = mark.value
                let scale: String, zeroPoint: String
                var attributes: [Attribute] = []
                if let axis = mark.axis {
                    guard let weight = constants[value] else { throw RewriteError.missingWeight(value) }
                    guard let floats = try? weight.converted(to: .float32) else { throw RewriteError.missingWeight(value) }
                    let channels = weight.shape[axis]
                    let maxima = WeightStatistics.channelMaxima(floats, axis: axis)
                    // A channel of zeros still needs a positive scale.
                    let scales = maxima.map { Int8Quantization.scale(amax: Double($0 > 0 ? $0 : 1)) }
                    scale = editor.uniqueName("\(value)_scale")
                    zeroPoint = editor.uniqueName("\(value)_zero_point")
                    editor.setInitializer(scale, Tensor(shape: [channels], scalars: scales))
                    editor.setInitializer(zeroPoint, Tensor(shape: [channels], scalars: [Int8](repeating: 0, count: channels)))
                    attributes = [Attribute(name: "axis", value: .int(Int64(axis)))]
                } else if let shared = activationParameters[value] {
                    (scale, zeroPoint) = shared
                } else {
                    guard let range = ranges[value], range.amax > 0, range.amax.isFinite else { throw RewriteError.missingRange(value) }
                    scale = editor.uniqueName("\(value)_scale")
                    zeroPoint = editor.uniqueName("\(value)_zero_point")
                    editor.setInitializer(scale, Tensor(shape: [], scalars: [range.scale]))
                    editor.setInitializer(zeroPoint, Tensor(shape: [], scalars: [Int8(0)]))
                    activationParameters[value] = (scale, zeroPoint)
                }
                let quantized = editor.uniqueName("\(value)_quantized")
                let restored = editor.uniqueName("\(value)_dequantized")
                if weightsInt8, let axis = mark.axis, let weight = constants[value], let scales = editor.initializer(scale) {
                    editor.setInitializer(quantized, Self.quantizePerChannel(weight, scales: scales.scalars(as: Float.self), axis: axis))
                } else {
                    inserted.append(Node(opType: "QuantizeLinear", inputs: [value, scale, zeroPoint], outputs: [quantized],
                                         name: editor.uniqueName("\(value)_QuantizeLinear"), attributes: attributes))
                }
                inserted.append(Node(opType: "DequantizeLinear", inputs: [quantized, scale, zeroPoint], outputs: [restored],
                                     name: editor.uniqueName("\(value)_DequantizeLinear"), attributes: attributes))
                node.inputs[mark.input] = restored
                replacements[value, default: []].append(restored)
            }
            editor.replaceNode(at: index, with: node)
            editor.insert(inserted, at: index)
        }
    }

    /// `clamp(round_half_even(w / scale[c]), -127, 127)` per channel along `axis`, as int8 (the
    /// narrow range TensorRT uses for weights; QuantizeLinear in float32 gives the same codes
    /// except that it could reach -128, which |w| ≤ amax rules out).
    static func quantizePerChannel(_ weight: Tensor, scales: [Float], axis: Int) -> Tensor {
        let floats = (try? weight.converted(to: .float32)) ?? weight
        let channels = weight.shape[axis]
        let inner = weight.shape.dropFirst(axis + 1).reduce(1, *)
        let values = floats.scalars(as: Float.self)
        let codes = values.indices.map { offset -> Int8 in
            let channel = (offset / max(inner, 1)) % max(channels, 1)
            let q = (values[offset] / scales[channel]).rounded(.toNearestOrEven)
            return q.isFinite ? Int8(min(max(q, -127), 127)) : 0
        }
        return Tensor(shape: weight.shape, scalars: codes)
    }
}
