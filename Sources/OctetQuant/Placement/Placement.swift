import Foundation
import OctetGraph

/// Where Q/DQ goes in a graph: rules mark tensors per consumer, and ``QDQRewriter`` inserts
/// them in one pass. Every candidate node gets a decision with the reason when it is left in
/// float, for `--dry-run` reports.
public struct Placement: Sendable {
    /// One step from a graph into a subgraph: the attribute `attribute` of node `node`.
    public struct Step: Sendable, Hashable, Comparable {
        /// The node's index in its graph.
        public var node: Int
        /// The graph attribute (`then_branch`, `else_branch`, `body`).
        public var attribute: String

        public static func < (a: Step, b: Step) -> Bool { (a.node, a.attribute) < (b.node, b.attribute) }
    }

    /// One input of one node to quantize.
    public struct Mark: Sendable, Equatable {
        /// The node's index in its graph (the main graph, or the subgraph `subgraph` leads to).
        public var node: Int
        /// The input position.
        public var input: Int
        /// The value quantized.
        public var value: String
        /// Per-channel axis for a weight; `nil` for a per-tensor activation.
        public var axis: Int?
        /// The path from the main graph to the node's graph (empty: the main graph).
        public var subgraph: [Step] = []
    }

    /// What happened to a candidate node.
    public struct Decision: Sendable, Equatable {
        /// The node's label.
        public var node: String
        /// Its op type.
        public var opType: String
        /// `nil` when quantized, else why not.
        public var skipped: String?
        /// The input that kept the node in float for lack of a calibrated range, if that was why.
        public var missingRange: String?

        /// Creates a decision.
        public init(node: String, opType: String, skipped: String? = nil, missingRange: String? = nil) {
            self.node = node
            self.opType = opType
            self.skipped = skipped
            self.missingRange = missingRange
        }
    }

    /// The inputs to quantize, in node order.
    public var marks: [Mark]
    /// One decision per candidate node, in node order.
    public var decisions: [Decision]

    /// Places Q/DQ in `graph` and in the bodies of its `If`, `Loop` and `Scan` nodes, where
    /// every quantized input was observed during calibration.
    /// - Parameters:
    ///   - graph: a prepared graph (weights are initializers).
    ///   - ranges: activation ranges by tensor name (tensors with non-finite values must be absent).
    ///   - policy: the rules.
    public static func place(in graph: Graph, ranges: [String: TensorRange], policy: PlacementPolicy = .tensorRT) -> Placement {
        var placement = Placement(marks: [], decisions: [])
        placement.place(in: graph, path: [], where: nil, outerConstants: [:], ranges: ranges, policy: policy)
        return placement
    }

    /// Places Q/DQ in one graph, its subgraphs first at each node.
    /// - Parameters:
    ///   - path: the steps from the main graph to `graph`.
    ///   - location: how reports name `graph` (`nil` for the main graph).
    ///   - outerConstants: initializers of the enclosing graphs, visible inside `graph`.
    private mutating func place(in graph: Graph, path: [Step], where location: String?, outerConstants: [String: Tensor],
                                ranges: [String: TensorRange], policy: PlacementPolicy) {
        let constants = outerConstants.merging(graph.initializers.map { ($0.name, $0.tensor) }, uniquingKeysWith: { _, inner in inner })
        let excluded = policy.excludedNodes.compactMap { try? NSRegularExpression(pattern: "^(?:\($0))$") }
        var quantizedConvOutputs = Set<String>()
        func usable(_ value: String) -> String? {
            guard let range = ranges[value] else {
                return location == nil
                    ? "'\(value)' has no calibrated range (not a float activation, or not observed)"
                    : "'\(value)' was not observed (the body never ran on the calibration data, or it is not a float activation)"
            }
            if range.nonFinite > 0 { return "'\(value)' held NaN/inf values during calibration" }
            if !(range.amax > 0 && range.amax.isFinite) { return "'\(value)' has no finite non-zero range" }
            return nil
        }
        for (index, node) in graph.nodes.enumerated() where OpsetImport.canonical(node.domain) == "" {
            let label = node.displayName(index: index) + (location.map { " in \($0)" } ?? "")
            let name = node.name
            for attribute in node.attributes {
                guard case .graph(let body) = attribute.value else { continue }
                place(in: body, path: path + [Step(node: index, attribute: attribute.name)],
                      where: "\(node.displayName(index: index))\(location.map { " in \($0)" } ?? "").\(attribute.name)",
                      outerConstants: constants, ranges: ranges, policy: policy)
            }
            if policy.residualAdds, node.opType == "Add", node.inputs.count == 2 {
                let fromConv = node.inputs.map { quantizedConvOutputs.contains($0) }
                if fromConv.filter({ $0 }).count == 1, let other = fromConv.firstIndex(of: false), usable(node.inputs[other]) == nil,
                   !excluded.contains(where: { $0.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) != nil })
                {
                    marks.append(Mark(node: index, input: other, value: node.inputs[other], axis: nil, subgraph: path))
                    decisions.append(Decision(node: label, opType: node.opType, skipped: nil))
                }
                continue
            }
            guard policy.operators.contains(node.opType) else { continue }
            func skip(_ reason: String, missing: String? = nil) {
                decisions.append(Decision(node: label, opType: node.opType, skipped: reason, missingRange: missing))
            }
            if excluded.contains(where: { $0.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) != nil }) {
                skip("excluded by --exclude-nodes")
                continue
            }
            guard node.inputs.count >= 2, !node.inputs[0].isEmpty, !node.inputs[1].isEmpty else {
                skip("it has fewer than two inputs")
                continue
            }
            var nodeMarks: [Mark] = []
            var reason: String?
            var missing: String?
            for position in 0..<2 {
                let value = node.inputs[position]
                if let weight = constants[value] {
                    guard weight.dtype.isFloatingPoint else { reason = "input '\(value)' is not floating-point"; break }
                    guard position == 1 else { reason = "its first input '\(value)' is a constant"; break }
                    guard let axis = WeightStatistics.axis(of: node, rank: weight.rank) else {
                        reason = "weight '\(value)' has rank \(weight.rank), not a shape Octet quantizes per channel"
                        break
                    }
                    if node.opType == "MatMul", weight.rank == 2, min(weight.shape[0], weight.shape[1]) < policy.smallestMatMulDimension {
                        reason = "MatMul is \(weight.shape[0])×\(weight.shape[1]): K or N below \(policy.smallestMatMulDimension) (GEMV-shaped or tiny)"
                        break
                    }
                    nodeMarks.append(Mark(node: index, input: position, value: value, axis: axis, subgraph: path))
                } else if position == 1 && node.opType != "MatMul" {
                    reason = "weight '\(value)' is not a constant"
                    break
                } else if let problem = usable(value) {
                    reason = problem
                    // Inside a body a missing range means the body did not run: not a gap in the ranges.
                    if ranges[value] == nil, location == nil { missing = value }
                    break
                } else {
                    nodeMarks.append(Mark(node: index, input: position, value: value, axis: nil, subgraph: path))
                }
            }
            if let reason {
                skip(reason, missing: missing)
                continue
            }
            marks += nodeMarks
            decisions.append(Decision(node: label, opType: node.opType, skipped: nil))
            if node.opType == "Conv", let output = node.outputs.first { quantizedConvOutputs.insert(output) }
        }
    }
}
