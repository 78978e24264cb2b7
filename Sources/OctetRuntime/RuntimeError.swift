import Foundation
import OctetGraph

/// An operator Octet cannot run, with every node that uses it.
public struct UnsupportedOperator: Sendable, Equatable, Codable {
    /// Operator type.
    public var opType: String
    /// Operator set domain (`""` is ONNX's default domain).
    public var domain: String
    /// The opset version the model imports for that domain.
    public var opset: Int64
    /// Labels of the nodes that use it.
    public var nodes: [String]
}

/// Errors planning or running a model.
public enum RuntimeError: LocalizedError, Equatable {
    /// Operators the engine lacks, all listed at once.
    case unsupportedOperators([UnsupportedOperator])
    /// A graph input with no fed value.
    case missingInput(name: String)
    /// A fed value the graph has no input for.
    case unknownInput(name: String, expected: [String])
    /// A node failed; names the node, its op and the shapes it received.
    case kernel(node: String, opType: String, inputShapes: [String], reason: String)
    /// The graph cannot be ordered (a cycle).
    case unorderable(graph: String)

    public var errorDescription: String? {
        switch self {
        case .unsupportedOperators(let list):
            let lines = list.map { entry in
                let domain = entry.domain.isEmpty ? "ai.onnx" : entry.domain
                let shown = entry.nodes.prefix(5).joined(separator: ", ")
                let more = entry.nodes.count > 5 ? " and \(entry.nodes.count - 5) more" : ""
                return "  - \(entry.opType) (domain \(domain), opset \(entry.opset)): \(shown)\(more)"
            }
            return "the model uses \(list.count) operator\(list.count == 1 ? "" : "s") Octet cannot run yet:\n" + lines.joined(separator: "\n")
        case .missingInput(let name): return "no value was given for the model input '\(name)'"
        case let .unknownInput(name, expected):
            return "'\(name)' is not an input of the model (its inputs are: \(expected.joined(separator: ", ")))"
        case let .kernel(node, _, shapes, reason):
            // The node label already names the op ("'conv1' (Conv)", "unnamed Conv node #3").
            return "node \(node) with inputs \(shapes.joined(separator: ", ")): \(reason)"
        case .unorderable(let graph): return "graph '\(graph)' has a cycle and cannot be run"
        }
    }
}

/// A failure inside a kernel; the executor adds the node, op and input shapes.
public struct KernelError: Error, Equatable {
    /// What went wrong, phrased for the user.
    public var reason: String

    /// Creates an error.
    public init(_ reason: String) { self.reason = reason }
}
