import Foundation
import Testing
import _OctetTestSupport
import OctetGraph
@testable import OctetRuntime

/// Preparation rewrites keep the FP32 function: the engine's outputs before and after agree.
struct PreparationTests {
    /// x → Conv (weights in a Constant node) → BatchNormalization (parameters in Constant nodes)
    /// → Relu → Conv (initializer weights, no bias) → BatchNormalization → y; opset 11.
    static func convBatchNorm() -> Model {
        func values(_ count: Int, _ seed: UInt64, scale: Float = 0.5) -> [Float] { TestModels.randomFloats(count, seed: seed, scale: scale) }
        func constant(_ name: String, _ tensor: Tensor) -> Node {
            Node(opType: "Constant", inputs: [], outputs: [name], name: "const_" + name,
                 attributes: [Attribute(name: "value", value: .tensor(GraphTensor(name: name, tensor: tensor)))])
        }
        func batchNorm(_ input: String, _ output: String, _ seed: UInt64, channels: Int) -> [Node] {
            let gamma = values(channels, seed).map { 1 + $0 }, variance = values(channels, seed + 1).map { 0.5 + abs($0) }
            return [
                constant(output + ".gamma", Tensor(shape: [channels], scalars: gamma)),
                constant(output + ".beta", Tensor(shape: [channels], scalars: values(channels, seed + 2))),
                constant(output + ".mean", Tensor(shape: [channels], scalars: values(channels, seed + 3))),
                constant(output + ".var", Tensor(shape: [channels], scalars: variance)),
                Node(opType: "BatchNormalization", inputs: [input] + [".gamma", ".beta", ".mean", ".var"].map { output + $0 },
                     outputs: [output], name: output, attributes: [Attribute(name: "epsilon", value: .float(1e-3))]),
            ]
        }
        let pads = Attribute(name: "pads", value: .ints([1, 1, 1, 1]))
        let nodes = [constant("w1", Tensor(shape: [4, 2, 3, 3], scalars: values(72, 1)))]
            + [Node(opType: "Conv", inputs: ["x", "w1", "b1"], outputs: ["c1"], name: "conv1", attributes: [pads])]
            + batchNorm("c1", "bn1", 10, channels: 4)
            + [Node(opType: "Relu", inputs: ["bn1"], outputs: ["r1"], name: "relu")]
            + [Node(opType: "Conv", inputs: ["r1", "w2"], outputs: ["c2"], name: "conv2")]
            + batchNorm("c2", "y", 20, channels: 3)
        let graph = Graph(
            name: "conv_bn", nodes: nodes,
            inputs: [.tensor("x", .float32, [.param("n"), .value(2), .value(5), .value(5)])],
            outputs: [.tensor("y", .float32, nil)],
            initializers: [GraphTensor(name: "b1", tensor: Tensor(shape: [4], scalars: values(4, 3))),
                           GraphTensor(name: "w2", tensor: Tensor(shape: [3, 4, 1, 1], scalars: values(12, 4)))])
        return Model(graph: graph, opsetImports: [OpsetImport(domain: "", version: 11)])
    }

    static func outputs(_ model: Model, _ x: Tensor) throws -> [Float] {
        try #require(try Session(model: model).run(["x": x])["y"]).scalars(as: Float.self)
    }

    @Test func constantsBecomeInitializersAndBatchNormFoldsIntoConv() throws {
        let model = Self.convBatchNorm()
        let x = Tensor(shape: [2, 2, 5, 5], scalars: TestModels.randomFloats(100, seed: 9, scale: 2))
        let before = try Self.outputs(model, x)
        var editor = GraphEditor(model.graph)
        #expect(ConstantsToInitializers.apply(&editor) == 9)
        #expect(FoldBatchNormalization.apply(&editor) == ["'bn1' (BatchNormalization)", "'y' (BatchNormalization)"])
        var prepared = model
        prepared.graph = editor.graph
        #expect(prepared.graph.nodes.map(\.opType) == ["Conv", "Relu", "Conv"])
        #expect(prepared.graph.nodes.last?.outputs == ["y"] && prepared.graph.nodes.last?.inputs.count == 3)
        #expect(Set(prepared.graph.initializers.map(\.name)) == ["w1_bn_folded", "b1_bn_folded", "w2_bn_folded", "c2_bias_bn_folded"])
        let after = try Self.outputs(prepared, x)
        let scale = before.map(abs).max() ?? 1
        #expect(zip(before, after).allSatisfy { abs($0 - $1) <= 1e-5 * scale })
    }

    @Test func batchNormAfterASharedConvOutputStays() throws {
        var model = Self.convBatchNorm()
        // c1 is also a graph output: folding would change it.
        model.graph.outputs.append(.tensor("c1", .float32, nil))
        var editor = GraphEditor(model.graph)
        ConstantsToInitializers.apply(&editor)
        #expect(FoldBatchNormalization.apply(&editor) == ["'y' (BatchNormalization)"])
        #expect(editor.graph.nodes.filter { $0.opType == "BatchNormalization" }.map(\.name) == ["bn1"])
    }

    @Test func editorIndexesAndNames() {
        var editor = GraphEditor(TestModels.linearRelu().graph)
        #expect(editor.producer(of: "xw") == 0 && editor.consumers(of: "xw") == [1] && editor.producer(of: "x") == nil)
        #expect(editor.uniqueName("xw") == "xw_1" && editor.uniqueName("xw") == "xw_2" && editor.uniqueName("fresh") == "fresh")
        editor.insert([Node(opType: "Identity", inputs: ["xw"], outputs: ["xw_copy"], name: "copy")], at: 1)
        editor.replaceUses(of: "xw", with: "xw_copy", skipping: [1])
        #expect(editor.graph.nodes[1].inputs == ["xw"])
        #expect(editor.graph.nodes[2].inputs == ["xw_copy", "b"])
        #expect(editor.uniqueName("copy") == "copy_1")
    }

    /// Opset 11: Split, Squeeze, Unsqueeze and ReduceSum with attributes; Softmax on a middle axis
    /// (flattening semantics) and LogSoftmax on the last.
    static func opset11Layers() -> Model {
        let ints = { (name: String, values: [Int64]) in Attribute(name: name, value: .ints(values)) }
        let graph = Graph(
            name: "opset11",
            nodes: [
                Node(opType: "Split", inputs: ["x"], outputs: ["a", "b"], name: "split", attributes: [Attribute(name: "axis", value: .int(2)), ints("split", [2, 4])]),
                Node(opType: "Unsqueeze", inputs: ["a"], outputs: ["a4"], name: "unsqueeze", attributes: [ints("axes", [0])]),
                Node(opType: "Squeeze", inputs: ["a4"], outputs: ["a3"], name: "squeeze", attributes: [ints("axes", [0])]),
                Node(opType: "ReduceSum", inputs: ["b"], outputs: ["sum"], name: "reduce", attributes: [ints("axes", [2]), Attribute(name: "keepdims", value: .int(1))]),
                Node(opType: "Softmax", inputs: ["a3"], outputs: ["soft"], name: "softmax", attributes: [Attribute(name: "axis", value: .int(1))]),
                Node(opType: "LogSoftmax", inputs: ["b"], outputs: ["logsoft"], name: "logsoftmax", attributes: [Attribute(name: "axis", value: .int(2))]),
            ],
            inputs: [.tensor("x", .float32, [.value(2), .value(3), .value(6)])],
            outputs: [.tensor("soft", .float32, nil), .tensor("sum", .float32, nil), .tensor("logsoft", .float32, nil)],
            valueInfo: [.tensor("a3", .float32, [.value(2), .value(3), .value(2)]), .tensor("b", .float32, [.value(2), .value(3), .value(4)])])
        return Model(graph: graph, opsetImports: [OpsetImport(domain: "", version: 11)])
    }

    @Test func opsetUpgradeMovesAttributesToInputsAndKeepsSoftmaxSemantics() throws {
        let model = Self.opset11Layers()
        let upgraded = try OpsetUpgrade.upgrade(model)
        #expect(upgraded.opsetVersion(for: "") == 13)
        #expect(upgraded.graph.nodes.map(\.opType) == ["Split", "Unsqueeze", "Squeeze", "ReduceSum", "Flatten", "Shape", "Softmax", "Reshape", "LogSoftmax"])
        #expect(upgraded.graph.nodes.allSatisfy { node in !node.attributes.contains { ["split", "axes"].contains($0.name) } })
        #expect(upgraded.graph.initializers.map(\.name) == ["split_split", "unsqueeze_axes", "squeeze_axes", "reduce_axes"])
        let x = Tensor(shape: [2, 3, 6], scalars: TestModels.randomFloats(36, seed: 5, scale: 3))
        let before = try Session(model: model).run(["x": x])
        let after = try Session(model: upgraded).run(["x": x])
        for name in ["soft", "sum", "logsoft"] {
            let a = try #require(before[name]).scalars(as: Float.self), b = try #require(after[name]).scalars(as: Float.self)
            #expect(after[name]?.shape == before[name]?.shape)
            #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($0)) }, "\(name)")
        }
        #expect(throws: OpsetUpgrade.UpgradeError.tooOld(version: 9)) {
            var old = model
            old.opsetImports = [OpsetImport(domain: "", version: 9)]
            _ = try OpsetUpgrade.upgrade(old)
        }
    }
}
