import Foundation

/// Preparation: a BatchNormalization (inference form) whose input is a Conv output read by
/// nothing else is folded into the Conv's weights and bias:
/// `W'[k] = W[k] · γ[k] / √(σ²[k] + ε)`, `B'[k] = (B[k] − μ[k]) · γ[k] / √(σ²[k] + ε) + β[k]`.
/// TensorRT fuses the pair itself, but Q/DQ on the Conv weight must quantize the folded
/// weights, so folding comes first. All parameters must be float initializers.
public enum FoldBatchNormalization {
    /// Rewrites `editor`'s graph; returns the folded BatchNormalization nodes' labels.
    @discardableResult
    public static func apply(_ editor: inout GraphEditor) -> [String] {
        var folded: [String] = []
        var index = 0
        while index < editor.graph.nodes.count {
            let node = editor.graph.nodes[index]
            defer { index += 1 }
            guard node.opType == "BatchNormalization", OpsetImport.canonical(node.domain) == "", node.inputs.count == 5,
                  node.outputs.count >= 1, node.outputs.dropFirst().allSatisfy(\.isEmpty),
                  Self.trainingMode(node) == 0,
                  let convIndex = editor.producer(of: node.inputs[0]),
                  editor.graph.nodes[convIndex].opType == "Conv", OpsetImport.canonical(editor.graph.nodes[convIndex].domain) == "",
                  editor.consumers(of: node.inputs[0]) == [index], !editor.isUsedBeyondNodes(node.inputs[0])
            else { continue }
            let conv = editor.graph.nodes[convIndex]
            guard conv.inputs.count >= 2, let weight = editor.initializer(conv.inputs[1]),
                  let parameters = Self.floats(node.inputs.dropFirst().map { editor.initializer($0) }),
                  let weights = try? weight.converted(to: .float32), weight.dtype.isFloatingPoint, weight.rank >= 3
            else { continue }
            let channels = weight.shape[0]
            guard parameters.allSatisfy({ $0.count == channels }) else { continue }
            let bias: [Float]
            if conv.inputs.count >= 3, !conv.inputs[2].isEmpty {
                guard let given = editor.initializer(conv.inputs[2]), let values = try? given.converted(to: .float32),
                      values.elementCount == channels
                else { continue }
                bias = values.scalars(as: Float.self)
            } else {
                bias = [Float](repeating: 0, count: channels)
            }
            let epsilon = Self.epsilon(node)
            let (gamma, beta, mean, variance) = (parameters[0], parameters[1], parameters[2], parameters[3])
            let factors = (0..<channels).map { gamma[$0] / (variance[$0] + epsilon).squareRoot() }
            let perChannel = weights.elementCount / max(channels, 1)
            var scaled = weights.scalars(as: Float.self)
            for channel in 0..<channels {
                for offset in (channel * perChannel)..<((channel + 1) * perChannel) { scaled[offset] *= factors[channel] }
            }
            let newBias = (0..<channels).map { (bias[$0] - mean[$0]) * factors[$0] + beta[$0] }
            // New initializers (the originals may be shared with other nodes).
            let weightName = editor.uniqueName(conv.inputs[1] + "_bn_folded")
            let biasName = editor.uniqueName((conv.inputs.count >= 3 && !conv.inputs[2].isEmpty ? conv.inputs[2] : conv.outputs[0] + "_bias") + "_bn_folded")
            editor.setInitializer(weightName, Tensor(shape: weight.shape, scalars: scaled))
            editor.setInitializer(biasName, Tensor(shape: [channels], scalars: newBias))
            var fused = conv
            fused.inputs = [conv.inputs[0], weightName, biasName]
            fused.outputs = [node.outputs[0]]
            editor.replaceNode(at: convIndex, with: fused)
            editor.removeNodes(at: IndexSet(integer: index))
            folded.append(node.displayName(index: index))
            index -= 1
        }
        editor.removeUnusedInitializers()
        return folded
    }

    static func epsilon(_ node: Node) -> Float {
        if case .float(let value)? = node.attribute("epsilon")?.value { return value }
        return 1e-5
    }

    static func trainingMode(_ node: Node) -> Int64 {
        if case .int(let value)? = node.attribute("training_mode")?.value { return value }
        return 0
    }

    /// The tensors as float32 arrays, when all are present and floating-point.
    static func floats(_ tensors: [Tensor?]) -> [[Float]]? {
        var result: [[Float]] = []
        for tensor in tensors {
            guard let tensor, tensor.dtype.isFloatingPoint, let values = try? tensor.converted(to: .float32) else { return nil }
            result.append(values.scalars(as: Float.self))
        }
        return result
    }
}
