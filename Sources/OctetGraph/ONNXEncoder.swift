import Foundation
internal import ONNXProto
internal import SwiftProtobuf

/// Converts Octet's graph IR back into protobuf messages, restoring preserved fields and
/// optionally moving large tensors to an external data file.
struct ONNXEncoder {
    /// Receives tensors that go to external data; `nil` embeds everything.
    let external: ExternalDataWriter?

    func model(_ model: Model) throws -> Onnx_ModelProto {
        var proto = Onnx_ModelProto()
        proto.irVersion = model.irVersion
        proto.opsetImport = model.opsetImports.map { entry in
            var item = Onnx_OperatorSetIdProto()
            item.domain = entry.domain
            item.version = entry.version
            return item
        }
        if !model.producerName.isEmpty { proto.producerName = model.producerName }
        if !model.producerVersion.isEmpty { proto.producerVersion = model.producerVersion }
        if !model.domain.isEmpty { proto.domain = model.domain }
        if model.modelVersion != 0 { proto.modelVersion = model.modelVersion }
        if !model.docString.isEmpty { proto.docString = model.docString }
        proto.metadataProps = model.metadata.map { entry in
            var item = Onnx_StringStringEntryProto()
            item.key = entry.key
            item.value = entry.value
            return item
        }
        proto.graph = try graph(model.graph)
        proto.functions = try model.functions.map { try Onnx_FunctionProto(serializedBytes: $0.bytes) }
        try restore(&proto, model.preserved)
        return proto
    }

    func graph(_ graph: Graph) throws -> Onnx_GraphProto {
        var proto = Onnx_GraphProto()
        proto.name = graph.name
        proto.node = try graph.nodes.map(node)
        proto.input = try graph.inputs.map(valueInfo)
        proto.output = try graph.outputs.map(valueInfo)
        proto.valueInfo = try graph.valueInfo.map(valueInfo)
        proto.initializer = try graph.initializers.map { try tensor($0) }
        proto.sparseInitializer = try graph.sparseInitializers.map { try Onnx_SparseTensorProto(serializedBytes: $0.bytes) }
        if !graph.docString.isEmpty { proto.docString = graph.docString }
        try restore(&proto, graph.preserved)
        return proto
    }

    func node(_ node: Node) throws -> Onnx_NodeProto {
        var proto = Onnx_NodeProto()
        proto.input = node.inputs
        proto.output = node.outputs
        if !node.name.isEmpty { proto.name = node.name }
        proto.opType = node.opType
        if !node.domain.isEmpty { proto.domain = node.domain }
        proto.attribute = try node.attributes.map(attribute)
        if !node.docString.isEmpty { proto.docString = node.docString }
        try restore(&proto, node.preserved)
        return proto
    }

    func attribute(_ attribute: Attribute) throws -> Onnx_AttributeProto {
        var proto = Onnx_AttributeProto()
        proto.name = attribute.name
        switch attribute.value {
        case .float(let value): proto.type = .float; proto.f = value
        case .int(let value): proto.type = .int; proto.i = value
        case .string(let value): proto.type = .string; proto.s = value
        case .tensor(let value): proto.type = .tensor; proto.t = try tensor(value, embedded: true)
        case .graph(let value): proto.type = .graph; proto.g = try graph(value)
        case .floats(let values): proto.type = .floats; proto.floats = values
        case .ints(let values): proto.type = .ints; proto.ints = values
        case .strings(let values): proto.type = .strings; proto.strings = values
        case .tensors(let values): proto.type = .tensors; proto.tensors = try values.map { try tensor($0, embedded: true) }
        case .graphs(let values): proto.type = .graphs; proto.graphs = try values.map(graph)
        case .other(let type):
            if let known = Onnx_AttributeProto.AttributeType(rawValue: type) { proto.type = known }
        }
        if !attribute.refAttrName.isEmpty { proto.refAttrName = attribute.refAttrName }
        if !attribute.docString.isEmpty { proto.docString = attribute.docString }
        try restore(&proto, attribute.preserved)
        return proto
    }

    func valueInfo(_ info: ValueInfo) throws -> Onnx_ValueInfoProto {
        var proto = Onnx_ValueInfoProto()
        proto.name = info.name
        if let type = try valueType(info.type) { proto.type = type }
        if !info.docString.isEmpty { proto.docString = info.docString }
        try restore(&proto, info.preserved)
        return proto
    }

    func valueType(_ type: ValueType) throws -> Onnx_TypeProto? {
        var proto = Onnx_TypeProto()
        switch type {
        case .unknown: return nil
        case let .tensor(code, shape):
            var tensor = Onnx_TypeProto.Tensor()
            tensor.elemType = code
            if let shape {
                var shapeProto = Onnx_TensorShapeProto()
                shapeProto.dim = shape.map { dim in
                    var item = Onnx_TensorShapeProto.Dimension()
                    switch dim {
                    case .value(let size): item.dimValue = Int64(size)
                    case .param(let name): item.dimParam = name
                    case .unknown: break
                    }
                    return item
                }
                tensor.shape = shapeProto
            }
            proto.tensorType = tensor
        case .sequence(let element):
            var sequence = Onnx_TypeProto.Sequence()
            if let inner = try valueType(element) { sequence.elemType = inner }
            proto.sequenceType = sequence
        case .optional(let element):
            var optional = Onnx_TypeProto.Optional()
            if let inner = try valueType(element) { optional.elemType = inner }
            proto.optionalType = optional
        case .other(let bytes):
            proto = try Onnx_TypeProto(serializedBytes: bytes.bytes)
        }
        return proto
    }

    /// Encodes a tensor as `raw_data` (or `string_data`), or as an external reference when the
    /// writer takes it. Attribute tensors stay embedded.
    func tensor(_ constant: GraphTensor, embedded: Bool = false) throws -> Onnx_TensorProto {
        var proto = Onnx_TensorProto()
        proto.name = constant.name
        proto.dims = constant.tensor.shape.map { Int64($0) }
        proto.dataType = constant.tensor.dtype.onnxCode
        if constant.tensor.dtype == .string {
            proto.stringData = constant.tensor.strings
        } else if !embedded, let external, let reference = try external.take(constant.tensor) {
            proto.dataLocation = .external
            proto.externalData = [("location", reference.location), ("offset", "\(reference.offset)"),
                                  ("length", "\(reference.length)")].map { key, value in
                var entry = Onnx_StringStringEntryProto()
                entry.key = key
                entry.value = value
                return entry
            }
        } else {
            proto.rawData = constant.tensor.data
        }
        if !constant.docString.isEmpty { proto.docString = constant.docString }
        try restore(&proto, constant.preserved)
        return proto
    }

    /// Merges preserved wire bytes back into a message; they land in its unknown fields.
    private func restore<M: SwiftProtobuf.Message>(_ message: inout M, _ preserved: PreservedFields) throws {
        if !preserved.bytes.isEmpty { try message.merge(serializedBytes: preserved.bytes) }
    }
}
