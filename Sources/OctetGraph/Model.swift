import Foundation

/// An ONNX model in Octet's own types: metadata, operator set imports and the main graph.
public struct Model: Sendable {
    /// ONNX IR version the file declares.
    public var irVersion: Int64
    /// Operator sets the graph's nodes bind to, in file order.
    public var opsetImports: [OpsetImport]
    /// Tool that wrote the model (`pytorch`, `tf2onnx`, …).
    public var producerName: String
    /// Version of that tool.
    public var producerVersion: String
    /// Reverse-DNS domain of the model, often empty.
    public var domain: String
    /// Version number of the model itself.
    public var modelVersion: Int64
    /// Free-form documentation.
    public var docString: String
    /// Key/value metadata, in file order.
    public var metadata: [MetadataEntry]
    /// The main graph.
    public var graph: Graph
    /// Model-local functions, kept as opaque bytes.
    public var functions: [OpaqueFunction]
    /// Fields of the model message Octet does not model (training info, …).
    public var preserved: PreservedFields

    /// Creates a model.
    /// - Parameters:
    ///   - graph: the main graph.
    ///   - opsetImports: operator sets; include the default domain (`""`).
    ///   - irVersion: ONNX IR version to declare (8 suits opsets up to 17).
    ///   - producerName: tool name written into the file.
    public init(graph: Graph, opsetImports: [OpsetImport], irVersion: Int64 = 8, producerName: String = "octet") {
        self.graph = graph
        self.opsetImports = opsetImports
        self.irVersion = irVersion
        self.producerName = producerName
        producerVersion = ""
        domain = ""
        modelVersion = 0
        docString = ""
        metadata = []
        functions = []
        preserved = PreservedFields()
    }

    /// The version imported for `domain` (`""` and `ai.onnx` are the same domain), or `nil`.
    /// - Parameter domain: an operator set domain.
    public func opsetVersion(for domain: String) -> Int64? {
        let wanted = OpsetImport.canonical(domain)
        return opsetImports.first { OpsetImport.canonical($0.domain) == wanted }?.version
    }
}

/// One `opset_import` entry.
public struct OpsetImport: Sendable, Equatable, Codable {
    /// Operator set domain; `""` is the default ONNX domain.
    public var domain: String
    /// Operator set version.
    public var version: Int64

    /// Creates an import.
    public init(domain: String, version: Int64) {
        self.domain = domain
        self.version = version
    }

    /// The domain with `ai.onnx` spelled as `""`.
    public static func canonical(_ domain: String) -> String { domain == "ai.onnx" ? "" : domain }
}

/// One `metadata_props` entry.
public struct MetadataEntry: Sendable, Equatable {
    /// The key.
    public var key: String
    /// The value.
    public var value: String

    /// Creates an entry.
    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}

/// A model-local function Octet carries through without interpreting it.
public struct OpaqueFunction: Sendable {
    /// Function name (its op type when called).
    public var name: String
    /// Function domain.
    public var domain: String
    /// The complete serialized function.
    public var bytes: Data
}

/// Serialized protobuf fields that Octet's types do not model; written back on save so a
/// load/save round trip keeps them.
public struct PreservedFields: Sendable, Equatable {
    /// Wire-format bytes of the fields.
    public var bytes: Data

    /// Creates an empty or filled set.
    /// - Parameter bytes: wire-format field bytes.
    public init(_ bytes: Data = Data()) { self.bytes = bytes }
}
