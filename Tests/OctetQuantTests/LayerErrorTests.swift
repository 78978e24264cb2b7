import Foundation
import Testing
import _OctetTestSupport
import OctetData
import OctetGraph
import OctetRuntime
@testable import OctetQuant

/// `octet compare`'s per-node analysis: on a Q/DQ model where one node's input range is made
/// 50× too narrow by construction (heavy clipping), that node ranks as the most damaged, nodes
/// before it are untouched by the damage, and the output shows it.
struct LayerErrorTests {
    @Test func theNodeWithTheClippedRangeRanksFirst() throws {
        let model = TestModels.maskedCNN()
        var ranges = try QDQPlacementTests.calibratedRanges(model)
        var flat = try #require(ranges["flat"])
        flat.amax /= 50
        flat.scale = Float(flat.amax / 127)
        ranges["flat"] = flat
        let placement = Placement.place(in: model.graph, ranges: ranges)
        var editor = GraphEditor(model.graph)
        try QDQRewriter.apply(&editor, placement: placement, ranges: ranges)
        var quantized = model
        quantized.graph = editor.graph

        let folder = try TemporaryFolder()
        let values = TestModels.randomFloats(8 * 72, seed: 21, scale: 2)
        try NPZArchive.write([("x", Tensor(shape: [8, 2, 6, 6], scalars: values))], to: folder.file("eval.npz"))
        let analyzer = try LayerErrorAnalyzer(reference: model, quantized: quantized)
        let comparison = try analyzer.compare(try CalibrationData(paths: [folder.file("eval.npz").path]), model: model)

        #expect(comparison.samples == 8)
        #expect(comparison.nodes.map(\.opType).sorted() == ["Add", "Conv", "Conv", "Gemm"])
        let worst = try #require(comparison.nodes.first)
        #expect(worst.node == "fc" && worst.output == "logits")
        let others = comparison.nodes.dropFirst()
        #expect(others.allSatisfy { $0.sqnr > worst.sqnr + 10 }, "the clipped node stands out by more than 10 dB")
        // Per sample [1, 2, 6, 6]: conv 4·6·6 outputs × 2·3·3, skip 4·6·6 × 2, fc 3 × 4; all in INT8.
        let macs = try #require(comparison.macs)
        #expect(macs.nodes.map(\.macs) == [2592, 288, 12] && macs.int8 == 2892 && macs.int8Fraction == 1)
        #expect(comparison.outputs.map(\.name) == model.graph.outputs.map(\.name))
        let scores = try #require(comparison.outputs.first)
        #expect(scores.sqnr < others.map(\.sqnr).min() ?? 0, "the damage reaches the output")
        #expect(comparison.nodes.map(\.sqnr) == comparison.nodes.map(\.sqnr).sorted())
    }

    /// Multiply-accumulates in closed form: grouped Conv, ConvTranspose, Gemm with transA,
    /// batched MatMul; only nodes reading a DequantizeLinear count as INT8.
    @Test func multiplyAccumulatesInClosedForm() {
        let graph = Graph(nodes: [
            Node(opType: "DequantizeLinear", inputs: ["xq", "s"], outputs: ["x"]),
            Node(opType: "Conv", inputs: ["x", "w"], outputs: ["c"], name: "grouped"),
            Node(opType: "ConvTranspose", inputs: ["c", "wt"], outputs: ["up"], name: "up"),
            Node(opType: "Gemm", inputs: ["a", "b"], outputs: ["g"], name: "gemm", attributes: [Attribute(name: "transA", value: .int(1))]),
            Node(opType: "MatMul", inputs: ["q", "k"], outputs: ["scores"]),
        ], initializers: [
            GraphTensor(name: "w", tensor: Tensor(shape: [8, 2, 3, 3], scalars: [Float](repeating: 0, count: 144))),
            GraphTensor(name: "wt", tensor: Tensor(shape: [8, 3, 2, 2], scalars: [Float](repeating: 0, count: 96))),
        ])
        let shapes: [String: [Int]] = ["x": [1, 4, 10, 10], "c": [1, 8, 8, 8], "up": [1, 3, 16, 16], "a": [64, 5], "b": [64, 7],
                                       "g": [5, 7], "q": [2, 12, 128, 32], "k": [2, 12, 32, 128], "scores": [2, 12, 128, 128]]
        let count = MACCount(graph: graph, shapes: shapes)
        #expect(count.nodes.map(\.node) == ["grouped", "up", "gemm", "unnamed MatMul node #4 producing 'scores'"])
        // 512 outputs × (4/2)·9; 512 inputs × 3·4; 35 × 64; 2·12·128·128 × 32.
        #expect(count.nodes.map(\.macs) == [9216, 6144, 2240, 12_582_912])
        #expect(count.nodes.map(\.int8) == [true, false, false, false])
        #expect(count.total == 12_600_512 && count.int8 == 9216)
    }
}
