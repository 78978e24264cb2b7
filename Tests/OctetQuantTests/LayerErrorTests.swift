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
        #expect(comparison.outputs.map(\.name) == model.graph.outputs.map(\.name))
        let scores = try #require(comparison.outputs.first)
        #expect(scores.sqnr < others.map(\.sqnr).min() ?? 0, "the damage reaches the output")
        #expect(comparison.nodes.map(\.sqnr) == comparison.nodes.map(\.sqnr).sorted())
    }
}
