import Foundation
internal import ONNXProto
internal import SwiftProtobuf

/// Converts decoded protobuf messages into Octet's graph IR, reading tensor data (embedded,
/// typed or external) as it goes.
struct ONNXDecoder {
    let file: String
    let external: ExternalDataResolver

    /// The model; the graph is taken out of `proto` so that each tensor's protobuf bytes are
    /// released once it is converted (the peak memory of loading is then about one copy of the
    /// weights besides the file, not two).
    func model(_ proto: inout Onnx_ModelProto) throws -> Model {
        guard proto.hasGraph else { throw ModelError.notONNX(file: file, reason: "the file has no graph") }
        var graphProto = proto.graph
        proto.clearGraph()
        var model = Model(
            graph: try graph(consuming: &graphProto),
            opsetImports: proto.opsetImport.map { OpsetImport(domain: $0.domain, version: $0.version) },
            irVersion: proto.irVersion, producerName: proto.producerName)
        model.producerVersion = proto.producerVersion
        model.domain = proto.domain
        model.modelVersion = proto.modelVersion
        model.docString = proto.docString
        model.metadata = proto.metadataProps.map { MetadataEntry(key: $0.key, value: $0.value) }
        model.functions = try proto.functions.map {
            OpaqueFunction(name: $0.name, domain: $0.domain, bytes: try $0.serializedBytes())
        }
        model.preserved = PreservedFields(proto.unknownFields.data)
        return model
    }

    /// The graph, emptying `proto`'s nodes and initializers one by one as they are converted.
    func graph(consuming proto: inout Onnx_GraphProto) throws -> Graph {
        var nodeProtos = proto.node
        var tensorProtos = proto.initializer
        proto.node = []
        proto.initializer = []
        var nodes: [Node] = []
        nodes.reserveCapacity(nodeProtos.count)
        for index in nodeProtos.indices {
            nodes.append(try node(nodeProtos[index]))
            nodeProtos[index] = Onnx_NodeProto()
        }
        var initializers: [GraphTensor] = []
        initializers.reserveCapacity(tensorProtos.count)
        for index in tensorProtos.indices {
            initializers.append(try tensor(tensorProtos[index], context: tensorProtos[index].name))
            tensorProtos[index] = Onnx_TensorProto()
        }
        var result = try graph(proto)
        result.nodes = nodes
        result.initializers = initializers
        return result
    }

    func graph(_ proto: Onnx_GraphProto) throws -> Graph {
        var graph = Graph(
            name: proto.name,
            nodes: try proto.node.map(node),
            inputs: proto.input.map(valueInfo),
            outputs: proto.output.map(valueInfo),
            initializers: try proto.initializer.map { try tensor($0, context: $0.name) },
            valueInfo: proto.valueInfo.map(valueInfo),
            docString: proto.docString,
            preserved: PreservedFields(proto.unknownFields.data))
        graph.sparseInitializers = try proto.sparseInitializer.map {
            SparseConstant(name: $0.values.name, bytes: try $0.serializedBytes())
        }
        return graph
    }

    func node(_ proto: Onnx_NodeProto) throws -> Node {
        let label = proto.name.isEmpty ? "\(proto.opType) node producing '\(proto.output.first ?? "")'" : proto.name
        return Node(
            opType: proto.opType, inputs: proto.input, outputs: proto.output, name: proto.name, domain: proto.domain,
            attributes: try proto.attribute.map { try attribute($0, node: label) },
            docString: proto.docString, preserved: PreservedFields(proto.unknownFields.data))
    }

    func attribute(_ proto: Onnx_AttributeProto, node: String) throws -> Attribute {
        let context = "\(node).\(proto.name)"
        let value: AttributeValue
        switch proto.type {
        case .float: value = .float(proto.f)
        case .int: value = .int(proto.i)
        case .string: value = .string(proto.s)
        case .tensor: value = .tensor(try tensor(proto.t, context: context))
        case .graph: value = .graph(try graph(proto.g))
        case .floats: value = .floats(proto.floats)
        case .ints: value = .ints(proto.ints)
        case .strings: value = .strings(proto.strings)
        case .tensors: value = .tensors(try proto.tensors.map { try tensor($0, context: context) })
        case .graphs: value = .graphs(try proto.graphs.map(graph))
        case .undefined:
            // IR version 1 files carry no type: infer it from the field that is set.
            if proto.hasF { value = .float(proto.f) }
            else if proto.hasI { value = .int(proto.i) }
            else if proto.hasS { value = .string(proto.s) }
            else if proto.hasT { value = .tensor(try tensor(proto.t, context: context)) }
            else if proto.hasG { value = .graph(try graph(proto.g)) }
            else if !proto.floats.isEmpty { value = .floats(proto.floats) }
            else if !proto.ints.isEmpty { value = .ints(proto.ints) }
            else if !proto.strings.isEmpty { value = .strings(proto.strings) }
            else if !proto.tensors.isEmpty { value = .tensors(try proto.tensors.map { try tensor($0, context: context) }) }
            else if !proto.graphs.isEmpty { value = .graphs(try proto.graphs.map(graph)) }
            else { value = .other(type: 0) }
        default: value = .other(type: proto.type.rawValue)
        }
        return Attribute(
            name: proto.name, value: value, refAttrName: proto.refAttrName, docString: proto.docString,
            preserved: PreservedFields(proto.unknownFields.data))
    }

    func valueInfo(_ proto: Onnx_ValueInfoProto) -> ValueInfo {
        ValueInfo(
            name: proto.name, type: proto.hasType ? valueType(proto.type) : .unknown, docString: proto.docString,
            preserved: PreservedFields(proto.unknownFields.data))
    }

    func valueType(_ proto: Onnx_TypeProto) -> ValueType {
        switch proto.value {
        case .tensorType(let tensor):
            let shape: [Dim]? = tensor.hasShape ? tensor.shape.dim.map { dim in
                switch dim.value {
                case .dimValue(let size): return size >= 0 ? .value(Int(size)) : .unknown
                case .dimParam(let name): return .param(name)
                case nil: return .unknown
                }
            } : nil
            return .tensor(elementType: tensor.elemType, shape: shape)
        case .sequenceType(let sequence): return .sequence(sequence.hasElemType ? valueType(sequence.elemType) : .unknown)
        case .optionalType(let optional): return .optional(optional.hasElemType ? valueType(optional.elemType) : .unknown)
        case nil:
            let bytes = (try? proto.serializedBytes() as Data) ?? Data()
            return bytes.isEmpty ? .unknown : .other(PreservedFields(bytes))
        }
    }

    /// Decodes a tensor; `context` names it in errors when it has no name of its own.
    func tensor(_ proto: Onnx_TensorProto, context: String) throws -> GraphTensor {
        let name = proto.name.isEmpty ? context : proto.name
        func bad(_ reason: String) -> ModelError { .tensorData(file: file, tensor: name, reason: reason) }
        guard let dtype = DType(onnxCode: proto.dataType) else {
            throw bad("unsupported data type code \(proto.dataType)")
        }
        guard proto.dims.allSatisfy({ $0 >= 0 && $0 < Int64(Int32.max) }) else {
            throw bad("invalid dimensions \(proto.dims)")
        }
        let shape = proto.dims.map { Int($0) }
        let (count, overflow) = shape.reduce((1, false)) { partial, dim in
            let (product, flag) = partial.0.multipliedReportingOverflow(by: dim)
            return (product, partial.1 || flag || product > Int(Int32.max) * 64)
        }
        guard !overflow else { throw bad("shape \(shape) is too large") }
        let expectedBytes = dtype.byteCount(forElements: count)
        var source: ExternalDataReference?
        let value: Tensor
        if proto.dataLocation == .external {
            let entries = Dictionary(proto.externalData.map { ($0.key, $0.value) }, uniquingKeysWith: { $1 })
            guard let location = entries["location"] else { throw bad("external data without a 'location' entry") }
            guard let offset = Int(entries["offset"] ?? "0"), let length = Int(entries["length"] ?? "0") else {
                throw bad("external data offset/length are not integers")
            }
            let reference = ExternalDataReference(location: location, offset: offset, length: length)
            let bytes = try external.read(reference, declaredLength: entries["length"] != nil, tensor: name, expectedLength: expectedBytes)
            source = ExternalDataReference(location: location, offset: offset, length: bytes.count)
            value = try Tensor(dtype: dtype, shape: shape, bytes: bytes)
        } else if dtype == .string {
            guard proto.stringData.count == count else {
                throw bad("holds \(proto.stringData.count) strings but its shape \(shape) needs \(count)")
            }
            value = Tensor(shape: shape, strings: proto.stringData)
        } else if proto.hasRawData {
            guard proto.rawData.count == expectedBytes else {
                throw bad("raw_data holds \(proto.rawData.count) bytes but a \(dtype) tensor of shape \(shape) needs \(expectedBytes)")
            }
            value = try Tensor(dtype: dtype, shape: shape, bytes: proto.rawData)
        } else {
            value = try typedData(proto, dtype: dtype, shape: shape, count: count, bad: bad)
        }
        return GraphTensor(
            name: proto.name, tensor: value, docString: proto.docString, externalSource: source,
            preserved: PreservedFields(proto.unknownFields.data))
    }

    /// Decodes data stored in the typed repeated fields (`float_data`, `int32_data`, …).
    private func typedData(_ proto: Onnx_TensorProto, dtype: DType, shape: [Int], count: Int,
                           bad: (String) -> ModelError) throws -> Tensor {
        func check(_ field: String, _ actual: Int, _ expected: Int) throws {
            guard actual == expected else {
                throw bad("\(field) holds \(actual) values but a \(dtype) tensor of shape \(shape) needs \(expected)")
            }
        }
        switch dtype {
        case .float32, .complex64:
            let expected = dtype == .complex64 ? 2 * count : count
            try check("float_data", proto.floatData.count, expected)
            return try Tensor(dtype: dtype, shape: shape, bytes: proto.floatData.withUnsafeBytes { Array($0) })
        case .float64, .complex128:
            let expected = dtype == .complex128 ? 2 * count : count
            try check("double_data", proto.doubleData.count, expected)
            return try Tensor(dtype: dtype, shape: shape, bytes: proto.doubleData.withUnsafeBytes { Array($0) })
        case .int64:
            try check("int64_data", proto.int64Data.count, count)
            return Tensor(shape: shape, scalars: proto.int64Data)
        case .uint32, .uint64:
            try check("uint64_data", proto.uint64Data.count, count)
            if dtype == .uint64 { return Tensor(shape: shape, scalars: proto.uint64Data) }
            return Tensor(shape: shape, scalars: proto.uint64Data.map { UInt32(truncatingIfNeeded: $0) })
        case .int32:
            try check("int32_data", proto.int32Data.count, count)
            return Tensor(shape: shape, scalars: proto.int32Data)
        case .int16, .uint16, .float16, .bfloat16:
            try check("int32_data", proto.int32Data.count, count)
            return try Tensor(dtype: dtype, shape: shape, bytes: proto.int32Data.map { UInt16(truncatingIfNeeded: $0) }.withUnsafeBytes { Array($0) })
        case .int8, .uint8, .bool, .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .int4, .uint4, .float4e2m1,
             .int2, .uint2:
            // Sub-byte types are packed into bytes (low bits first), one byte per entry.
            let expected = dtype.byteCount(forElements: count)
            try check("int32_data", proto.int32Data.count, expected)
            return try Tensor(dtype: dtype, shape: shape, bytes: proto.int32Data.map { UInt8(truncatingIfNeeded: $0) })
        case .string:
            preconditionFailure("string tensors are decoded from string_data")
        }
    }
}
