import Foundation
internal import ONNXProto
internal import SwiftProtobuf

/// Reads and writes single serialized `TensorProto` files (`input_0.pb`, as in ONNX test data
/// sets).
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
        let proto: Onnx_TensorProto
        do { proto = try Onnx_TensorProto(serializedBytes: data) } catch {
            throw ModelError.notONNX(file: url.path, reason: "not a serialized TensorProto (\(error))")
        }
        let decoder = ONNXDecoder(file: url.path, external: ExternalDataResolver(modelFile: url.path, folder: url.deletingLastPathComponent()))
        let constant = try decoder.tensor(proto, context: url.lastPathComponent)
        return (proto.name, constant.tensor)
    }

    /// Writes `tensor` as a serialized `TensorProto` named `name`.
    public static func write(_ tensor: Tensor, name: String, to url: URL) throws {
        let proto = try ONNXEncoder(external: nil).tensor(GraphTensor(name: name, tensor: tensor))
        try AtomicFile.write(try proto.serializedBytes(), to: url)
    }
}
