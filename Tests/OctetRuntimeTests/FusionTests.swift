import Foundation
import OctetGraph
import Testing
import _OctetTestSupport
@testable import OctetRuntime

/// Fused sessions (BatchNorm folded into Conv, Conv → Relu in the GEMM stores) compute the graph
/// outputs of the unfused graph, and fuse only where the removed value has no other reader.
struct FusionTests {
    /// x → Conv → BatchNormalization → Relu → y, and a second Conv whose output is both a Relu's
    /// input and a graph output (so that pair must stay apart).
    static func model() -> Model {
        let values = { (count: Int, seed: UInt64) in TestModels.randomFloats(count, seed: seed, scale: 0.5) }
        let graph = Graph(
            name: "fusable",
            nodes: [
                Node(opType: "Conv", inputs: ["x", "w1", "b1"], outputs: ["c1"], name: "conv1",
                     attributes: [Attribute(name: "pads", value: .ints([1, 1, 1, 1]))]),
                Node(opType: "BatchNormalization", inputs: ["c1", "gamma", "beta", "mean", "var"], outputs: ["n1"], name: "bn1"),
                Node(opType: "Relu", inputs: ["n1"], outputs: ["y"], name: "relu1"),
                Node(opType: "Conv", inputs: ["x", "w2"], outputs: ["c2"], name: "conv2"),
                Node(opType: "Relu", inputs: ["c2"], outputs: ["r2"], name: "relu2"),
            ],
            inputs: [.tensor("x", .float32, [.param("n"), .value(3), .value(9), .value(11)])],
            outputs: [.tensor("y", .float32, nil), .tensor("c2", .float32, nil), .tensor("r2", .float32, nil)],
            initializers: [
                GraphTensor(name: "w1", tensor: Tensor(shape: [8, 3, 3, 3], scalars: values(216, 1))),
                GraphTensor(name: "b1", tensor: Tensor(shape: [8], scalars: values(8, 2))),
                GraphTensor(name: "gamma", tensor: Tensor(shape: [8], scalars: values(8, 3).map { 1 + $0 })),
                GraphTensor(name: "beta", tensor: Tensor(shape: [8], scalars: values(8, 4))),
                GraphTensor(name: "mean", tensor: Tensor(shape: [8], scalars: values(8, 5))),
                GraphTensor(name: "var", tensor: Tensor(shape: [8], scalars: values(8, 6).map { 1 + abs($0) })),
                GraphTensor(name: "w2", tensor: Tensor(shape: [5, 3, 1, 1], scalars: values(15, 7))),
            ])
        return Model(graph: graph, opsetImports: [OpsetImport(domain: "", version: 13)])
    }

    @Test func fusedSessionComputesTheGraphOutputs() throws {
        let model = Self.model()
        let fused = try Session(model: model, options: .init(fuse: true))
        #expect(fused.model.graph.nodes.map(\.opType) == ["Conv", "Conv", "Relu"], "BN and the first Relu fused; c2 is a graph output")
        #expect(fused.model.graph.nodes[0].outputs == ["y"])
        let plain = try Session(model: model)
        let x = Tensor(shape: [2, 3, 9, 11], scalars: TestModels.randomFloats(594, seed: 8, scale: 2))
        let want = try plain.run(["x": x])
        let got = try fused.run(["x": x])
        for name in ["y", "c2", "r2"] {
            let a = try #require(want[name]).scalars(as: Float.self)
            let b = try #require(got[name]).scalars(as: Float.self)
            #expect(a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= 1e-5 * Swift.max(1, abs($0)) }, "\(name)")
        }
        #expect(try #require(got["y"]).scalars(as: Float.self).allSatisfy { $0 >= 0 })
    }
}
