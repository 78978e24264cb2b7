import Foundation
import Testing
import _OctetTestSupport
import OctetData
import OctetGraph
import OctetRuntime
@testable import OctetQuant

/// Q/DQ placement by TensorRT's rules and the rewrite that inserts the pairs; the Q/DQ model
/// runs on the engine and stays close to FP32.
struct QDQPlacementTests {
    static func calibratedRanges(_ model: Model, samples: Int = 16) throws -> [String: TensorRange] {
        let folder = try TemporaryFolder()
        let values = TestModels.randomFloats(samples * 72, seed: 11, scale: 2)
        try NPZArchive.write([("x", Tensor(shape: [samples, 2, 6, 6], scalars: values))], to: folder.file("d.npz"))
        let statistics = try Calibrator(model: model, modelHash: "test").calibrate(try CalibrationData(paths: [folder.file("d.npz").path])).statistics
        return Dictionary(try statistics.ranges(.minmax).map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    @Test func tensorRTPlacementOnAResidualCNN() throws {
        let model = TestModels.maskedCNN()
        let ranges = try Self.calibratedRanges(model)
        let placement = Placement.place(in: model.graph, ranges: ranges)
        #expect(placement.decisions.map(\.node) == ["'conv' (Conv)", "'skip' (Conv)", "'residual' (Add)", "'fc' (Gemm)"])
        #expect(placement.decisions.allSatisfy { $0.skipped == nil })
        #expect(placement.marks.map(\.value) == ["x", "conv.w", "x", "skip.w", "relu", "flat", "fc.w"])
        #expect(placement.marks.map(\.axis) == [nil, 0, nil, 0, nil, nil, 0])

        var editor = GraphEditor(model.graph)
        let replaced = try QDQRewriter.apply(&editor, placement: placement, ranges: ranges)
        #expect(replaced["x"]?.count == 2, "one Q/DQ pair per consumer")
        var quantized = model
        quantized.graph = editor.graph
        #expect(quantized.graph.nodes.filter { $0.opType == "QuantizeLinear" }.count == 7)
        #expect(quantized.graph.validate(model: quantized).isEmpty)
        let weightScale = try #require(quantized.graph.initializers.first { $0.name == "conv.w_scale" }?.tensor)
        #expect(weightScale.shape == [4])
        let zero = try #require(quantized.graph.initializers.first { $0.name == "x_zero_point" }?.tensor)
        #expect(zero.dtype == .int8 && zero.shape == [])

        let x = Tensor(shape: [4, 2, 6, 6], scalars: TestModels.randomFloats(288, seed: 12, scale: 2))
        let reference = try #require(try Session(model: model).run(["x": x], outputs: ["logits"])["logits"]).scalars(as: Float.self)
        let int8 = try #require(try Session(model: quantized).run(["x": x], outputs: ["logits"])["logits"]).scalars(as: Float.self)
        let signal = reference.reduce(0) { $0 + Double($1 * $1) }
        let noise = zip(reference, int8).reduce(0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }
        #expect(10 * log10(signal / max(noise, 1e-30)) > 25, "SQNR of the INT8 logits")
    }

    @Test func skippedCandidatesSayWhy() throws {
        let model = TestModels.maskedCNN()
        var ranges = try Self.calibratedRanges(model)
        ranges["flat"]?.nonFinite = 3
        let placement = Placement.place(in: model.graph, ranges: ranges, policy: PlacementPolicy(excludedNodes: ["sk.*"]))
        #expect(placement.decisions.first { $0.node == "'skip' (Conv)" }?.skipped == "excluded by --exclude-nodes")
        #expect(placement.decisions.first { $0.node == "'fc' (Gemm)" }?.skipped == "'flat' held NaN/inf values during calibration")
        #expect(!placement.decisions.contains { $0.opType == "Add" }, "no residual Q/DQ without a quantized Conv on the other input")
        let small = Placement.place(in: TestModels.linearRelu().graph, ranges: ["x": try #require(ranges["x"])])
        #expect(small.decisions.first?.skipped == "MatMul is 4×3: K or N below 16 (GEMV-shaped or tiny)")
    }

    @Test func int8WeightsRoundHalfToEvenPerChannel() {
        let weight = Tensor(shape: [2, 2], scalars: [Float(0.5), -1, 2, 1])
        let scales = [Int8Quantization.scale(amax: 1), Int8Quantization.scale(amax: 2)]
        let codes = QDQRewriter.quantizePerChannel(weight, scales: scales, axis: 0).scalars(as: Int8.self)
        // 0.5 · 127 = 63.5 → 64 (half to even); −1 → −127; 2 → 127; 1 / (2/127) = 63.5 → 64.
        #expect(codes == [64, -127, 127, 64])
        let columns = QDQRewriter.quantizePerChannel(weight, scales: scales, axis: 1).scalars(as: Int8.self)
        #expect(columns == [64, -64, 127, 64])
    }
}
