import Foundation

/// A description of a model for people and scripts: what `octet inspect` prints.
/// Its JSON form (``Codable`` with sorted keys) is a stable interface.
public struct ModelSummary: Codable, Sendable, Equatable {
    /// A graph input or output.
    public struct Value: Codable, Sendable, Equatable {
        /// Value name.
        public var name: String
        /// Element type name (`float32`, …), a type summary for non-tensors, or `?`.
        public var dtype: String
        /// Dimensions: integers, symbolic names, or `null` for unknown dims; `nil` when the rank is unknown.
        public var shape: [Dim]?
    }

    /// Node counts of one operator type.
    public struct OpCount: Codable, Sendable, Equatable {
        /// Nodes in the main graph.
        public var topLevel: Int
        /// Nodes inside subgraphs (If/Loop/Scan bodies).
        public var inSubgraphs: Int
    }

    /// Node totals.
    public struct NodeCounts: Codable, Sendable, Equatable {
        /// All nodes, subgraphs included.
        public var total: Int
        /// Nodes of the main graph.
        public var topLevel: Int
        /// Nodes inside subgraphs.
        public var inSubgraphs: Int
        /// Number of subgraphs.
        public var subgraphs: Int
        /// Counts per operator type (`domain:Op` for non-default domains).
        public var byOpType: [String: OpCount]
    }

    /// A count of tensors and their bytes.
    public struct TensorCount: Codable, Sendable, Equatable {
        /// Number of tensors.
        public var count: Int
        /// Their total size in bytes.
        public var bytes: Int
    }

    /// One external data file.
    public struct ExternalFile: Codable, Sendable, Equatable {
        /// Location relative to the model's folder.
        public var location: String
        /// Tensors read from it.
        public var tensors: Int
        /// Bytes read from it.
        public var bytes: Int
    }

    /// Model file path.
    public var file: String
    /// ONNX IR version.
    public var irVersion: Int64
    /// Producer name.
    public var producerName: String
    /// Producer version.
    public var producerVersion: String
    /// Operator set imports.
    public var opsets: [OpsetImport]
    /// Inputs that must be fed (initializers listed as inputs are left out).
    public var inputs: [Value]
    /// Outputs.
    public var outputs: [Value]
    /// Node counts.
    public var nodes: NodeCounts
    /// Initializers, subgraphs included.
    public var initializers: TensorCount
    /// `Constant` nodes, subgraphs included.
    public var constantNodes: TensorCount
    /// External data files.
    public var externalData: [ExternalFile]

    /// Summarizes `model`.
    /// - Parameters:
    ///   - model: the loaded model.
    ///   - file: the path to report.
    public init(model: Model, file: String) {
        self.file = file
        irVersion = model.irVersion
        producerName = model.producerName
        producerVersion = model.producerVersion
        opsets = model.opsetImports
        inputs = model.graph.runtimeInputs.map(Self.value)
        outputs = model.graph.outputs.map(Self.value)
        let subgraphs = model.graph.allSubgraphs.map(\.graph)
        var byOp: [String: OpCount] = [:]
        func count(_ graph: Graph, topLevel: Bool) {
            for node in graph.nodes {
                let key = node.domain.isEmpty || node.domain == "ai.onnx" ? node.opType : "\(node.domain):\(node.opType)"
                var entry = byOp[key] ?? OpCount(topLevel: 0, inSubgraphs: 0)
                if topLevel { entry.topLevel += 1 } else { entry.inSubgraphs += 1 }
                byOp[key] = entry
            }
        }
        count(model.graph, topLevel: true)
        subgraphs.forEach { count($0, topLevel: false) }
        let inner = subgraphs.reduce(0) { $0 + $1.nodes.count }
        nodes = NodeCounts(total: model.graph.nodes.count + inner, topLevel: model.graph.nodes.count, inSubgraphs: inner,
                           subgraphs: subgraphs.count, byOpType: byOp)
        let graphs = [model.graph] + subgraphs
        let allInitializers = graphs.flatMap(\.initializers)
        initializers = TensorCount(count: allInitializers.count, bytes: allInitializers.reduce(0) { $0 + $1.tensor.byteCount })
        let constants = graphs.flatMap(\.nodes).compactMap(\.constantValue)
        constantNodes = TensorCount(count: constants.count, bytes: constants.reduce(0) { $0 + $1.byteCount })
        var files: [String: ExternalFile] = [:]
        var order: [String] = []
        for source in allInitializers.compactMap(\.externalSource) {
            if files[source.location] == nil {
                order.append(source.location)
                files[source.location] = ExternalFile(location: source.location, tensors: 0, bytes: 0)
            }
            files[source.location]?.tensors += 1
            files[source.location]?.bytes += source.length
        }
        externalData = order.compactMap { files[$0] }
    }

    private static func value(_ info: ValueInfo) -> Value {
        let dtype: String
        switch info.type {
        case .tensor(let code, _): dtype = DType(onnxCode: code)?.name ?? (code == 0 ? "?" : "type\(code)")
        default: dtype = info.type.summary
        }
        return Value(name: info.name, dtype: dtype, shape: info.type.shape)
    }
}
