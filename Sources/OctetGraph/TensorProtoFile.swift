import Foundation
internal import ONNXProto
internal import SwiftProtobuf

/// Reads and writes single serialized `TensorProto` files (`input_0.pb`, as in ONNX test data
/// sets); reads `SequenceProto` and `OptionalProto` files too.
public enum TensorProtoFile {
    /// Reads a `.pb` tensor file.
    /// - Parameter url: the file.
    /// - Returns: the tensor's `name` field (may be empty) and its data.
    /// - Throws: ``ModelError`` naming the file.
    public static func read(_ url: URL) throws -> (name: String, tensor: Tensor) {
        try InputFileError.requireRegular(url)
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ModelError.unreadable(file: url.path, reason: error.localizedDescription)
        }
        let decoder = ONNXDecoder(file: url.path, external: ExternalDataResolver(modelFile: url.path, folder: url.deletingLastPathComponent()))
        let tensorProto = try? Onnx_TensorProto(serializedBytes: data)
        // A TensorProto carries its name in field 8; sequence and optional files in field 1.
        if tensorProto?.name.isEmpty ?? true {
            do {
                let sequence = try Onnx_SequenceProto(serializedBytes: data)
                if !sequence.name.isEmpty { return (sequence.name, try container(sequence, decoder: decoder, context: url.path, depth: 0)) }
            } catch let error as ModelError {
                throw error
            } catch {
                // Not a sequence either: a nameless TensorProto is reported as such; bytes that are
                // no TensorProto get the TensorProto error below.
                if tensorProto != nil {
                    throw ModelError.notONNX(file: url.path, reason: "neither a named TensorProto nor a SequenceProto/OptionalProto (\(error))")
                }
            }
        }
        let proto: Onnx_TensorProto
        do { proto = try tensorProto ?? Onnx_TensorProto(serializedBytes: data) } catch {
            throw ModelError.notONNX(file: url.path, reason: "not a serialized TensorProto (\(error))")
        }
        let constant = try decoder.tensor(proto, context: url.lastPathComponent)
        return (proto.name, constant.tensor)
    }

    /// A sequence value from a `SequenceProto` — or from an `OptionalProto`, whose fields it
    /// shares: an optional tensor reads as a sequence of at most one element, which the feed
    /// checks unwrap for inputs of optional type.
    static func container(_ proto: Onnx_SequenceProto, decoder: ONNXDecoder, context: String, depth: Int) throws -> Tensor {
        guard depth < 16 else { throw ModelError.notONNX(file: context, reason: "sequences nested more than 16 deep") }
        var elements = try proto.tensorValues.map { try decoder.tensor($0, context: context).tensor }
        elements += try proto.sequenceValues.map { try container($0, decoder: decoder, context: context, depth: depth + 1) }
        guard proto.sparseTensorValues.isEmpty, proto.mapValues.isEmpty, proto.optionalValues.isEmpty else {
            throw ModelError.notONNX(file: context, reason: "sequences of sparse tensors, maps or optionals are not supported")
        }
        return Tensor(sequence: elements, elementType: elements.first?.dtype ?? .float32)
    }

    /// Writes `tensor` as a serialized `TensorProto` named `name`.
    public static func write(_ tensor: Tensor, name: String, to url: URL) throws {
        let proto = try ONNXEncoder(external: nil).tensor(GraphTensor(name: name, tensor: tensor))
        try AtomicFile.write(try proto.serializedBytes(), to: url)
    }
}
