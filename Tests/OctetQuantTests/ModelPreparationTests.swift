import Foundation
import Testing
import _OctetTestSupport
import OctetGraph
import OctetRuntime
@testable import OctetQuant

/// The whole preparation: weights an exporter transposes or casts at run time become plain
/// initializers, and the model computes the same.
struct ModelPreparationTests {
    /// x[n, 4] · Transpose(Cast(W16)) + b, with W16 a float16 Constant node [3, 4]; opset 12;
    /// plus Expand of a scalar to a large shape, which must stay a node.
    static func exportedLinear() -> Model {
        let weights = TestModels.randomFloats(12, seed: 3)
        let half = Tensor(shape: [3, 4], scalars: weights).converted(orNil: .float16)
        let graph = Graph(
            name: "exported",
            nodes: [
                Node(opType: "Constant", inputs: [], outputs: ["w16"], name: "weights",
                     attributes: [Attribute(name: "value", value: .tensor(GraphTensor(name: "w16", tensor: half)))]),
                Node(opType: "Cast", inputs: ["w16"], outputs: ["w32"], name: "cast", attributes: [Attribute(name: "to", value: .int(1))]),
                Node(opType: "Transpose", inputs: ["w32"], outputs: ["wt"], name: "transpose", attributes: [Attribute(name: "perm", value: .ints([1, 0]))]),
                Node(opType: "MatMul", inputs: ["x", "wt"], outputs: ["xw"], name: "matmul"),
                Node(opType: "Expand", inputs: ["one", "big"], outputs: ["ones"], name: "expand"),
                Node(opType: "ReduceSum", inputs: ["ones"], outputs: ["count"], name: "count", attributes: [Attribute(name: "keepdims", value: .int(0))]),
                Node(opType: "Add", inputs: ["xw", "count"], outputs: ["y"], name: "add"),
            ],
            inputs: [.tensor("x", .float32, [.param("n"), .value(4)])],
            outputs: [.tensor("y", .float32, [.param("n"), .value(3)])],
            initializers: [GraphTensor(name: "one", tensor: Tensor(shape: [], scalars: [Float(1)])),
                           GraphTensor(name: "big", tensor: Tensor(shape: [2], scalars: [Int64(512), 512]))])
        return Model(graph: graph, opsetImports: [OpsetImport(domain: "", version: 12)])
    }

    @Test func weightsComputedFromConstantsBecomeInitializers() throws {
        let model = Self.exportedLinear()
        let (prepared, report) = try ModelPreparation.prepare(model)
        #expect(report.constantsMoved == 1 && report.opset.from == 12 && report.opset.to == 13)
        #expect(report.foldedConstants == ["'cast' (Cast)", "'transpose' (Transpose)"])
        #expect(prepared.graph.nodes.map(\.opType) == ["MatMul", "Expand", "ReduceSum", "Add"])
        #expect(prepared.graph.initializers.first { $0.name == "wt" }?.tensor.shape == [4, 3])
        let x = Tensor(shape: [2, 4], scalars: TestModels.randomFloats(8, seed: 4))
        let before = try #require(try Session(model: model).run(["x": x])["y"]).scalars(as: Float.self)
        let after = try #require(try Session(model: prepared).run(["x": x])["y"]).scalars(as: Float.self)
        #expect(before == after)
    }
}

extension Tensor {
    /// The tensor converted to `dtype` (tests only).
    func converted(orNil dtype: DType) -> Tensor { (try? converted(to: dtype)) ?? self }
}
