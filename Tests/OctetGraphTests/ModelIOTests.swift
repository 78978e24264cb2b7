import Foundation
import ONNXProto
import SwiftProtobuf
import Testing
import _OctetTestSupport
@testable import OctetGraph

/// Loading and saving through Octet's IR. Field-by-field equality with models written by the
/// onnx package, and ONNX Runtime on the copies, are checked in the interop suite.
struct ModelIOTests {
    @Test func roundTripKeepsEverything() throws {
        var model = TestModels.linearRelu()
        model.producerVersion = "9.9"
        model.docString = "docs"
        model.metadata = [MetadataEntry(key: "k", value: "v")]
        model.graph.nodes[0].attributes = [
            Attribute(name: "f", value: .float(0.5)), Attribute(name: "i", value: .int(-3)),
            Attribute(name: "s", value: .string(Data("text".utf8))), Attribute(name: "fs", value: .floats([1, 2])),
            Attribute(name: "is", value: .ints([4, 5])), Attribute(name: "ss", value: .strings([Data("a".utf8)])),
            Attribute(name: "t", value: .tensor(GraphTensor(name: "", tensor: Tensor(shape: [1], scalars: [Int8(-4)])))),
        ]
        let decoded = try Model.decode(try model.serializedData())
        #expect(decoded.producerVersion == "9.9" && decoded.docString == "docs" && decoded.metadata == model.metadata)
        #expect(decoded.opsetImports == model.opsetImports && decoded.irVersion == model.irVersion)
        #expect(decoded.graph.inputs == model.graph.inputs && decoded.graph.outputs == model.graph.outputs)
        #expect(decoded.graph.initializers.map(\.tensor) == model.graph.initializers.map(\.tensor))
        #expect(decoded.graph.nodes.map(\.opType) == ["MatMul", "Add", "Relu"])
        let attributes = decoded.graph.nodes[0].attributes
        #expect(attributes.map(\.name) == ["f", "i", "s", "fs", "is", "ss", "t"])
        guard case .tensor(let constant) = attributes[6].value else { Issue.record("tensor attribute lost"); return }
        #expect(constant.tensor.scalars(as: Int8.self) == [-4])
    }

    @Test func unknownFieldsSurvive() throws {
        var proto = try Onnx_ModelProto(serializedBytes: try TestModels.linearRelu().serializedData())
        // Field 20 of ModelProto (training_info) and field 9 of NodeProto (metadata_props) are
        // not declared in Octet's onnx.proto.
        var extra = Onnx_StringStringEntryProto()
        extra.key = "note"
        extra.value = "kept"
        let entry: Data = try extra.serializedBytes()
        let nodeExtra = Data([0x4A, UInt8(entry.count)]) + entry  // field 9, wire type 2
        try proto.graph.node[0].merge(serializedBytes: nodeExtra)
        try proto.merge(serializedBytes: Data([0xA2, 0x01, 0x00]))  // field 20, empty message
        let model = try Model.decode(try proto.serializedBytes())
        let again = try Onnx_ModelProto(serializedBytes: try model.serializedData())
        #expect(again.graph.node[0].unknownFields.data == nodeExtra)
        #expect(again.unknownFields.data == Data([0xA2, 0x01, 0x00]))
    }

    @Test func typedFieldsDecode() throws {
        var proto = try Onnx_ModelProto(serializedBytes: try TestModels.linearRelu().serializedData())
        var weights = Onnx_TensorProto()
        weights.name = "W"
        weights.dataType = 1
        weights.dims = [4, 3]
        weights.floatData = (0..<12).map(Float.init)
        var half = Onnx_TensorProto()
        half.name = "h"
        half.dataType = 10
        half.dims = [2]
        half.int32Data = [0x3C00, 0xC000]
        proto.graph.initializer = [weights, proto.graph.initializer[1], half]
        let model = try Model.decode(try proto.serializedBytes())
        #expect(model.graph.initializers[0].tensor.scalars(as: Float.self) == (0..<12).map(Float.init))
        #expect(try model.graph.initializers[2].tensor.doubles() == [1, -2])
    }

    @Test func constantNodesAreConstants() throws {
        var model = TestModels.linearRelu()
        model.graph.initializers.removeAll()
        let weights = Tensor(shape: [4, 3], scalars: [Float](repeating: 0.5, count: 12))
        model.graph.nodes.insert(contentsOf: [
            Node(opType: "Constant", inputs: [], outputs: ["W"], attributes: [
                Attribute(name: "value", value: .tensor(GraphTensor(name: "W", tensor: weights)))]),
            Node(opType: "Constant", inputs: [], outputs: ["b"], attributes: [Attribute(name: "value_floats", value: .floats([1, 2, 3]))]),
        ], at: 0)
        let decoded = try Model.decode(try model.serializedData())
        let constants = decoded.graph.constants
        #expect(constants["W"] == weights)
        #expect(constants["b"]?.scalars(as: Float.self) == [1, 2, 3])
        #expect(ModelSummary(model: decoded, file: "m").constantNodes == .init(count: 2, bytes: 60))
    }

    @Test func garbageAndTruncatedFilesAreRefused() throws {
        let valid = try TestModels.linearRelu().serializedData()
        for bad in [Data(), Data("not a model at all, just text".utf8), valid.prefix(valid.count / 2)] {
            do {
                _ = try Model.decode(Data(bad), file: "bad.onnx")
                Issue.record("decoded \(bad.count) bytes of garbage")
            } catch let error as ModelError {
                guard case .notONNX(let file, _) = error else { Issue.record("\(error)"); continue }
                #expect(file == "bad.onnx")
            }
        }
    }

    @Test func tensorLengthMustMatchShape() throws {
        var proto = try Onnx_ModelProto(serializedBytes: try TestModels.linearRelu().serializedData())
        proto.graph.initializer[0].rawData = Data(count: 40)
        #expect(throws: ModelError.tensorData(file: "m.onnx", tensor: "W",
                                              reason: "raw_data holds 40 bytes but a float32 tensor of shape [4, 3] needs 48")) {
            try Model.decode(try proto.serializedBytes(), file: "m.onnx")
        }
        proto.graph.initializer[0].clearRawData()
        proto.graph.initializer[0].floatData = [1, 2]
        #expect(throws: ModelError.self) { try Model.decode(try proto.serializedBytes(), file: "m.onnx") }
    }

    @Test func saveIsAtomicAndRefusesNothingSilently() throws {
        let folder = try TemporaryFolder()
        let url = folder.file("model.onnx")
        let report = try TestModels.linearRelu().save(to: url)
        #expect(report.externalLocation == nil && report.modelBytes > 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.url.path) == ["model.onnx"])
        #expect(throws: ModelError.self) { try TestModels.linearRelu().save(to: folder.file("missing/model.onnx")) }
    }
}
