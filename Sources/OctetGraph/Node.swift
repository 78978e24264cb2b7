import Foundation

/// One operator application in a graph.
public struct Node: Sendable {
    /// Node name; may be empty (``displayName`` then gives a usable label).
    public var name: String
    /// Operator type (`Conv`, `MatMul`, …).
    public var opType: String
    /// Operator set domain; `""` is the default ONNX domain.
    public var domain: String
    /// Input value names in order; `""` marks an omitted optional input.
    public var inputs: [String]
    /// Output value names in order; `""` marks an omitted optional output.
    public var outputs: [String]
    /// Attributes in file order.
    public var attributes: [Attribute]
    /// Free-form documentation.
    public var docString: String
    /// Fields Octet does not model (node metadata, device configurations, …).
    public var preserved: PreservedFields

    /// Creates a node.
    public init(opType: String, inputs: [String], outputs: [String], name: String = "", domain: String = "",
                attributes: [Attribute] = [], docString: String = "", preserved: PreservedFields = PreservedFields()) {
        self.opType = opType
        self.inputs = inputs
        self.outputs = outputs
        self.name = name
        self.domain = domain
        self.attributes = attributes
        self.docString = docString
        self.preserved = preserved
    }

    /// The attribute named `name`, if present.
    public func attribute(_ name: String) -> Attribute? { attributes.first { $0.name == name } }

    /// A label for messages: the node's name, or `<op> node #<index>` for unnamed nodes, with
    /// its first output as context.
    /// - Parameter index: the node's position in its graph.
    public func displayName(index: Int) -> String {
        if !name.isEmpty { return "'\(name)' (\(opType))" }
        let output = outputs.first { !$0.isEmpty }.map { " producing '\($0)'" } ?? ""
        return "unnamed \(opType) node #\(index)\(output)"
    }
}

/// A named attribute of a node.
public struct Attribute: Sendable {
    /// Attribute name.
    public var name: String
    /// The value.
    public var value: AttributeValue
    /// For attributes inside functions: the name of the caller's attribute this refers to.
    public var refAttrName: String
    /// Free-form documentation.
    public var docString: String
    /// Fields Octet does not model.
    public var preserved: PreservedFields

    /// Creates an attribute.
    public init(name: String, value: AttributeValue, refAttrName: String = "", docString: String = "",
                preserved: PreservedFields = PreservedFields()) {
        self.name = name
        self.value = value
        self.refAttrName = refAttrName
        self.docString = docString
        self.preserved = preserved
    }
}

/// The value of an attribute.
public enum AttributeValue: Sendable {
    case float(Float)
    case int(Int64)
    case string(Data)
    case tensor(GraphTensor)
    case graph(Graph)
    case floats([Float])
    case ints([Int64])
    case strings([Data])
    case tensors([GraphTensor])
    case graphs([Graph])
    /// A kind Octet does not interpret (sparse tensors, type protos); `type` is the ONNX
    /// `AttributeType` code and the data stays in the attribute's preserved fields.
    case other(type: Int)

    /// The subgraphs this value holds.
    public var subgraphs: [Graph] {
        switch self {
        case .graph(let graph): [graph]
        case .graphs(let graphs): graphs
        default: []
        }
    }
}
