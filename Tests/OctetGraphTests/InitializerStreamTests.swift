import Foundation
import ONNXProto
import SwiftProtobuf
import Testing
import _OctetTestSupport
@testable import OctetGraph

/// Loading a file with its initializers decoded one at a time (``InitializerStream``) gives the
/// model the whole-message parse gives, and every layout the scan does not expect falls back to
/// that parse.
struct InitializerStreamTests {
    /// A MatMul + Add model whose weight (64 × 300 floats) is most of the file, with metadata,
    /// a doc string and an unknown top-level field around the graph.
    static func weightHeavyModel() throws -> Data {
        let weights: [Float] = (0..<(64 * 300)).map { (index: Int) -> Float in Float((index * 37) % 101) / 50 - 1 }
        let bias: [Float] = (0..<300).map { (index: Int) -> Float in Float(index) / 300 }
        var model = Model(
            graph: Graph(
                name: "heavy",
                nodes: [Node(opType: "MatMul", inputs: ["x", "W"], outputs: ["xw"], name: "matmul"),
                        Node(opType: "Add", inputs: ["xw", "b"], outputs: ["y"], name: "add")],
                inputs: [.tensor("x", .float32, [.param("batch"), .value(64)])],
                outputs: [.tensor("y", .float32, [.param("batch"), .value(300)])],
                initializers: [GraphTensor(name: "W", tensor: Tensor(shape: [64, 300], scalars: weights)),
                               GraphTensor(name: "b", tensor: Tensor(shape: [300], scalars: bias))]),
            opsetImports: [OpsetImport(domain: "", version: 13)])
        model.docString = "weights first"
        model.metadata = [MetadataEntry(key: "k", value: "v")]
        var proto = try Onnx_ModelProto(serializedBytes: try model.serializedData())
        try proto.merge(serializedBytes: Data([0xA2, 0x01, 0x00]))  // field 20, empty message
        return try proto.serializedBytes()
    }

    @Test func streamedLoadMatchesTheWholeParse() throws {
        let folder = try TemporaryFolder()
        let url = folder.file("heavy.onnx")
        let bytes = try Self.weightHeavyModel()
        try bytes.write(to: url)
        let decoder = ONNXDecoder(file: url.path, external: ExternalDataResolver(modelFile: url.path, folder: folder.url))
        let mapped = try #require(MappedFile(path: url.path))
        let streamed = try #require(try InitializerStream.load(mapped, decoder: decoder), "the scan should apply")
        let whole = try Model.decode(bytes)
        #expect(streamed.graph.initializers.map(\.name) == whole.graph.initializers.map(\.name))
        #expect(streamed.graph.initializers.map(\.tensor) == whole.graph.initializers.map(\.tensor))
        #expect(try streamed.serializedData() == whole.serializedData())
        #expect(try Model.load(contentsOf: url).serializedData() == whole.serializedData())
    }

    @Test func unexpectedLayoutsFallBack() throws {
        let folder = try TemporaryFolder()
        let bytes = try Self.weightHeavyModel()
        func layout(_ data: Data) -> InitializerStream.Layout? {
            data.withUnsafeBytes { InitializerStream.Layout($0) }
        }
        #expect(layout(bytes) != nil)
        // Cut inside the weight, a second graph field, a group (wire type 3) at the top level.
        #expect(layout(bytes.prefix(bytes.count / 2)) == nil)
        #expect(layout(bytes + Data([0x3A, 0x00])) == nil)
        #expect(layout(bytes + Data([0x1B])) == nil)
        // Weights in Constant nodes: the initializers are not most of the file, so the whole
        // message is parsed, and the model loads all the same.
        let url = folder.file("constants.onnx")
        var model = TestModels.linearRelu()
        let weight = model.graph.initializers.removeFirst()
        model.graph.nodes.insert(Node(opType: "Constant", inputs: [], outputs: ["W"], name: "w",
                                      attributes: [Attribute(name: "value", value: .tensor(weight))]), at: 0)
        _ = try model.save(to: url)
        let decoder = ONNXDecoder(file: url.path, external: ExternalDataResolver(modelFile: url.path, folder: folder.url))
        #expect(try InitializerStream.load(try #require(MappedFile(path: url.path)), decoder: decoder) == nil)
        #expect(try Model.load(contentsOf: url).graph.nodes.map(\.opType) == ["Constant", "MatMul", "Add", "Relu"])
        // A file cut inside a weight is refused with the whole parse's error.
        let cut = folder.file("cut.onnx")
        try bytes.prefix(bytes.count / 2).write(to: cut)
        #expect(throws: ModelError.self) { try Model.load(contentsOf: cut) }
    }

    @Test func varintFieldsRoundTrip() {
        func read(_ bytes: [UInt8]) -> WireReader.Field? {
            bytes.withUnsafeBytes { buffer in
                var reader = WireReader(buffer, range: 0..<buffer.count)
                return reader.next()
            }
        }
        // A varint field whose number and value take one to nine bytes each.
        for value: UInt64 in [1, 127, 128, 300, 1 << 35, (1 << 61) - 1] {
            let bytes = WireReader.varint(value << 3) + WireReader.varint(value)
            let field = read(bytes)
            #expect(field?.number == value && field?.wireType == 0 && field?.whole == 0..<bytes.count, "\(value)")
        }
        #expect(read([0x00]) == nil)                 // field number 0
        #expect(read([0x0A, 0x05, 0x01]) == nil)     // a length past the end
        #expect(read([0x08, 0x80, 0x80]) == nil)     // an unfinished varint
    }
}
