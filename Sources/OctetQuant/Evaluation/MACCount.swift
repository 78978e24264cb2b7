import Foundation
import OctetGraph

/// Multiply-accumulates of the candidate nodes (Conv, ConvTranspose, Gemm, MatMul) of a Q/DQ
/// model for one sample's shapes, and how many of them run in INT8 (the node reads a
/// DequantizeLinear output).
public struct MACCount: Codable, Sendable, Equatable {
    /// One candidate node.
    public struct Node: Codable, Sendable, Equatable {
        /// The node's name (its label when unnamed).
        public var node: String
        /// Its operator.
        public var opType: String
        /// Multiply-accumulates for one sample.
        public var macs: Int64
        /// Whether it reads a DequantizeLinear output.
        public var int8: Bool
    }

    /// The candidate nodes of the main graph, in node order.
    public var nodes: [Node]
    /// Multiply-accumulates of all candidates.
    public var total: Int64 { Self.sum(nodes) }
    /// Multiply-accumulates of the INT8 candidates.
    public var int8: Int64 { Self.sum(nodes.filter(\.int8)) }
    /// int8 / total (1 when there are no candidates).
    public var int8Fraction: Double { total > 0 ? Double(int8) / Double(total) : 1 }

    enum CodingKeys: String, CodingKey { case nodes, total, int8, int8Fraction }

    public init(nodes: [Node]) { self.nodes = nodes }

    public init(from decoder: any Decoder) throws {
        nodes = try decoder.container(keyedBy: CodingKeys.self).decode([Node].self, forKey: .nodes)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(nodes, forKey: .nodes)
        try container.encode(total, forKey: .total)
        try container.encode(int8, forKey: .int8)
        try container.encode(int8Fraction, forKey: .int8Fraction)
    }

    /// The operators whose multiply-accumulates are counted.
    static let operators: Set<String> = ["Conv", "ConvTranspose", "Gemm", "MatMul"]

    /// Counts the candidates of `graph` from the shapes of one run.
    /// - Parameters:
    ///   - graph: the Q/DQ model's main graph.
    ///   - shapes: the shape of every value the run produced or was fed (initializers are read
    ///     from the graph).
    public init(graph: Graph, shapes: [String: [Int]]) {
        var known = shapes
        for initializer in graph.initializers { known[initializer.name] = initializer.tensor.shape }
        var producer: [String: String] = [:]
        for node in graph.nodes { for output in node.outputs where !output.isEmpty { producer[output] = node.opType } }
        nodes = graph.nodes.enumerated().compactMap { index, node in
            guard node.domain.isEmpty || node.domain == "ai.onnx", Self.operators.contains(node.opType),
                  let macs = Self.macs(node, known) else { return nil }
            let int8 = node.inputs.contains { producer[$0] == "DequantizeLinear" }
            return Node(node: node.name.isEmpty ? node.displayName(index: index) : node.name, opType: node.opType, macs: macs, int8: int8)
        }
    }

    /// A node's multiply-accumulates, or nil when a shape it needs is unknown.
    static func macs(_ node: OctetGraph.Node, _ shapes: [String: [Int]]) -> Int64? {
        func shape(_ position: Int) -> [Int]? { position < node.inputs.count ? shapes[node.inputs[position]] : nil }
        guard let output = node.outputs.first.flatMap({ shapes[$0] }) else { return nil }
        let outputs = Self.product(output)
        switch node.opType {
        case "MatMul":
            guard let a = shape(0), let k = a.last else { return nil }
            return Self.multiply(outputs, Int64(k))
        case "Gemm":
            guard let a = shape(0), a.count == 2 else { return nil }
            let transposed: Bool
            if case .int(let value)? = node.attribute("transA")?.value { transposed = value != 0 } else { transposed = false }
            return Self.multiply(outputs, Int64(transposed ? a[0] : a[1]))
        case "Conv":
            guard let weight = shape(1), weight.count >= 2 else { return nil }
            return Self.multiply(outputs, Self.product(weight.dropFirst()))
        case "ConvTranspose":
            // Each input element reaches Cout/group · kernel outputs (weight: [Cin, Cout/group, k…]).
            guard let input = shape(0), let weight = shape(1), weight.count >= 2 else { return nil }
            return Self.multiply(Self.product(input), Self.product(weight.dropFirst()))
        default:
            return nil
        }
    }

    static func sum(_ nodes: [Node]) -> Int64 {
        nodes.reduce(0) { total, node in
            let (value, overflow) = total.addingReportingOverflow(node.macs)
            return overflow ? .max : value
        }
    }

    static func product<C: Collection>(_ dims: C) -> Int64 where C.Element == Int {
        dims.reduce(Int64(1)) { multiply($0, Int64($1)) }
    }

    /// a · b, saturating at Int64.max (shapes come from user models).
    static func multiply(_ a: Int64, _ b: Int64) -> Int64 {
        let (value, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? .max : value
    }
}
