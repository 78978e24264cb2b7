import Foundation
import OctetGraph

/// The per-tensor and per-output-channel |w| maxima of a constant weight of Conv,
/// ConvTranspose, Gemm or MatMul, on the axis TensorRT quantizes it along (SPEC §3).
public struct WeightStatistics: Codable, Sendable, Equatable {
    /// The weight's value name (an initializer or a `Constant` node's output).
    public var name: String
    /// The node that reads it.
    public var node: String
    /// That node's op type.
    public var opType: String
    /// The per-channel axis: Conv 0, ConvTranspose 1, Gemm 0 with transB = 1 else 1, MatMul 1.
    public var axis: Int
    /// Largest finite |w| of the whole tensor.
    public var absmax: Float
    /// Largest finite |w| of each slice along `axis`.
    public var channelAbsmax: [Float]

    /// The weights of `graph`'s nodes (not of subgraphs), in node order, one entry per weight.
    public static func collect(from graph: Graph) -> [WeightStatistics] {
        let constants = graph.constants
        var result: [WeightStatistics] = []
        var seen = Set<String>()
        for (index, node) in graph.nodes.enumerated() where OpsetImport.canonical(node.domain) == "" {
            guard node.inputs.count > 1, let tensor = constants[node.inputs[1]], tensor.dtype.isFloatingPoint,
                  let axis = axis(of: node, rank: tensor.rank), seen.insert(node.inputs[1]).inserted,
                  let values = try? tensor.converted(to: .float32)
            else { continue }
            let perChannel = channelMaxima(values, axis: axis)
            result.append(WeightStatistics(name: node.inputs[1], node: node.displayName(index: index), opType: node.opType,
                                           axis: axis, absmax: perChannel.max() ?? 0, channelAbsmax: perChannel))
        }
        return result
    }

    /// The largest finite |w| of each slice of a float32 tensor along `axis`.
    static func channelMaxima(_ values: Tensor, axis: Int) -> [Float] {
        let channels = values.shape[axis]
        let inner = values.shape.dropFirst(axis + 1).reduce(1, *)
        var maxima = [Float](repeating: 0, count: channels)
        values.withElements(as: Float.self) { buffer in
            for (offset, value) in buffer.enumerated() where value.isFinite {
                let channel = (offset / max(inner, 1)) % max(channels, 1)
                maxima[channel] = max(maxima[channel], abs(value))
            }
        }
        return maxima
    }

    /// SPEC §3's weight axis for `node`, or `nil` when the node takes no quantizable weight.
    static func axis(of node: Node, rank: Int) -> Int? {
        switch node.opType {
        case "Conv": return rank >= 3 ? 0 : nil
        case "ConvTranspose": return rank >= 3 ? 1 : nil
        case "Gemm":
            guard rank == 2 else { return nil }
            return node.attributes.first { $0.name == "transB" }.flatMap { attribute -> Int? in
                if case .int(let value) = attribute.value { return value == 1 ? 0 : 1 }
                return nil
            } ?? 1
        case "MatMul": return rank == 2 ? 1 : nil
        default: return nil
        }
    }
}
